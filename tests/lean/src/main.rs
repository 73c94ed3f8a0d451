//! A service that writes its events to stdout and a file, built with
//! `event-sinks = { default-features = false }`.

use std::path::Path;
use std::time::Duration;

use event_core::{emit, BuildError, Event, EventLayer};
use event_sinks::{FileSink, StdoutSink};
use tracing_subscriber::prelude::*;

/// The service started.
#[derive(Event)]
#[event(kind = "system_event")]
struct ServiceStarted {
    port: u16,
}

/// Sets up stdout and `dir/events.ndjson`, emits one event, and shuts down.
fn run(dir: &Path) -> Result<(), BuildError> {
    let (layer, guard) = EventLayer::builder()
        .service("lean-app")
        .sink(StdoutSink::new())
        .sink(FileSink::builder(dir.join("events.ndjson")).build()?)
        .build()?;
    {
        let _subscriber = tracing_subscriber::registry().with(layer).set_default();
        emit!(ServiceStarted { port: 8080 });
    }
    guard.shutdown(Duration::from_secs(5));
    Ok(())
}

fn main() -> Result<(), BuildError> {
    run(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("event-lean-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stdout_and_file_sinks_work_without_optional_features() {
        let dir = scratch("run");
        run(&dir).unwrap();
        let written = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
        assert!(
            written.contains(r#""event_name":"service_started""#),
            "{written}"
        );
        assert!(written.contains(r#""metadata":{"port":8080}"#), "{written}");
    }

    #[test]
    fn gzip_without_its_feature_is_a_build_error_naming_it() {
        let dir = scratch("gzip");
        let err = FileSink::builder(dir.join("events.ndjson"))
            .gzip(true)
            .build()
            .err()
            .expect("gzip(true) without the `gzip` feature must not build");
        assert_eq!(err.setting(), "FileSink gzip");
        assert!(err.to_string().contains("`gzip` feature"), "{err}");
    }
}
