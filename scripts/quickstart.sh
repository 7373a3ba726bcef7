#!/usr/bin/env bash
# README command 1: the whole DAG on the embedded default — local Temporal dev server, workers and
# the simulator LLM in one process, on the synthetic data set. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-installed.sh
if [ $# -eq 0 ]; then set -- --config examples/quickstart.yaml; fi
exec node bin/r4ec.js run "$@"
