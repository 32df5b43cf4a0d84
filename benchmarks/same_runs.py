"""Which runs of one sampler repeat another's, trial for trial.

    python -m benchmarks.same_runs results/standard-0.19-s2 hypera hypera-startup7 hypera-startup10

Per task, how many seeds of the first sampler have every trial's value equal to the other
sampler's on the same seed. 0.19-0.20's default took d startup trials clipped to [7, 10], so on
each task it must repeat exactly one of ``hypera-startup7`` and ``hypera-startup10`` (or both,
where the startup decides nothing); this is how that was checked.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import load_records


def same_runs(path: Path, sampler: str,
              others: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """``{task: {other: (identical, different)}}`` over the seeds both ran."""
    runs = {key: r["values"] for key, r in load_records(path / RESULTS_FILE).items()}
    counts: dict[tuple[str, str], Counter[bool]] = {}
    for (task, name, seed), values in runs.items():
        if name != sampler:
            continue
        for other in others:
            theirs = runs.get((task, other, seed))
            if theirs is not None:
                counts.setdefault((task, other), Counter())[values == theirs] += 1
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for (task, other), c in sorted(counts.items()):
        table.setdefault(task, {})[other] = (c[True], c[False])
    return table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="results directory holding results.jsonl")
    p.add_argument("sampler")
    p.add_argument("others", nargs="+")
    a = p.parse_args(argv)
    table = same_runs(a.out, a.sampler, a.others)
    print("| task | " + " | ".join(f"identical / different to {o}" for o in a.others) + " |")
    print("|---|" + "---|" * len(a.others))
    for task, row in table.items():
        cells = [f"{row[o][0]} / {row[o][1]}" if o in row else "-" for o in a.others]
        print(f"| {task} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
