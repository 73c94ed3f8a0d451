//! `FileSink` end to end, with an injected clock: rotation by size and interval,
//! gzip, retention at startup and while running, no line split or lost, mode 0600.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use event_core::{emit, Event, EventGuard, EventLayer};
use event_sinks::{FileSink, FileSinkBuilder, ManualClock};
use support::*;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

#[derive(Event)]
#[event(kind = "system_event")]
struct ClockTicked {
    seq: u64,
    note: String,
}

fn start() -> SystemTime {
    humantime::parse_rfc3339("2026-11-21T10:30:00Z").unwrap()
}

/// Runs `emit` under a layer with the file sink `builder` builds.
fn with_file_sink(builder: FileSinkBuilder, emit: impl FnOnce()) -> EventGuard {
    let (layer, guard) = EventLayer::builder()
        .sink(builder.build().unwrap())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    guard
}

fn emit_ticks(range: std::ops::Range<u64>) {
    for seq in range {
        emit!(ClockTicked {
            seq,
            note: "x".repeat((seq % 7) as usize * 10),
        });
    }
}

/// Rotated files (oldest first) then the active file.
fn files_in_order(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("events.0")
        })
        .collect();
    rotated.sort();
    rotated.push(dir.join("events.ndjson"));
    rotated
}

fn read_text(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

/// The `seq` of every line of every file, in file order.
fn sequence(dir: &Path) -> Vec<u64> {
    files_in_order(dir)
        .iter()
        .flat_map(|path| {
            read_text(path)
                .lines()
                .map(|line| {
                    let event: serde_json::Value = serde_json::from_str(line).unwrap();
                    event["metadata"]["seq"].as_u64().unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn rotates_by_size_without_splitting_or_losing_lines() {
    let dir = tempfile::tempdir().unwrap();
    let guard = with_file_sink(
        FileSink::builder(dir.path().join("events.ndjson")).rotate_size(2_000),
        || emit_ticks(0..500),
    );
    assert!(guard.flush(FLUSH).is_complete());
    let files = files_in_order(dir.path());
    assert!(files.len() > 10, "{files:?}");
    for path in &files {
        let len = fs::metadata(path).unwrap().len();
        assert!(len <= 2_000, "{} is {len} bytes", path.display());
        assert!(
            read_text(path).ends_with('\n'),
            "{} ends mid-line",
            path.display()
        );
    }
    assert_eq!(sequence(dir.path()), (0..500).collect::<Vec<_>>());
    assert!(guard.stats().sinks[0].is_conserved());
}

#[test]
fn gzipped_rotations_hold_exactly_the_lines_written() {
    let dir = tempfile::tempdir().unwrap();
    let guard = with_file_sink(
        FileSink::builder(dir.path().join("events.ndjson"))
            .rotate_size(4_000)
            .gzip(true),
        || emit_ticks(0..1_000),
    );
    assert!(guard.flush(FLUSH).is_complete());
    let files = files_in_order(dir.path());
    let (active, rotated) = files.split_last().unwrap();
    assert!(rotated.len() > 5);
    assert!(active.ends_with("events.ndjson"));
    for path in rotated {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with(".ndjson.gz"),
            "{name} not compressed by flush"
        );
    }
    assert_eq!(sequence(dir.path()), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn rotates_by_interval_on_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let (layer, guard) = EventLayer::builder()
        .sink(
            FileSink::builder(dir.path().join("events.ndjson"))
                .rotate_every(Duration::from_secs(60))
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || emit_ticks(0..10));
    assert!(guard.flush(FLUSH).is_complete());
    clock.advance(Duration::from_secs(59));
    tracing::dispatcher::with_default(&dispatch, || emit_ticks(10..20));
    assert!(guard.flush(FLUSH).is_complete());
    clock.advance(Duration::from_secs(2));
    tracing::dispatcher::with_default(&dispatch, || emit_ticks(20..30));
    assert!(guard.flush(FLUSH).is_complete());

    let files = files_in_order(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        files[0].file_name().unwrap(),
        "events.00000001.20261121T103101Z.ndjson",
        "named by sequence, then the clock's time at rotation"
    );
    assert_eq!(read_text(&files[0]).lines().count(), 20);
    assert_eq!(read_text(&files[1]).lines().count(), 10);
    assert_eq!(sequence(dir.path()), (0..30).collect::<Vec<_>>());
}

/// Makes a rotated file as a previous run would have left it.
fn fake_rotated(dir: &Path, seq: u64, at: SystemTime) {
    let stamp = humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "");
    fs::write(dir.join(format!("events.{seq:08}.{stamp}.ndjson")), "{}\n").unwrap();
}

#[test]
fn retention_applies_at_startup_by_count_and_age() {
    let dir = tempfile::tempdir().unwrap();
    for seq in 1..=10 {
        fake_rotated(dir.path(), seq, start() + Duration::from_secs(seq * 3_600));
    }
    // Files were rotated hourly from 11:30 to 20:30; it is now 22:30, and files more than 5 h
    // old (rotated before 17:30) go.
    let now = start() + Duration::from_secs(12 * 3_600);
    let sink = FileSink::builder(dir.path().join("events.ndjson"))
        .keep_files(6)
        .keep_for(Duration::from_secs(5 * 3_600))
        .clock(ManualClock::new(now))
        .build()
        .unwrap();
    let kept: Vec<String> = files_in_order(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    // Count keeps 5..=10; age keeps those rotated at or after 7 h: 7..=10.
    assert_eq!(
        kept,
        [
            "events.00000007.20261121T173000Z.ndjson",
            "events.00000008.20261121T183000Z.ndjson",
            "events.00000009.20261121T193000Z.ndjson",
            "events.00000010.20261121T203000Z.ndjson",
            "events.ndjson",
        ]
    );
    drop(sink);
}

#[test]
fn retention_applies_while_running_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    fake_rotated(dir.path(), 41, start());
    let guard = with_file_sink(
        FileSink::builder(dir.path().join("events.ndjson"))
            .rotate_size(1_500)
            .keep_files(3)
            .gzip(true),
        || emit_ticks(0..400),
    );
    assert!(guard.flush(FLUSH).is_complete());
    let files = files_in_order(dir.path());
    assert_eq!(files.len(), 4, "{files:?}");
    let seqs: Vec<u64> = files[..3]
        .iter()
        .map(|p| {
            p.file_name().unwrap().to_str().unwrap()[7..15]
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        seqs[0] > 41 && seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1,
        "{seqs:?}"
    );
    // What is left is the newest events, in order, up to the last one.
    let kept = sequence(dir.path());
    assert_eq!(*kept.last().unwrap(), 399);
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn files_are_private_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let guard = with_file_sink(
        FileSink::builder(dir.path().join("events.ndjson"))
            .rotate_size(1_000)
            .gzip(true),
        || {
            emit!(login_attempt());
            emit!(payment());
            emit!(session_started());
            emit!(export_failed());
        },
    );
    assert!(guard.flush(FLUSH).is_complete());
    let files = files_in_order(dir.path());
    assert!(files.len() >= 2);
    for path in &files {
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let text = read_text(path);
        for canary in canaries() {
            assert!(
                !text.contains(canary),
                "`{canary}` leaked into {}",
                path.display()
            );
        }
    }
}

#[test]
fn an_unusable_path_is_a_build_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("plain-file");
    fs::write(&not_a_dir, "").unwrap();
    let err = FileSink::builder(not_a_dir.join("events.ndjson"))
        .build()
        .err()
        .unwrap();
    assert_eq!(err.setting(), "FileSink path");
    assert!(
        err.to_string().contains("cannot create the directory"),
        "{err}"
    );
}

#[test]
fn a_torn_last_line_is_cut_and_an_existing_file_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    // A previous run crashed mid-line, and the file was created by someone else as 0644.
    fs::write(&path, "{\"metadata\":{\"seq\":0}}\n{\"metadata\":{\"se").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let guard = with_file_sink(FileSink::builder(&path), || emit_ticks(1..3));
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(sequence(dir.path()), [0, 1, 2]);
}

#[test]
fn leftovers_of_an_interrupted_compression_are_finished() {
    let dir = tempfile::tempdir().unwrap();
    // A rotated file whose compression never ran, and a half-written temporary.
    fake_rotated(dir.path(), 1, start());
    let tmp = dir
        .path()
        .join("events.00000001.20261121T103000Z.ndjson.gz.tmp");
    fs::write(&tmp, "half").unwrap();
    // Another sink's temporary beside it is left alone.
    let other = dir
        .path()
        .join("events.00000001.20261121T103000Z.json.gz.tmp");
    fs::write(&other, "theirs").unwrap();
    let guard = with_file_sink(
        FileSink::builder(dir.path().join("events.ndjson")).gzip(true),
        || emit_ticks(0..1),
    );
    assert!(guard.flush(FLUSH).is_complete());
    assert!(!tmp.exists() && other.exists());
    let gz = dir
        .path()
        .join("events.00000001.20261121T103000Z.ndjson.gz");
    assert_eq!(read_text(&gz), "{}\n");
    assert!(!dir
        .path()
        .join("events.00000001.20261121T103000Z.ndjson")
        .exists());
}
