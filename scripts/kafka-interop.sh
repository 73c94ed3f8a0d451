#!/usr/bin/env bash
# The Kafka interop test: starts a throwaway tansu broker (scripts/kafka.sh: installed from
# crates.io on first use, 127.0.0.1 only, messages in memory), creates a topic of three
# partitions, runs the ignored round-trip test of 100,000 events against it, and stops the
# broker again, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d -t event-kafka.XXXXXX)
cleanup() {
    scripts/kafka.sh stop "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT

started=$(scripts/kafka.sh start "$dir")
export "$started"
export KAFKA_TOPIC=events-interop
scripts/kafka.sh create-topic "$KAFKA_TOPIC" "$KAFKA_BOOTSTRAP" 3
echo "tansu at $KAFKA_BOOTSTRAP, topic $KAFKA_TOPIC"
cargo test -p event-sinks --features kafka --test kafka -- --ignored --nocapture
