"""Head to head under a pruner: on how many (task, seed) pairs one sampler's best complete
loss is below another's after a share of the epoch budget.

    python -m benchmarks.pruning_pairs results/X/results.jsonl hypera hypera-startup10
    python -m benchmarks.pruning_pairs results/X/results.jsonl hypera tpe --at 0.3,1

A pair is (task, pruner, seed); both samplers ran it with the same budget in epochs. The loss
at a share s of the budget is the run's best complete loss after s x budget epochs
(:func:`benchmarks.pruning_report.best_on_grid`; infinite before the first complete trial).
Exact ties are counted apart. The README's and ``docs/benchmarks``' pruning pair counts since
0.18 come from here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pruning_report import best_on_grid
from benchmarks.pruning_run import load_pruning_records


SHARES = (0.3, 0.6, 1.0)


@dataclass(frozen=True)
class Count:
    share: float
    better: int
    worse: int
    tied: int


def count_pairs(records: Iterable[Mapping[str, Any]], a: str, b: str,
                shares: Sequence[float] = SHARES, pruner: str | None = None) -> list[Count]:
    """``a`` against ``b`` at each share of the budget, over the pairs both ran."""
    runs: dict[tuple[str, str, int], dict[str, Mapping[str, Any]]] = {}
    for r in records:
        if pruner is None or r["pruner"] == pruner:
            runs.setdefault((r["task"], r["pruner"], int(r["seed"])), {})[r["sampler"]] = r
    pairs = [(by[a], by[b]) for by in runs.values() if a in by and b in by]
    at = np.asarray(shares, dtype=float)
    better, worse = np.zeros(len(at), int), np.zeros(len(at), int)
    for ra, rb in pairs:
        la, lb = best_on_grid(ra, at * ra["budget"]), best_on_grid(rb, at * rb["budget"])
        better += la < lb
        worse += la > lb
    return [Count(float(s), int(b), int(w), len(pairs) - int(b) - int(w))
            for s, b, w in zip(at, better, worse, strict=True)]


def _shares(text: str) -> list[float]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError("shares are numbers in (0, 1], comma-separated")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pruning_pairs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a results.jsonl or its directory")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--at", type=_shares, default=list(SHARES),
                        help="shares of the epoch budget (default 0.3,0.6,1)")
    parser.add_argument("--pruner", default=None, help="only this pruner's runs")
    args = parser.parse_args(argv)
    path = args.results / "results.jsonl" if args.results.is_dir() else args.results
    records = list(load_pruning_records(path).values())
    pruners = sorted({r["pruner"] for r in records} if args.pruner is None else {args.pruner})
    print(f"| pruner | share of the budget | {args.a} better / worse / tied vs {args.b} |")
    print("|---|---|---|")
    for pruner in pruners:
        for c in count_pairs(records, args.a, args.b, args.at, pruner):
            print(f"| {pruner} | {c.share:.0%} | {c.better}/{c.worse}/{c.tied} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
