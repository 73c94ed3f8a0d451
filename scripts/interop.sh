#!/usr/bin/env bash
# Interop tests against real peers: starts a throwaway ClickHouse server
# (scripts/clickhouse.sh: 127.0.0.1 only, data in a temp dir), runs the ignored interop tests
# against it, and stops it again, pass or fail. Needs `clickhouse-server` and `curl`
# (Debian: apt-get install -y clickhouse-server curl). The OTLP decoding tests run in
# `cargo test --workspace` already (event-sinks/tests/otlp.rs decodes with the
# opentelemetry-proto types).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d -t event-interop.XXXXXX)
cleanup() {
    scripts/clickhouse.sh stop "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT

started=$(scripts/clickhouse.sh start "$dir")
export "$started"
echo "ClickHouse $(curl -sf "$CLICKHOUSE_URL/?query=SELECT%20version()") at $CLICKHOUSE_URL"
cargo test -p event-sinks --test interop -- --ignored --nocapture
