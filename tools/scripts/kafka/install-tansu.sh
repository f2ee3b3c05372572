#!/usr/bin/env bash
# Prints the path of a Tansu broker binary built with the dynostore and libsql (sqlite) storage engines,
# installing it first if absent:  cargo install --locked tansu --features dynostore,libsql  into
# $CARGO_HOME/bin (~/.cargo/bin). A cold install takes ~23 minutes on 2 cores; afterwards it is cached.
#
#   install-tansu.sh           find or install, print the path
#   install-tansu.sh --check   find only; exit 1 (printing nothing) if absent
#
# Environment: TANSU_BIN (use this binary), TANSU_VERSION (default 0.6.0), CARGO_HOME.
# Concurrent callers are serialised with a lock file, so only one install ever runs.
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1

usable() { # a tansu binary that has the sqlite (libsql) storage engine
    [[ -x "$1" ]] && "$1" --help 2>/dev/null | grep -q 'Storage engines:.*libsql'
}

find_tansu() {
    local c
    for c in "${TANSU_BIN:-}" "$CARGO_HOME/bin/tansu" "$(command -v tansu 2>/dev/null || true)"; do
        if [[ -n "$c" ]] && usable "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if find_tansu; then exit 0; fi
if [[ $check_only == 1 ]]; then exit 1; fi

command -v cargo >/dev/null || { echo "install-tansu: cargo not found" >&2; exit 2; }
mkdir -p "$CARGO_HOME"
exec 9>"$CARGO_HOME/.tickwatch-tansu-install.lock"
echo "install-tansu: waiting for the install lock ($CARGO_HOME/.tickwatch-tansu-install.lock)" >&2
flock 9
if find_tansu; then exit 0; fi   # installed by another caller meanwhile

start=$(date +%s)
echo "install-tansu: cargo install --locked tansu@$TANSU_VERSION --features dynostore,libsql (about 23 min on 2 cores)" >&2
# The build needs a C compiler (libsql bundles sqlite); its output goes to stderr.
cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore,libsql --root "$CARGO_HOME" >&2
echo "install-tansu: installed in $(( $(date +%s) - start )) s" >&2
find_tansu || { echo "install-tansu: installed binary not usable" >&2; exit 2; }
