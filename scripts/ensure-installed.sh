#!/usr/bin/env bash
# Installs what is missing (npm packages, Temporal CLI, Python venv, test encoder); quick when present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@temporalio/worker ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[r4ec] installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
bash scripts/setup.sh >&2
