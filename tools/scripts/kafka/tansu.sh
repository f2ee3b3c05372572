#!/usr/bin/env bash
# Runs a Tansu broker on a loopback port with sqlite storage (survives restarts) for tests and demos.
#
#   tansu.sh start  DIR PORT              start (DIR holds tansu.db, broker.log, tansu.pid); waits until ready
#   tansu.sh stop   DIR                   SIGTERM, then SIGKILL after 10 s; keeps the data
#   tansu.sh topics PORT PARTITIONS NAME...  create topics (existing ones are left as they are)
#   tansu.sh status DIR                   exit 0 if running
#
# The binary comes from install-tansu.sh (installed on first use). Listens on 127.0.0.1 only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

die() { echo "tansu.sh: $*" >&2; exit 2; }
running() { [[ -f "$1/tansu.pid" ]] && kill -0 "$(cat "$1/tansu.pid")" 2>/dev/null; }

cmd="${1:-}"; shift || true
case "$cmd" in
start)
    dir="${1:?DIR}"; port="${2:?PORT}"
    tansu="$("$here/install-tansu.sh")" || die "no tansu binary"
    mkdir -p "$dir"
    running "$dir" && die "already running in $dir (pid $(cat "$dir/tansu.pid"))"
    # Something else (another broker) on the port would answer the readiness probe below in its place.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "127.0.0.1:$port is already in use (another broker?); pick another port"
    fi
    (
        cd "$dir"
        # sqlite:// URLs are relative to the working directory.
        exec "$tansu" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine "sqlite://tansu.db" >>broker.log 2>&1
    ) &
    echo $! >"$dir/tansu.pid"
    for _ in $(seq 1 300); do
        if ! running "$dir"; then tail -20 "$dir/broker.log" >&2; die "broker exited during start"; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            running "$dir" || { tail -20 "$dir/broker.log" >&2; die "broker exited during start"; }
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.1
    done
    tail -20 "$dir/broker.log" >&2
    die "broker not listening on 127.0.0.1:$port after 30 s"
    ;;
stop)
    dir="${1:?DIR}"
    running "$dir" || exit 0
    pid="$(cat "$dir/tansu.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/tansu.pid"; exit 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid"
    ;;
topics)
    port="${1:?PORT}"; partitions="${2:?PARTITIONS}"; shift 2
    tansu="$("$here/install-tansu.sh")" || die "no tansu binary"
    existing="$("$tansu" topic list --broker "tcp://127.0.0.1:$port" 2>/dev/null || true)"
    for name in "$@"; do
        if grep -q "\"name\":\"$name\"" <<<"$existing"; then continue; fi
        "$tansu" topic create "$name" --partitions "$partitions" --broker "tcp://127.0.0.1:$port" >/dev/null \
            || die "creating topic $name failed"
    done
    ;;
status)
    running "${1:?DIR}"
    ;;
*)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
