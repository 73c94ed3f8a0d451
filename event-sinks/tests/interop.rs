//! Interop with a real ClickHouse server: 100,000 events through `HttpSink`
//! with the `ClickHouse` format and gzip land as 100,000 rows with 100,000 distinct event ids,
//! in the table the README's `CREATE TABLE` makes; `#[event(error)]` fields are stored as JSON
//! inside `metadata`, read back with ClickHouse's JSON functions.
//!
//! Needs a server: `scripts/interop.sh` starts one (Debian's `clickhouse-server`, bound to
//! 127.0.0.1, data in a temp dir) and runs this with `--ignored`; `.ci/run` calls that script.

mod support;

use std::time::Duration;

use event_core::{emit, Event, EventLayer, Overflow, SinkOptions};
use event_sinks::{HttpFormat, HttpSink};
use support::ImportError;
use tracing_subscriber::prelude::*;

const EVENTS: u64 = 100_000;

/// An order was shipped.
#[derive(Event)]
#[event(kind = "business", version = 1)]
struct OrderShipped {
    /// Its number, in emission order.
    n: u64,
    /// Where to.
    country: String,
    /// Never to be stored.
    #[event(redact)]
    address: String,
}

fn server() -> String {
    std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL is not set: run scripts/interop.sh, which starts a ClickHouse server and \
         runs this test against it",
    )
}

/// Runs one statement over ClickHouse's HTTP interface and returns its answer.
fn query(client: &reqwest::blocking::Client, sql: &str) -> String {
    let response = client
        .post(server())
        .body(sql.to_owned())
        .send()
        .unwrap_or_else(|err| panic!("ClickHouse at {} is not answering: {err}", server()));
    let status = response.status();
    let text = response.text().unwrap();
    assert!(status.is_success(), "{sql}\n→ {status}: {text}");
    text
}

/// The `CREATE TABLE` the README shows, so what users copy is what is tested.
fn readme_create_table() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("CREATE TABLE events")
        .expect("the README shows a CREATE TABLE for ClickHouse");
    let end = start + readme[start..].find("```").expect("inside a code block");
    readme[start..end].trim().trim_end_matches(';').to_owned()
}

#[test]
#[ignore = "needs a ClickHouse server; scripts/interop.sh starts one and runs this"]
fn clickhouse_stores_every_event_once() {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    query(&client, "DROP TABLE IF EXISTS events");
    query(&client, &readme_create_table());

    let sink = HttpSink::builder(server())
        .format(HttpFormat::ClickHouse {
            table: "events".into(),
        })
        .gzip(true)
        .max_events(5_000)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder()
        .service("interop")
        .environment("ci")
        .sink_with(
            sink,
            SinkOptions::new().overflow(Overflow::Block {
                timeout: Duration::from_secs(60),
            }),
        )
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for n in 0..EVENTS {
            emit!(OrderShipped {
                n,
                country: ["DE", "FR", "JP"][n as usize % 3].into(),
                address: "1 Canary Road".into(),
            });
        }
    });
    assert!(guard.flush(Duration::from_secs(120)).is_complete());
    let stats = guard.stats().sink("http").unwrap().clone();
    assert!(stats.is_conserved(), "{stats:?}");
    assert_eq!(
        (stats.delivered, stats.dead_lettered, stats.pending),
        (EVENTS, 0, 0),
        "{stats:?}"
    );

    let counts = query(
        &client,
        "SELECT count(), uniqExact(event_id), sum(visitParamExtractUInt(metadata, 'n')), \
         countIf(event_name = 'order_shipped' AND service = 'interop' AND time > 0) \
         FROM events FORMAT TSV",
    );
    let sum_of_n = EVENTS * (EVENTS - 1) / 2;
    assert_eq!(
        counts.trim(),
        format!("{EVENTS}\t{EVENTS}\t{sum_of_n}\t{EVENTS}"),
        "count(), uniqExact(event_id), the sum of every n, and rows with their columns filled"
    );
    let leaked = query(
        &client,
        "SELECT count() FROM events WHERE positionCaseInsensitive(metadata, 'canary') > 0 FORMAT TSV",
    );
    assert_eq!(leaked.trim(), "0", "a redacted field reached the table");
    println!("ClickHouse rows: {}", counts.trim());
}

/// An import failed.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailed {
    job: u64,
    #[event(error)]
    error: ImportError,
}

#[test]
#[ignore = "needs a ClickHouse server; scripts/interop.sh starts one and runs this"]
fn clickhouse_stores_error_fields_as_json_in_metadata() {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // A table of its own: the other test drops and fills `events` at the same time.
    query(&client, "DROP TABLE IF EXISTS error_events");
    query(
        &client,
        &readme_create_table().replacen("CREATE TABLE events", "CREATE TABLE error_events", 1),
    );
    let sink = HttpSink::builder(server())
        .format(HttpFormat::ClickHouse {
            table: "error_events".into(),
        })
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder()
        .service("interop")
        .sink(sink)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for job in 0..10 {
            emit!(ImportFailed {
                job,
                error: ImportError(std::io::Error::other(format!("line {job}: bad \"quote\""))),
            });
        }
    });
    assert!(guard.flush(Duration::from_secs(60)).is_complete());
    let stats = guard.stats().sink("http").unwrap().clone();
    assert_eq!((stats.delivered, stats.pending), (10, 0), "{stats:?}");

    // ClickHouse 18.16 (Debian's) has the `visitParam` functions for JSON in a String column.
    let rows = query(
        &client,
        "SELECT visitParamExtractUInt(metadata, 'job'), event_type, \
         visitParamExtractString(metadata, 'type'), visitParamExtractRaw(metadata, 'error') \
         FROM error_events ORDER BY 1 FORMAT TSV",
    );
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 10, "{rows:?}");
    for (job, row) in rows.iter().enumerate() {
        let columns: Vec<&str> = row.split('\t').collect();
        assert_eq!(
            columns[..3],
            [
                job.to_string().as_str(),
                "error",
                std::any::type_name::<ImportError>()
            ],
            "{row}"
        );
        // TSV escapes the backslashes of the JSON text.
        let error: serde_json::Value = serde_json::from_str(&columns[3].replace("\\\\", "\\"))
            .unwrap_or_else(|err| panic!("{row}: {err}"));
        assert_eq!(
            error,
            serde_json::json!({
                "type": std::any::type_name::<ImportError>(),
                "message": "import of contacts.csv failed",
                "chain": [format!("line {job}: bad \"quote\"")],
            })
        );
    }
    println!("ClickHouse error rows: {} | ...", rows[0]);
}
