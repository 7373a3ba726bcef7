#!/usr/bin/env bash
# README command 1: the whole DAG with a real model (examples/quickstart.yaml) — local Temporal dev
# server, workers, the simulator teacher and a SmolLM2 model server in one process, on the synthetic
# data set. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-installed.sh
if [ $# -eq 0 ]; then set -- --config examples/quickstart.yaml; fi
exec node bin/r4ec.js run "$@"
