#!/usr/bin/env bash
# Starts or stops a throwaway ClickHouse server for the interop tests:
# Debian's `clickhouse-server`, bound to 127.0.0.1 only, all its data in a temp directory,
# run as the package's `clickhouse` user when started by root.
#
#   scripts/clickhouse.sh start DIR   # prints CLICKHOUSE_URL=http://127.0.0.1:PORT once it answers
#   scripts/clickhouse.sh stop DIR    # stops it; DIR can then be removed
set -euo pipefail

command=${1:?usage: scripts/clickhouse.sh start|stop DIR}
dir=${2:?usage: scripts/clickhouse.sh start|stop DIR}

# A port below Linux's ephemeral range (32768+, where outgoing connections get theirs) that
# nothing on 127.0.0.1 accepts connections on, and not `$1`.
free_port() {
    while :; do
        port=$((10000 + RANDOM % 22000))
        if [ "$port" != "${1:-}" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

stop_server() {
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
}

write_config() {
    cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/error.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>32</max_concurrent_queries>
</yandex>
XML
    cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
XML
}

case $command in
start)
    command -v curl > /dev/null || { echo "curl is not installed: apt-get install -y curl" >&2; exit 1; }
    server=$(command -v clickhouse-server || true)
    [ -n "$server" ] || server=/usr/sbin/clickhouse-server
    if [ ! -x "$server" ]; then
        echo "clickhouse-server is not installed: apt-get install -y clickhouse-server" >&2
        exit 1
    fi
    mkdir -p "$dir"/{data,tmp,user_files,log}
    dir=$(cd "$dir" && pwd)
    run_as=()
    if [ "$(id -u)" -eq 0 ] && id clickhouse > /dev/null 2>&1 && command -v runuser > /dev/null; then
        chown -R clickhouse: "$dir"
        run_as=(runuser -u clickhouse --)
    fi
    # A port taken between the probe and the bind makes the server exit: try other ports.
    for attempt in 1 2 3 4 5; do
        http_port=$(free_port)
        tcp_port=$(free_port "$http_port")
        write_config
        "${run_as[@]}" "$server" --config-file="$dir/config.xml" > "$dir/log/stdout.log" 2>&1 &
        echo $! > "$dir/pid"
        for _ in $(seq 1 300); do
            if [ "$(curl -sf --max-time 1 "http://127.0.0.1:$http_port/ping" 2>/dev/null)" = "Ok." ]; then
                echo "CLICKHOUSE_URL=http://127.0.0.1:$http_port"
                exit 0
            fi
            kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
            sleep 0.1
        done
        echo "clickhouse-server did not come up on 127.0.0.1:$http_port (attempt $attempt); its logs:" >&2
        tail -n 20 "$dir"/log/*.log >&2 || true
        stop_server
    done
    exit 1
    ;;
stop)
    stop_server
    ;;
*)
    echo "usage: scripts/clickhouse.sh start|stop DIR" >&2
    exit 2
    ;;
esac
