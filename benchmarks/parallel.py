"""Parallel quality: does a sampler lose quality when 4 or 8 workers share one study?

    .venv/bin/python -m benchmarks.parallel [--samplers hypera,tpe,gp,random] [--workers 1 4 8]
        [--storages journal postgresql] [--trials 60] [--seeds 3]
        [--tasks quadratic-d6 multimodal-d6] [--sleep 0.15] [--out results/parallel]

Every run gives one study the same total number of trials (``--trials``) whatever the number of
workers: ``w`` spawned worker processes (one torch and one BLAS thread each) each load the study
from the storage, build their own sampler (seed ``1000 * seed + worker``) and call
``study.optimize(objective, n_trials=share)``, the shares summing to ``--trials``. They start
together (a barrier after loading), and every evaluation sleeps ``--sleep`` x U(0.5, 1.5)
seconds (seeded by the run seed and the trial number), so the workers overlap as real training
would and each sees the others' running trials. The worker processes are a pool kept for the
whole invocation, so torch is imported once per process, not once per run.

- Samplers: ``hypera`` = ``HyperaSampler(seed)`` with default settings; ``tpe`` =
  ``TPESampler(seed, constant_liar=True)`` (running trials count as bad results, Optuna's
  setting for parallel runs, set explicitly here); ``gp`` = ``GPSampler(seed)`` (it conditions
  on running trials itself); ``random`` = ``RandomSampler(seed)``.
- Storages: ``journal`` = ``JournalStorage(JournalFileBackend(<file>))`` with one file per
  run in a temporary directory (``--journal-dir`` keeps them); ``postgresql`` = ``RDBStorage``
  on ``--postgresql-url`` (no heartbeat: nothing is killed here), one uniquely named study per
  run, deleted after it. Both through ``optuna_hypera.storages.make_storage``.
- Tasks: the project's own generated families (``optuna_hypera._simulate.SyntheticTask``:
  quadratic and multimodal bowls, GP prior samples), never a named benchmark function; name
  ``<family>-d<dim>``, every coordinate continuous in [0, 1] and no noise, so the optimum of
  ``quadratic`` (0) and ``multimodal`` (the ripples' floor on unused coordinates) is exact.
  ``gp``'s is estimated (L-BFGS-B from the best of 4096 Sobol points), and the summary says
  which. Seed *k* fixes the task instance, the sleeps and the samplers' seeds.
- Result: final simple regret, best value minus that optimum. Per (sampler, workers, storage,
  task): median over seeds and its ratio to the same sampler's one-worker median (1 = no loss,
  2 = twice the regret); mean rank of the samplers at each worker count over (task, seed)
  pairs. ``summary.md`` in ``--out`` (also printed) starts with the command, date and versions;
  ``results.jsonl`` holds one record per run, and a rerun skips the (sampler, workers, storage,
  task, seed) runs recorded at the same trials and sleep.

Budget of the default run (4 samplers x 3 worker counts x 2 storages x 2 tasks x 3 seeds =
144 runs of 60 trials), measured on this 2-core machine with other work on it (load 2-4): one
(task, seed) pair, i.e. 24 runs, took 247 s of run wall time at ``--sleep 0.2`` (journal
103 s, PostgreSQL 144 s). Of that, sleep is 8 x 60 x 0.2 s x (1 + 1/4 + 1/8) = 132 s; the rest
is storage latency (journal ~35 ms a trial, fsync on every write; PostgreSQL ~80-100 ms a trial
at one worker), sampler time (GP 0.08-0.12 s a trial alone, 0.25 s with 4 and 0.6-0.75 s with 8
workers sharing 2 cores; HyperaSampler 0.015-0.04 s alone, up to 0.25 s with 8) and about 0.6 s
of setup a run; starting and warming the 8 pool processes took ~25 s once. The default sleep is
therefore 0.15 s (sleep 99 s a pair): 6 pairs x ~214 s + 144 x 0.6 s + 25 s = ~23 min
(``--sleep 0.2``: ~27 min).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import datetime
from pathlib import Path
import shlex
import sys
import time

import optuna

from benchmarks.parallel_run import STORAGES
from benchmarks.parallel_run import ParallelRun
from benchmarks.parallel_run import is_done
from benchmarks.parallel_run import load_records
from benchmarks.parallel_run import run_all
from benchmarks.parallel_tasks import parse_task
from benchmarks.run_meta import machine_info
from benchmarks.run_meta import update_meta
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import THREAD_ENV
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import check_samplers
from optuna_hypera._simulate import FAMILIES
from optuna_hypera.storages import make_storage


SAMPLERS = ("hypera", "tpe", "gp", "random")
"""The default samplers, in table order."""
TASKS = ("quadratic-d6", "multimodal-d6")
POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/test"


# ----------------------------------------------------------------------------- plan


def plan(samplers: Sequence[str], workers: Sequence[int], storages: Sequence[str],
         tasks: Sequence[str], seeds: int, n_trials: int, sleep: float) -> list[ParallelRun]:
    """Every run, seed-major (an interrupted run has every cell on its first seeds)."""
    check_samplers(samplers)
    for name in tasks:
        parse_task(name)
    bad = [s for s in storages if s not in STORAGES]
    if bad:
        raise ValueError(f"Unknown storage(s) {bad}; choose from {list(STORAGES)}.")
    if min(workers) < 1 or seeds < 1 or sleep < 0:
        raise ValueError("workers and seeds must be >= 1 and sleep >= 0.")
    if n_trials < max(workers):
        raise ValueError(f"--trials {n_trials} leaves a worker of {max(workers)} without one.")
    once = dict.fromkeys  # a name given twice runs once
    return [ParallelRun(task, sampler, w, storage, seed, n_trials, sleep)
            for seed in range(seeds) for task in once(tasks) for sampler in once(samplers)
            for storage in once(storages) for w in once(workers)]


# ----------------------------------------------------------------------------- command line


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parallel",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", type=_names, default=list(SAMPLERS),
                        help=f"comma list (default {','.join(SAMPLERS)})")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--storages", nargs="+", default=list(STORAGES), choices=STORAGES)
    parser.add_argument("--trials", type=int, default=60, help="total trials of every study")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS),
                        help=f"<family>-d<dim>, families {','.join(FAMILIES)}")
    parser.add_argument("--sleep", type=float, default=0.15,
                        help="mean seconds per evaluation (default 0.15)")
    parser.add_argument("--out", type=Path, default=Path("results/parallel"))
    parser.add_argument("--journal-dir", type=Path, default=None,
                        help="keep the journal files here (default: a temporary directory)")
    parser.add_argument("--postgresql-url", default=POSTGRESQL_URL)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.parallel_report import write_summary

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        runs = plan(args.samplers, args.workers, args.storages, args.tasks, args.seeds,
                    args.trials, args.sleep)
        if "postgresql" in args.storages:
            make_storage(args.postgresql_url, heartbeat_interval=None)  # fail now, not per run
    except (ValueError, SamplerUnavailableError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the database: SQLAlchemy's OperationalError and kin
        print(f"error: cannot open {args.postgresql_url}: {error}", file=sys.stderr)
        return 2
    command = shlex.join(["python", "-m", "benchmarks.parallel", *argv])
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start = time.perf_counter()
    recorded, skipped, failed = run_all(runs, out_dir=args.out,
                                        postgresql_url=args.postgresql_url,
                                        journal_dir=args.journal_dir)
    wall = time.perf_counter() - start
    update_meta(args.out, {
        "command": command, "suite": "parallel", "started": started, "wall_seconds": wall,
        "runs_planned": len(runs), "runs_executed": recorded, "runs_failed": len(failed),
        "threads": dict.fromkeys(THREAD_ENV, "1"), "torch_threads": 1,
        "machine": machine_info(),
    })
    print(f"{recorded} run(s) recorded, {skipped} already recorded, {len(failed)} failed, "
          f"in {wall:.1f} s.")
    for failure in failed:
        print(f"  failed: {failure}", file=sys.stderr)
    # Every recorded run at this budget, so samplers or seeds added later join the tables.
    records = [r for r in load_records(args.out / RESULTS_FILE).values() if is_done(r, runs[0])]
    path = write_summary(args.out, records, command=command, started=started,
                         sampler_order=SAMPLERS)
    print(path.read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
