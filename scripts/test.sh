#!/usr/bin/env bash
# Set-up plus every check CI runs: lint, types, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy optuna_hypera benchmarks examples
.venv/bin/python -m pytest -n 2 --durations=15 "$@"
