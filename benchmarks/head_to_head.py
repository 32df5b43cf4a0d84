"""Two samplers on the same (task, seed) pairs: where the first ends better, worse or tied.

    .venv/bin/python -m benchmarks.head_to_head --out results/standard hypera hypera-scratch

Reads ``results.jsonl``; compares the best loss after the last trial of each pair both ran.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.runner import RESULTS_FILE
from benchmarks.summary import collect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="directory of results.jsonl")
    parser.add_argument("first")
    parser.add_argument("second")
    args = parser.parse_args()
    with open(args.out / RESULTS_FILE) as f:
        tasks, _ = collect(json.loads(line) for line in f if line.strip())
    total = {"better": 0, "worse": 0, "tied": 0}
    print(f"| task | {args.first} better | worse | tied |")
    print("|---|---|---|---|")
    for task in tasks:
        if args.first not in task.runs or args.second not in task.runs:
            continue
        a, b = task.finals(args.first), task.finals(args.second)
        row = {"better": 0, "worse": 0, "tied": 0}
        for seed in sorted(a.keys() & b.keys()):
            key = "better" if a[seed] < b[seed] else "worse" if a[seed] > b[seed] else "tied"
            row[key] += 1
        for k in total:
            total[k] += row[k]
        print(f"| {task.name} | {row['better']} | {row['worse']} | {row['tied']} |")
    print(f"| all | {total['better']} | {total['worse']} | {total['tied']} |")


if __name__ == "__main__":
    main()
