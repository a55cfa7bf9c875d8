#!/usr/bin/env bash
# Install what the tests need, then run the whole test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || exit 1
.venv/bin/python -m pytest -ra "$@"
status=$?
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: treating this as a failure" >&2
  exit 1
fi
exit $status
