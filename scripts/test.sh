#!/usr/bin/env bash
# Set everything up and run the whole test suite with its quality gates:
# ruff (lint + format), mypy --strict, import-linter contracts, then pytest.
# As root the suite runs inside a private network namespace (`unshare -n`, loopback only),
# so no test can send a packet anywhere else. Extra arguments go to pytest.
# With CI=true every interop peer is mandatory: a missing one fails instead of skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system || { echo "test: setup failed" >&2; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"

failed=()
gate() {
    local name=$1; shift
    echo "== $name: $*"
    if ! "$@"; then failed+=("$name"); fi
}
gate ruff-lint ruff check .
gate ruff-format ruff format --check .
gate mypy mypy
gate import-linter lint-imports

echo "== pytest"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec python -m pytest "$@"' pytest "$@"
else
    echo "test: not root or no unshare: running on the host's loopback only" >&2
    python -m pytest "$@"
fi
rc=$?
[ $rc -ne 0 ] && failed+=("pytest(rc=$rc)")

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED gates: ${failed[*]}"
    exit 1
fi
echo "all gates passed"
