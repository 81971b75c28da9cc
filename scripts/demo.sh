#!/usr/bin/env bash
# Set up pyrtcstack and run the demo. Extra arguments go to `pyrtcstack demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pyrtcstack demo "$@"
