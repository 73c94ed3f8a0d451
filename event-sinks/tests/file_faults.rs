//! `FileSink` on a disk that fills up or runs out of inodes (a tiny tmpfs the test mounts,
//! which needs root; skipped with the reason printed elsewhere): the lines on disk always
//! equal what was counted delivered, and writing resumes once there is room.

mod support;

use std::path::Path;
use std::time::Duration;

use event_core::{emit, DropReason, Event, EventGuard, EventLayer, SinkStats};
use event_sinks::FileSink;
use support::tmpfs::Tmpfs;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

/// A job ended.
#[derive(Event)]
#[event(kind = "business")]
struct JobFinished {
    n: u64,
    note: String,
}

/// Emits events `from..from + count` through `dispatch`, then flushes.
fn emit(dispatch: &tracing::Dispatch, guard: &EventGuard, from: u64, count: u64) {
    tracing::dispatcher::with_default(dispatch, || {
        for n in from..from + count {
            emit!(JobFinished {
                n,
                note: "x".repeat(100),
            });
        }
    });
    assert!(guard.flush(FLUSH).is_complete());
}

/// The counted events on disk, in every file of `dir` (the pipeline's own `events_dropped`
/// reports aside); every line must be whole.
fn lines_on_disk(dir: &Path) -> u64 {
    let mut events = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            events += u64::from(event["event_name"] == "job_finished");
        }
    }
    events
}

fn stats(guard: &EventGuard) -> SinkStats {
    guard.stats().sinks[0].clone()
}

fn sink_on(disk: &Tmpfs) -> (tracing::Dispatch, EventGuard) {
    let sink = FileSink::builder(disk.join("events.ndjson"))
        .rotate_size(4 << 10)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

#[test]
fn a_disk_full_in_the_middle_of_rotating_batches_counts_exactly_what_is_on_it() {
    let Some(disk) = Tmpfs::mount(64 << 10) else {
        return;
    };
    let (dispatch, guard) = sink_on(&disk);
    emit(&dispatch, &guard, 0, 2_000);
    let full = stats(&guard);
    assert!(full.dropped(DropReason::SinkError) > 0, "{full:?}");
    assert_eq!(lines_on_disk(disk.path()), full.delivered, "{full:?}");
    assert!(full.is_conserved(), "{full:?}");
    disk.resize(4 << 20);
    emit(&dispatch, &guard, 2_000, 100);
    let resumed = stats(&guard);
    assert_eq!(resumed.delivered, full.delivered + 100, "{resumed:?}");
    assert_eq!(lines_on_disk(disk.path()), resumed.delivered);
}

#[test]
fn a_rotation_that_cannot_create_the_new_file_resumes_once_it_can() {
    // Inodes for the directory, the active file and two rotated ones.
    let Some(disk) = Tmpfs::mount_with(1 << 20, "nr_inodes=4") else {
        return;
    };
    let (dispatch, guard) = sink_on(&disk);
    emit(&dispatch, &guard, 0, 300);
    let stuck = stats(&guard);
    assert!(stuck.dropped(DropReason::SinkError) > 0, "{stuck:?}");
    assert_eq!(lines_on_disk(disk.path()), stuck.delivered, "{stuck:?}");
    disk.remount("nr_inodes=1000");
    emit(&dispatch, &guard, 300, 20);
    let resumed = stats(&guard);
    assert_eq!(resumed.delivered, stuck.delivered + 20, "{resumed:?}");
    assert_eq!(lines_on_disk(disk.path()), resumed.delivered);
    // Written to the active file again, not to the handle of the file renamed away.
    let active = std::fs::read_to_string(disk.join("events.ndjson")).unwrap();
    assert!(!active.is_empty());
}

#[test]
fn compressions_that_failed_on_a_full_disk_are_finished_once_there_is_room() {
    let Some(disk) = Tmpfs::mount(48 << 10) else {
        return;
    };
    let sink = FileSink::builder(disk.join("events.ndjson"))
        .rotate_size(4 << 10)
        .gzip(true)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    emit(&dispatch, &guard, 0, 2_000);
    let names = || -> Vec<String> {
        std::fs::read_dir(disk.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let plain_rotated = |names: &[String]| {
        names
            .iter()
            .filter(|n| n.as_str() != "events.ndjson" && n.ends_with(".ndjson"))
            .count()
    };
    let full = names();
    assert!(
        plain_rotated(&full) > 0,
        "some compressions failed: {full:?}"
    );
    disk.resize(4 << 20);
    emit(&dispatch, &guard, 2_000, 10);
    let after = names();
    assert_eq!(plain_rotated(&after), 0, "{after:?}");
    assert!(!after.iter().any(|n| n.ends_with(".gz.tmp")), "{after:?}");
}

#[test]
fn a_read_only_file_system_is_a_build_error_naming_the_path() {
    let Some(disk) = Tmpfs::mount(1 << 20) else {
        return;
    };
    // A file from before, as after a restart; then the disk is read-only (as the kernel makes
    // a file system that reported errors).
    std::fs::write(disk.join("events.ndjson"), "").unwrap();
    disk.remount("ro");
    for path in [disk.join("events.ndjson"), disk.join("new.ndjson")] {
        let Err(err) = FileSink::builder(&path).build() else {
            panic!("built on a read-only file system")
        };
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("Read-only file system"), "{text}");
    }
    disk.remount("rw");
    assert!(FileSink::builder(disk.join("events.ndjson"))
        .build()
        .is_ok());
}
