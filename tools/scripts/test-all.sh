#!/usr/bin/env bash
# Runs every tickwatch test on a fresh machine: installs what the tests need (Tansu Kafka-protocol broker, the
# Python confluent-kafka client used as an independent consumer), builds the workspace and runs all test suites.
#
#   tools/scripts/test-all.sh
#
# Environment:
#   TICKWATCH_DATA   real captures (default ../shared/data beside the checkout)
#   CI=true          tests whose data or broker is missing fail instead of skipping
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

log() { printf '[test-all %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# 1. The broker install is long (~23 min cold on 2 cores) and independent of our build: start it first, in the
#    background, and wait for it only before the tests that need it.
install_log="$root/target/tansu-install.log"
mkdir -p "$root/target"
( set -e
  tools/scripts/kafka/install-tansu.sh
  tools/scripts/kafka/python-env.sh
) >"$install_log" 2>&1 &
install_pid=$!

# 2. Build everything the tests use (test profile), including the tickwatch binary.
log "building workspace (tests and binaries)"
cargo fmt --all --check || log "warning: cargo fmt --check reports unformatted code"
cargo test --workspace --all-targets --no-run   # benches and examples must build too

log "waiting for broker/client install (log: $install_log)"
if ! wait "$install_pid"; then
    log "broker/client install failed:"; tail -20 "$install_log" >&2
fi
tail -3 "$install_log" >&2 || true

# 3. Every test suite of every crate.
log "running cargo test --workspace"
start=$(date +%s)
cargo test --workspace --no-fail-fast -- --test-threads=2
log "all tests passed ($(( $(date +%s) - start )) s)"
