"""The summary of :mod:`benchmarks.parallel`: regret tables, ratios to one worker, mean ranks.

It renders the records it is given (``benchmarks.parallel`` passes every recorded run at the
invocation's ``--trials`` and ``--sleep``, so samplers or seeds added later join the tables).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
import math
from pathlib import Path
import platform
from typing import Any

import numpy as np

from benchmarks import metrics
from benchmarks.run_meta import machine_info
from benchmarks.summary_md import _table
from benchmarks.summary_md import fmt
from benchmarks.transfer_stats import mean_final_ranks


SUMMARY_FILE = "summary.md"
Cell = tuple[str, str, str, int]
"""(task, sampler, storage, workers): the records of one cell differ only in the seed."""


def _order(names: Sequence[str], first: Sequence[str]) -> list[str]:
    known = {n: i for i, n in enumerate(first)}
    return sorted(set(names), key=lambda n: (known.get(n, len(known)), n))


def _geomean(values: Sequence[float]) -> float:
    ok = [v for v in values if math.isfinite(v) and v > 0]
    return float(np.exp(np.mean(np.log(ok)))) if ok else math.nan


def _ratio(value: float, base: float | None) -> float | None:
    if base is None:
        return None
    return value / base if base > 0 else math.nan


def render(records: Sequence[dict[str, Any]], *, command: str, started: str,
           sampler_order: Sequence[str] = ()) -> str:
    """The Markdown summary; samplers in ``sampler_order`` first, then alphabetically."""
    cells: defaultdict[Cell, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        cells[(r["task"], r["sampler"], r["storage"], r["workers"])][r["seed"]] = r
    tasks = sorted({c[0] for c in cells})
    samplers = _order([c[1] for c in cells], sampler_order)
    storages = sorted({c[2] for c in cells})
    workers = sorted({c[3] for c in cells})
    seeds = [len(per) for per in cells.values()]
    median = {c: metrics.median([r["regret"] for r in per.values()]) for c, per in cells.items()}
    m = machine_info()
    first = next(iter(records))
    lines = [
        "# Parallel quality at equal total trials", "",
        f"Command: `{command}`", "",
        f"Date: {started}. Python {platform.python_version()}, optuna {m['optuna']}, "
        f"torch {m['torch']}, numpy {np.__version__}; {m['cpu']}, {m['cores']} cores; one "
        "torch and one BLAS thread per worker process.", "",
        f"Every study gets {first['n_trials']} trials in total, split evenly among the "
        f"workers; each evaluation sleeps {first['sleep']:g} s x U(0.5, 1.5). Seeds per cell: "
        f"{min(seeds)}" + (f" to {max(seeds)}" if max(seeds) != min(seeds) else "")
        + ". `hypera`: HyperaSampler defaults; `tpe`: TPESampler(constant_liar=True); `gp`: "
        "GPSampler; `random`: RandomSampler. `journal`: JournalFileBackend file; "
        "`postgresql`: RDBStorage. Regret = best value - optimum (lower is better); ratio = "
        "median regret / the same sampler's one-worker median on the same storage (1 = no "
        "loss; `random`'s ratios show the noise between seeds: parallelism cannot change "
        "random search). \"Running at once\" = summed trial time / the study's span.", "",
    ]
    for task in tasks:
        exact = all(r["optimum_exact"] for c, per in cells.items() if c[0] == task
                    for r in per.values())
        kind = "exact" if exact else "estimated by L-BFGS-B, so the regret may be slightly off"
        lines += [f"## `{task}` (optimum {kind})", ""]
        rows = []
        for sampler in samplers:
            for storage in storages:
                for w in workers:
                    cell = (task, sampler, storage, w)
                    if cell not in cells:
                        continue
                    per = list(cells[cell].values())
                    ratio = _ratio(median[cell], median.get((task, sampler, storage, 1)))
                    rows.append([
                        sampler, storage, str(w), str(len(per)), fmt(median[cell]), fmt(ratio),
                        fmt(metrics.median([r["overlap"] for r in per]), 2),
                        fmt(metrics.median([r["sampler_seconds_per_trial"] for r in per])),
                        fmt(metrics.median([r["wall_seconds"] for r in per])),
                    ])
        lines += _table(["sampler", "storage", "workers", "seeds", "median regret",
                         "ratio to 1 worker", "running at once", "sampler s/trial",
                         "wall s"], rows)
    lines += ["## Ratio to one worker, geometric mean over tasks", ""]
    rows = []
    for sampler in samplers:
        for storage in storages:
            ratios = [[_ratio(median[(t, sampler, storage, w)],
                              median.get((t, sampler, storage, 1))) for t in tasks
                       if (t, sampler, storage, w) in median] for w in workers]
            rows.append([sampler, storage, *(
                fmt(_geomean([r for r in rs if r is not None])) for rs in ratios)])
    lines += _table(["sampler", "storage", *(f"{w} worker{'s' * (w > 1)}" for w in workers)], rows)
    lines += ["## Mean rank at each worker count (1 = best, over (task, seed) pairs every "
              "sampler ran; ties share)", ""]
    rows = []
    for w in workers:
        for storage in storages:
            finals = {s: {(t, k): r["regret"] for (t, s2, st, w2), per in cells.items()
                          if s2 == s and st == storage and w2 == w for k, r in per.items()}
                      for s in samplers}
            ranks, n_pairs = mean_final_ranks(finals)
            rows.append([str(w), storage, str(n_pairs), *(fmt(ranks[s]) for s in samplers)])
    lines += _table(["workers", "storage", "pairs", *samplers], rows)
    return "\n".join(lines)


def write_summary(out_dir: Path, records: Sequence[dict[str, Any]], *, command: str,
                  started: str, sampler_order: Sequence[str] = ()) -> Path:
    """Writes ``summary.md`` into ``out_dir``; returns its path."""
    path = out_dir / SUMMARY_FILE
    text = (render(records, command=command, started=started, sampler_order=sampler_order)
            if records else "No complete records.")
    path.write_text(text + "\n")
    return path
