//! `FileSink` rotation: by size here (interval works the same way), rotated files gzipped off
//! the write path, and only the newest few kept. Writes under `./events/rotation/`.
//!
//! Run with `cargo run --example file_rotation`.

use std::time::Duration;

use event_core::{emit, Event, EventLayer};
use event_sinks::FileSink;
use tracing_subscriber::prelude::*;

/// A sensor reported a value.
#[derive(Event)]
#[event(kind = "system_event")]
struct SensorRead {
    sensor: String,
    seq: u64,
    celsius: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new("events/rotation");
    let sink = FileSink::builder(dir.join("sensors.ndjson"))
        .rotate_size(64 << 10)
        .rotate_every(Duration::from_secs(3600))
        .gzip(true)
        .keep_files(4)
        .keep_for(Duration::from_secs(7 * 24 * 3600))
        .build()?;
    let (layer, guard) = EventLayer::builder().sink(sink).build()?;
    tracing_subscriber::registry().with(layer).init();

    for seq in 0..5_000 {
        emit!(SensorRead {
            sensor: format!("s-{}", seq % 8),
            seq,
            celsius: 20.0 + (seq % 50) as f64 / 10.0,
        });
    }
    // Flush waits for compression and retention too.
    let report = guard.flush(Duration::from_secs(10));
    println!("flush complete: {}", report.is_complete());

    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files {
        println!(
            "{:>8} bytes  {}",
            std::fs::metadata(&path)?.len(),
            path.display()
        );
    }
    Ok(())
}
