"""Runs of :mod:`benchmarks.parallel`: one study, ``w`` pool processes optimizing it at once.

The pool is spawned once per invocation and warmed (every sampler once on a throwaway study);
each run creates its study in the storage, hands one share of the trials to each of ``w`` pool
processes, which load the study and start together after a barrier, then reads the finished
study back, appends its record to ``results.jsonl`` and drops a PostgreSQL study.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from concurrent.futures.process import BrokenProcessPool
import contextlib
from dataclasses import asdict
from dataclasses import dataclass
import datetime
import json
import math
import multiprocessing
from pathlib import Path
import tempfile
import time
from typing import Any
import uuid

import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from benchmarks.parallel_tasks import SleepyObjective
from benchmarks.parallel_tasks import make_task
from benchmarks.parallel_tasks import task_optimum
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import _init_worker
from benchmarks.runner import _single_thread_env
from benchmarks.runner import append_record
from benchmarks.samplers import TimedSampler
from benchmarks.samplers import make_sampler
from optuna_hypera.storages import make_storage


SCHEMA = 1
STORAGES = ("journal", "postgresql")
WORKER_SEED_STRIDE = 1000
"""Worker ``i`` of seed ``k`` seeds its sampler with ``1000 * k + i``: equal seeds would make
the workers draw identical startup trials."""
WARM_TRIALS = 12
"""Trials of each pool process's warm-up study: past HyperaSampler's 7 startup trials (10
up to 0.17)."""
BARRIER_SECONDS = 600.0
"""How long a worker waits for the others to load the study (8 cold processes on 2 cores)."""


def make_parallel_sampler(name: str, seed: int) -> BaseSampler:
    """``benchmarks.samplers.make_sampler``, but TPE with ``constant_liar=True`` spelled out
    (Optuna 5's default too): a worker counts the others' running trials as bad results."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return make_sampler(name, seed)


@dataclass(frozen=True)
class ParallelRun:
    """One study: ``n_trials`` trials of ``task`` by ``workers`` processes of one sampler."""

    task: str
    sampler: str
    workers: int
    storage: str
    seed: int
    n_trials: int
    sleep: float

    @property
    def key(self) -> tuple[str, int, str, str, int]:
        return (self.sampler, self.workers, self.storage, self.task, self.seed)

    @property
    def study_name(self) -> str:
        return f"parallel-{self.task}-{self.sampler}-w{self.workers}-{self.storage}-s{self.seed}"

    def shares(self) -> list[int]:
        """Trials per worker, summing to ``n_trials``."""
        base, extra = divmod(self.n_trials, self.workers)
        return [base + (i < extra) for i in range(self.workers)]


def work(run: ParallelRun, url: str, study_name: str, index: int, barrier: Any,
         ) -> dict[int, float]:
    """One worker (in a pool process): load the study, wait for the others, optimize this
    worker's share; returns the sampler's seconds per trial number."""
    storage = make_storage(url, heartbeat_interval=None)
    try:
        sampler = TimedSampler(
            make_parallel_sampler(run.sampler, WORKER_SEED_STRIDE * run.seed + index)
        )
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        objective = SleepyObjective(make_task(run.task, run.seed), sleep=run.sleep, seed=run.seed)
        barrier.wait(BARRIER_SECONDS)
        study.optimize(objective, n_trials=run.shares()[index])
        return dict(sampler.seconds)
    finally:
        if isinstance(storage, RDBStorage):  # a pool process outlives many runs
            storage.engine.dispose()


def _warm_objective(trial: optuna.Trial) -> float:
    return sum((trial.suggest_float(f"x{i}", 0.0, 1.0) - 0.5) ** 2 for i in range(2))


def _ready(barrier: Any, samplers: Sequence[str]) -> None:
    """Runs every sampler once on a throwaway in-memory study (a process's first proposals pay
    lazy imports and torch's start-up, ~1 s for HyperaSampler), then waits for the others."""
    for name in samplers:
        study = optuna.create_study(sampler=make_parallel_sampler(name, 0))
        study.optimize(_warm_objective, n_trials=WARM_TRIALS)
    barrier.wait(BARRIER_SECONDS)


def run_in_pool(run: ParallelRun, url: str, study_name: str, pool: ProcessPoolExecutor,
                manager: Any) -> dict[int, float]:
    """All workers of ``run`` at once; the first error aborts the barrier and is raised."""
    barrier = manager.Barrier(run.workers)
    futures = [pool.submit(work, run, url, study_name, i, barrier) for i in range(run.workers)]
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    if any(f.exception() is not None for f in done):
        barrier.abort()
    wait(futures)
    seconds: dict[int, float] = {}
    for future in futures:
        seconds.update(future.result())
    return seconds


def record_of(run: ParallelRun, study: optuna.Study, seconds: dict[int, float],
              wall: float) -> dict[str, Any]:
    """The JSONL record: final regret and how much the workers overlapped."""
    task = make_task(run.task, run.seed)
    optimum, exact = task_optimum(task)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(done) != run.n_trials:  # not the budget every worker count must get
        raise RuntimeError(f"{len(done)} of {run.n_trials} trials completed, {len(trials)} in all")
    starts = [t.datetime_start for t in done if t.datetime_start is not None]
    ends = [t.datetime_complete for t in done if t.datetime_complete is not None]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else math.nan
    busy = sum(t.duration.total_seconds() for t in done if t.duration is not None)
    best = min(float(t.value) for t in done if t.value is not None)
    return {
        "schema": SCHEMA, **asdict(run), "family": task.family, "dim": len(task.space),
        "optimum": optimum, "optimum_exact": exact, "best_value": best,
        "regret": best - optimum, "n_complete": len(done),
        "states": {s.name: sum(t.state == s for t in trials) for s in TrialState
                   if any(t.state == s for t in trials)},
        "values": [t.value if t.state == TrialState.COMPLETE else None for t in trials],
        "overlap": busy / span if span > 0 else math.nan,
        "sampler_seconds_per_trial": sum(seconds.values()) / max(len(trials), 1),
        "span_seconds": span, "wall_seconds": wall,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def execute(run: ParallelRun, *, postgresql_url: str, journal_dir: Path,
            pool: ProcessPoolExecutor, manager: Any) -> dict[str, Any]:
    """Create the study, run the workers, read the result, and drop a PostgreSQL study."""
    if run.storage == "journal":
        path = journal_dir / f"{run.study_name}.log"
        path.unlink(missing_ok=True)  # left by an interrupted run, which has no record
        url, name = str(path), run.study_name
    else:
        url, name = postgresql_url, f"{run.study_name}-{uuid.uuid4().hex[:8]}"
    storage: BaseStorage = make_storage(url, heartbeat_interval=None)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
        start = time.perf_counter()
        seconds = run_in_pool(run, url, name, pool, manager)
        return record_of(run, study, seconds, time.perf_counter() - start)
    finally:
        if run.storage == "postgresql":
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=storage)
        if isinstance(storage, RDBStorage):
            storage.engine.dispose()


def load_records(path: Path) -> dict[tuple[str, int, str, str, int], dict[str, Any]]:
    """Records of ``path`` by run key (the latest line wins)."""
    if not path.exists():
        return {}
    with path.open() as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return {(r["sampler"], r["workers"], r["storage"], r["task"], r["seed"]): r
            for r in records}


def is_done(record: dict[str, Any] | None, run: ParallelRun) -> bool:
    return (record is not None and record.get("schema") == SCHEMA
            and record["n_trials"] == run.n_trials and record["sleep"] == run.sleep
            and record["n_complete"] == run.n_trials)


def run_all(runs: Sequence[ParallelRun], *, out_dir: Path, postgresql_url: str,
            journal_dir: Path | None) -> tuple[int, int, list[str]]:
    """Executes the runs not recorded yet; ``(recorded, skipped, failures)``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / RESULTS_FILE
    existing = load_records(results)
    todo = [r for r in runs if not is_done(existing.get(r.key), r)]
    failed: list[str] = []
    if not todo:
        return 0, len(runs), failed
    ctx = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        if journal_dir is None:
            journal_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        journal_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_single_thread_env())
        manager = stack.enter_context(ctx.Manager())
        size = max(r.workers for r in todo)
        pool = stack.enter_context(ProcessPoolExecutor(
            max_workers=size, mp_context=ctx, initializer=_init_worker))
        # Start and warm every process before the first run, so that no run pays for it.
        ready = manager.Barrier(size)
        samplers = sorted({r.sampler for r in todo})
        for future in [pool.submit(_ready, ready, samplers) for _ in range(size)]:
            future.result()
        for i, run in enumerate(todo, 1):
            label = f"[{i}/{len(todo)}] {run.study_name}"
            try:
                record = execute(run, postgresql_url=postgresql_url, journal_dir=journal_dir,
                                 pool=pool, manager=manager)
            except BrokenProcessPool:
                raise
            except Exception as error:  # one broken run must not stop the others
                failed.append(f"{run.study_name}: {type(error).__name__}: {error}")
                print(f"{label}: failed: {failed[-1]}", flush=True)
                continue
            append_record(results, record)
            print(f"{label}: regret {record['regret']:.4g}, {record['overlap']:.1f} trials "
                  f"running at once, {record['wall_seconds']:.1f} s", flush=True)
    return len(todo) - len(failed), len(runs) - len(todo), failed
