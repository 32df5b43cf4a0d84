#!/usr/bin/env bash
# The main job: set-up, a demo study, then the `quick` benchmark suite and its table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p results
.venv/bin/python examples/quickstart.py --storage sqlite:///results/quickstart.db
.venv/bin/python -m benchmarks run --suite quick --out results/quick --jobs 2
# The table: final loss per task and mean ranks (the whole report is in results/quick/summary.md).
awk '/^## Final loss per task/{p=1} /^## Efficiency/{p=0} p' results/quick/summary.md
