#!/usr/bin/env bash
# Scores the built-in detectors on `tickwatch gen` days: for each seed, gen -> replay (full pipeline) -> eval, then
# one eval over all days (counts summed). This produced the table in detect/README.md.
#
#   detect/scripts/eval_seeds.sh                 # seeds 1..10, 5 M background messages each
#   SEEDS="1 2" MESSAGES=1000000 OUT=/tmp/x detect/scripts/eval_seeds.sh
#
# Needs the release binary (cargo build --release -p tools) or TICKWATCH=path/to/tickwatch.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${TICKWATCH:-${CARGO_TARGET_DIR:-target}/release/tickwatch}
OUT=${OUT:-/tmp/tickwatch-eval}
SEEDS=${SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
MESSAGES=${MESSAGES:-5000000}
mkdir -p "$OUT"
pairs=()
for s in $SEEDS; do
  d="$OUT/seed$s"
  "$BIN" gen --seed "$s" --messages "$MESSAGES" --out "$d.pcap" --labels "$d.labels.jsonl" --decoys-out "$d.decoys.jsonl"
  "$BIN" replay "$d.pcap" --alerts-out "$d.alerts.jsonl" 2> "$d.replay.txt"
  echo "== seed $s: $(head -1 "$d.replay.txt")"
  "$BIN" eval --alerts "$d.alerts.jsonl" --labels "$d.labels.jsonl" --decoys "$d.decoys.jsonl" || true
  pairs+=(--alerts "$d.alerts.jsonl" --labels "$d.labels.jsonl" --decoys "$d.decoys.jsonl")
done
echo "== all seeds ($SEEDS)"
"$BIN" eval "${pairs[@]}" --json-out "$OUT/eval_all.json" --min-precision 0.95 --min-recall 0.95 --no-decoy-hits
