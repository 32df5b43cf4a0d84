"""Leave-one-out transfer benchmark: does learning from past studies of related tasks help?

    .venv/bin/python -m benchmarks.transfer --out results/transfer --no-progress

A *family* is the MLP objective of :mod:`benchmarks.objectives.tabular_mlp` on four bundled data
sets (``digits``, ``wine``, ``breast_cancer``, ``iris``) in one search space: ``numeric`` (ten
numeric parameters) or ``full`` (twelve, two of them categorical).

1. **Sources.** For each member *m* (index *i* in ``tabular_mlp.DATASETS``) a study of
   ``--source-trials`` trials by ``TPESampler(seed=1000+i)`` on *m* (objective seed 1000+i),
   stored once in ``sqlite:///<out>/sources.db`` as ``source/<family>/<m>`` and resumed or
   reused on a rerun (a longer stored study is cut to its first ``--source-trials`` trials).
   Next to it ``flipped/<family>/<m>``: the same trials with negated values, a deliberately
   misleading source (its best trials are the worst ones).
2. **Targets.** For each member *m* and seed *k*, ``--trials`` trials on *m* (objective seed
   *k*: same split and initialisation for every sampler) with each sampler; the sources are
   those of the *other* members (leave-one-out), as in-memory copies of the stored studies:

   | name | sampler |
   |---|---|
   | ``hypera-transfer`` | ``HyperaSampler(seed=k, source_studies=[sources])`` |
   | ``hypera-flipped`` | ``HyperaSampler(seed=k, source_studies=[flipped sources])`` |
   | ``hypera`` | ``HyperaSampler(seed=k)`` (no sources; the reference) |
   | ``tpe``, ``gp`` | ``TPESampler(seed=k)``, ``GPSampler(seed=k)`` |
   | ``ws-cmaes`` | ``CmaEsSampler(seed=k, source_trials=[complete trials of the sources])`` |

   Any other name of :data:`benchmarks.samplers.SAMPLER_NAMES` (``random``, ``cmaes``, ...)
   works too. WS-CMA-ES handles only numeric spaces: on ``full`` it is recorded as *cannot run*.
3. **Summary** (``summary.md``, ``summary.json``, ``transfer.png``): per family, the mean rank
   of the final best loss over (target, seed) pairs, the trials each sampler needs to reach the
   no-transfer ``hypera``'s final best, and the flipped sources against none.

Runs execute in :func:`benchmarks.runner.run_in_workers`, the suites' worker pool: ``--jobs``
spawned worker processes with one torch/BLAS thread each, in-memory studies, ``NopPruner``; the
parent alone writes ``results.jsonl`` (one record per run, resumable), ``studies.db`` (every
target study) and ``sources.db``. ``--report-only`` rebuilds the summary from ``results.jsonl``.

This module is the command line: :mod:`benchmarks.transfer_plan` (what runs),
:mod:`benchmarks.transfer_run` (running it), :mod:`benchmarks.transfer_stats` and
:mod:`benchmarks.transfer_report` (the summary).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import datetime
from pathlib import Path
import shlex
import sys
import time

import numpy as np
import optuna

from benchmarks.objectives.tabular_mlp import DATASETS
from benchmarks.objectives.tabular_mlp import SPACES
from benchmarks.run_meta import machine_info
from benchmarks.run_meta import update_meta
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import THREAD_ENV
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.transfer_plan import FLIPPED
from benchmarks.transfer_plan import MEMBERS
from benchmarks.transfer_plan import SAMPLERS
from benchmarks.transfer_plan import SOURCES_DB
from benchmarks.transfer_plan import STUDIES_DB
from benchmarks.transfer_plan import TRANSFER
from benchmarks.transfer_plan import WS_CMAES
from benchmarks.transfer_plan import Setup
from benchmarks.transfer_plan import plan
from benchmarks.transfer_report import write_transfer_report
from benchmarks.transfer_run import ensure_sources
from benchmarks.transfer_run import run_targets


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transfer",
        description="Leave-one-out transfer benchmark (see the module docstring).",
    )
    parser.add_argument("--out", type=Path, default=Path("results/transfer"),
                        help="output directory (default results/transfer)")
    parser.add_argument("--families", type=_names, default=list(SPACES),
                        help=f"comma list from {','.join(SPACES)} (default both)")
    parser.add_argument("--members", type=_names, default=list(MEMBERS),
                        help=f"data sets, from {','.join(DATASETS)} (default {','.join(MEMBERS)})")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--trials", type=int, default=30, help="trials per target run (30)")
    parser.add_argument("--source-trials", type=int, default=60,
                        help="trials per source study (60)")
    parser.add_argument("--samplers", type=_names, default=list(SAMPLERS),
                        help=f"comma list (default {','.join(SAMPLERS)})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs of every member (default: each data set's own)")
    parser.add_argument("--design-seeds", action="store_true",
                        help="target runs' sampler seeds from (target, seed), shared by the "
                        "samplers of a pair (default: seed k for every target, so a family's "
                        "targets share a seed's startup design)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--report-only", action="store_true",
                        help="only rebuild the summary from results.jsonl")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rich.progress import Progress

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    out: Path = args.out
    if args.report_only:
        try:
            paths = write_transfer_report(out)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print("\n".join(["Outputs:", *(f"  {p}" for p in paths)]))
        return 0
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = Setup(
        families=tuple(args.families), members=tuple(args.members),
        samplers=tuple(args.samplers), seeds=args.seeds, trials=args.trials,
        source_trials=args.source_trials, epochs=args.epochs, design_seeds=args.design_seeds,
    )
    try:
        sources, runs = plan(setup, out)
    except (ValueError, SamplerUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start = time.perf_counter()
    failed: list[str] = []
    with Progress(disable=args.no_progress, transient=False) as progress:
        ensure_sources(sources, jobs=args.jobs, progress=progress, failed=failed)
        if failed:  # the runs with sources need every source of their family
            broken = {f for f in setup.families if any(f"/{f}/" in x for x in failed)}
            runs = [r for r in runs if r.family not in broken
                    or r.sampler not in (TRANSFER, FLIPPED, WS_CMAES)]
        n_source_failures = len(failed)
        recorded, skipped = run_targets(runs, out_dir=out, jobs=args.jobs, progress=progress,
                                        failed=failed)
    wall = time.perf_counter() - start
    update_meta(out, {
        "command": shlex.join(["python", "-m", "benchmarks.transfer", *argv]),
        "suite": "transfer", "jobs": args.jobs, "storage": f"sqlite:///{out / STUDIES_DB}",
        "sources": f"sqlite:///{out / SOURCES_DB}", "started": started, "wall_seconds": wall,
        "runs_planned": len(runs), "runs_executed": recorded,
        "runs_failed": len(failed) - n_source_failures, "sources_failed": n_source_failures,
        "threads": dict.fromkeys(THREAD_ENV, "1"), "torch_threads": 1,
        "machine": {**machine_info(), "numpy": np.__version__},
    })
    print(f"{recorded} run(s) recorded, {skipped} already recorded, "
          f"{len(failed)} failed, in {wall:.1f} s.")
    for failure in failed:
        print(f"  failed: {failure}", file=sys.stderr)
    if (out / RESULTS_FILE).exists():
        paths = write_transfer_report(out)
        print((out / "summary.md").read_text())
        print("\n".join(["Outputs:", *(f"  {p}" for p in [out / RESULTS_FILE, *paths])]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
