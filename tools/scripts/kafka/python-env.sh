#!/usr/bin/env bash
# Prints the path of a Python interpreter in a virtualenv that has the confluent-kafka package (its wheel
# bundles a current librdkafka) and jsonschema, creating it on first use (cached).
#
# Environment: TICKWATCH_KAFKA_VENV (default ~/.cache/tickwatch/kafka-venv), PYTHON (default python3).
set -euo pipefail
venv="${TICKWATCH_KAFKA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tickwatch/kafka-venv}"
py="${PYTHON:-python3}"

ready() { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import confluent_kafka, jsonschema' 2>/dev/null; }

if ready; then echo "$venv/bin/python"; exit 0; fi
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ready; then echo "$venv/bin/python"; exit 0; fi
start=$(date +%s)
echo "python-env: creating $venv (confluent-kafka, jsonschema)" >&2
rm -rf "$venv"
"$py" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'confluent-kafka>=2.6,<3' 'jsonschema>=4.18,<5' >&2
ready || { echo "python-env: confluent_kafka not importable after install" >&2; exit 2; }
echo "python-env: ready in $(( $(date +%s) - start )) s" >&2
echo "$venv/bin/python"
