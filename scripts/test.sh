#!/usr/bin/env bash
# The test command (README): TypeScript tests on node's test runner, then the Python trainer's tests.
# Args: optional test files or a name filter via TEST_PATTERN. Exit non-zero when any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
bash scripts/ensure-installed.sh
shopt -s globstar nullglob
if [ $# -gt 0 ]; then files=("$@"); else files=(test/**/*.test.ts); fi
ts_files=(); py=0
for f in "${files[@]}"; do case "$f" in *.py|trainer/*) py=1;; *) ts_files+=("$f");; esac; done
[ $# -eq 0 ] && py=1
if [ ${#ts_files[@]} -gt 0 ]; then
  node --import tsx --test --test-concurrency="${R4EC_TEST_CONCURRENCY:-2}" --test-reporter=spec \
    ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} "${ts_files[@]}" || status=1
fi
if [ $py -eq 1 ] && [ -d trainer/tests ]; then
  if [ -x .tools/venv/bin/python ]; then
    .tools/venv/bin/python -m pytest -q trainer/tests; rc=$?
    # pytest's 5 = no tests collected: not a failure of the suite
    [ $rc -ne 0 ] && [ $rc -ne 5 ] && status=1
  else
    echo "trainer tests need the venv: run scripts/setup.sh" >&2; status=1
  fi
fi
exit $status
