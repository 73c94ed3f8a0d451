#!/usr/bin/env bash
# Installs, starts or stops a throwaway Kafka-protocol broker for the interop test: tansu
# (an Apache Kafka compatible broker written in Rust, from crates.io: Apache Kafka's own jars
# come only from Maven Central), bound to 127.0.0.1 only, its messages in memory.
#
#   scripts/kafka.sh install          # builds tansu into target/tools once (about 11 minutes on 2 cores)
#   scripts/kafka.sh start DIR        # prints KAFKA_BOOTSTRAP=127.0.0.1:PORT once it answers
#   scripts/kafka.sh stop DIR         # stops it; DIR can then be removed
set -euo pipefail
cd "$(dirname "$0")/.."

command=${1:?usage: scripts/kafka.sh install|start DIR|stop DIR|create-topic NAME BOOTSTRAP PARTITIONS}
root=$PWD/target/tools
tansu=$root/bin/tansu
version=0.6.0

install() {
    if [ -x "$tansu" ] && "$tansu" --version 2>/dev/null | grep -q "$version"; then
        return
    fi
    # `dynostore` is the storage engine behind `memory://`.
    cargo install --quiet --locked --root "$root" --version "$version" --features dynostore tansu
}

# A port below Linux's ephemeral range that nothing on 127.0.0.1 accepts connections on.
free_port() {
    while :; do
        port=$((10000 + RANDOM % 22000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

case "$command" in
install)
    install
    ;;
start)
    dir=${2:?usage: scripts/kafka.sh start DIR}
    install
    port=$(free_port)
    url=tcp://127.0.0.1:$port
    "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" \
        --storage-engine memory://tansu/ > "$dir/broker.log" 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
            exit 0
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "tansu exited at start:" >&2
            cat "$dir/broker.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "tansu did not listen on $port within 30 s:" >&2
    cat "$dir/broker.log" >&2
    exit 1
    ;;
create-topic)
    "$tansu" topic create --broker "tcp://${3:?}" --partitions "${4:-3}" "${2:?}"
    ;;
stop)
    dir=${2:?usage: scripts/kafka.sh stop DIR}
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    ;;
*)
    echo "usage: scripts/kafka.sh install|start DIR|stop DIR|create-topic NAME BOOTSTRAP PARTITIONS" >&2
    exit 2
    ;;
esac
