"""Runs a suite: (task, sampler, seed) runs over worker processes, resumable, one storage.

Each run optimises in an in-memory study inside a worker process (one torch/BLAS thread, so runs
are fair and sampler timings exclude database latency). The parent process then copies the
finished study into the shared Optuna storage and appends the run's record to
``results.jsonl``, in that order, so it is the only writer of both: SQLite sees no concurrent
writers and a record always has its study. A run whose record exists is skipped on a rerun.
:func:`run_in_workers` is that worker pool on its own, for other benchmarks' jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
import contextlib
from dataclasses import dataclass
import datetime
import hashlib
import json
import math
import multiprocessing
import os
from pathlib import Path
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.run_meta import machine_info
from benchmarks.run_meta import update_meta
from benchmarks.samplers import check_samplers
from benchmarks.suites import Suite
from benchmarks.suites import Task


if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.progress import TaskID

RESULTS_FILE = "results.jsonl"
SCHEMA = 1
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
CAUGHT = (RuntimeError, ValueError, ArithmeticError)
"""Errors inside one trial (diverged training, CUDA OOM) fail that trial, not the run."""

Item = TypeVar("Item")
Result = TypeVar("Result")


def design_seed(task_name: str, seed: int) -> int:
    """The sampler seed of run ``seed`` on ``task_name`` under ``--design-seeds``: drawn from
    both, so every (task, seed) pair gets its own startup design, the same for every sampler."""
    digest = hashlib.sha256(f"{task_name}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1)


@dataclass(frozen=True)
class RunSpec:
    """One run: a task optimised by one sampler with one seed."""

    task: Task
    sampler: str
    seed: int
    design_seeds: bool = False
    """``False``: seed k is the sampler's seed on every task (a sampler's startup design then
    repeats across the suite's tasks with the same parameters); ``True``: the sampler's seed
    is drawn from (task name, k), ``sampler_seed``, while k still fixes the objective."""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task.name, self.sampler, self.seed)

    @property
    def sampler_seed(self) -> int:
        return design_seed(self.task.name, self.seed) if self.design_seeds else self.seed

    @property
    def study_name(self) -> str:
        return f"{self.task.name}/{self.sampler}/seed{self.seed}"


@dataclass(frozen=True)
class RunOutput:
    """What a worker sends back: the JSON record and the study to copy into storage."""

    record: dict[str, Any]
    trials: list[FrozenTrial]
    study_user_attrs: dict[str, Any]
    study_system_attrs: dict[str, Any]
    """Dashboard notes and figures the sampler published live here."""


def plan_runs(
    suite: Suite,
    *,
    samplers: Sequence[str] | None = None,
    seeds: int | None = None,
    tasks: Sequence[str] | None = None,
    design_seeds: bool = False,
) -> list[RunSpec]:
    """Every (task, sampler, seed) of the suite, with optional overrides; seed-major order."""
    chosen = list(suite.tasks)
    if tasks is not None:
        names = {t.name for t in suite.tasks}
        unknown = sorted(set(tasks) - names)
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown} in suite {suite.name!r}: {sorted(names)}")
        chosen = [t for t in chosen if t.name in set(tasks)]
    sampler_names = list(samplers) if samplers is not None else list(suite.samplers)
    check_samplers(sampler_names)
    n_seeds = suite.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}.")
    # Seed-major: an interrupted suite has every sampler on its first seeds.
    return [
        RunSpec(task, sampler, seed, design_seeds)
        for seed in range(n_seeds)
        for task in chosen
        for sampler in sampler_names
    ]


def _finite(value: Any) -> float | None:
    """A float for JSON, or ``None`` for missing, NaN and infinite values."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def run_study(name: str, objective: Any, sampler: Any, n_trials: int,
              ) -> tuple[optuna.Study, dict[str, Any]]:
    """Optimize ``objective`` in a fresh in-memory study (``NopPruner``: every sampler sees
    full evaluations) with a ``TimedSampler``; the study and the record fields every run
    shares (``trials`` among them, for the caller to pop)."""
    from benchmarks.metrics import best_so_far

    study = optuna.create_study(
        study_name=name,
        directions=[StudyDirection[objective.direction.upper()]],
        sampler=sampler,
        pruner=optuna.pruners.NopPruner(),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, catch=CAUGHT)
    wall = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False)
    values = [t.value if t.state == TrialState.COMPLETE else None for t in trials]
    losses = [None if v is None else objective.loss(v) for v in values]
    scores = [
        None if v is None else objective.score(v, t.user_attrs)
        for v, t in zip(values, trials, strict=True)
    ]
    complete = [(loss, i) for i, loss in enumerate(losses) if loss is not None]
    best = None
    if complete:
        i = min(complete)[1]
        best = {"number": i, "value": values[i], "loss": losses[i], "score": scores[i],
                "params": trials[i].params}
    return study, {
        "trials": trials,
        "states": [t.state.name for t in trials],
        "values": [_finite(v) for v in values],
        "losses": [_finite(v) for v in losses],
        "best_loss": [_finite(v) for v in best_so_far(losses)],
        "scores": [_finite(v) for v in scores],
        "best": best,
        "sampler_seconds": sampler.seconds_per_trial(len(trials)),
        "trial_seconds": [
            t.duration.total_seconds() if t.duration is not None else None for t in trials
        ],
        "wall_seconds": wall,
    }


def execute_run(spec: RunSpec) -> RunOutput:
    """Runs one (task, sampler, seed) in memory and builds its record (worker side)."""
    from benchmarks.objectives import make_objective
    from benchmarks.samplers import TimedSampler
    from benchmarks.samplers import make_sampler

    objective = make_objective(spec.task.family, seed=spec.seed, **spec.task.options)
    sampler = TimedSampler(make_sampler(spec.sampler, spec.sampler_seed))
    study, run = run_study(spec.study_name, objective, sampler, spec.task.n_trials)
    trials = run.pop("trials")
    attr_names = sorted(
        {k for t in trials for k, v in t.user_attrs.items() if _finite(v) is not None}
    )
    record = {
        "schema": SCHEMA,
        "task": spec.task.name, "family": spec.task.family, "options": spec.task.options,
        "sampler": spec.sampler, "sampler_repr": str(sampler), "seed": spec.seed,
        "sampler_seed": spec.sampler_seed,
        "n_trials": spec.task.n_trials, "study_name": spec.study_name,
        "direction": objective.direction, "loss_label": objective.loss_label,
        "score_label": objective.score_label,
        "optimum": _finite(getattr(objective, "optimum", None)),
        **run,
        "user_attrs": {k: [_finite(t.user_attrs.get(k)) for t in trials] for k in attr_names},
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    # Read as optuna.copy_study does: Study has no public accessor for system attributes.
    system_attrs = study._storage.get_study_system_attrs(study._study_id)
    return RunOutput(record, trials, dict(study.user_attrs), dict(system_attrs))


def _init_worker() -> None:
    """One compute thread per worker process, quiet logs."""
    import warnings

    import torch

    for name in THREAD_ENV:
        os.environ[name] = "1"
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before any parallel work
        torch.set_num_interop_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="monai")


@contextlib.contextmanager
def _single_thread_env() -> Iterator[None]:
    """Thread variables set while worker processes start (they read them at import)."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update(dict.fromkeys(THREAD_ENV, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_in_workers(
    work: Callable[[Item], Result],
    items: Sequence[Item],
    finish: Callable[[Item, Result], None],
    *,
    jobs: int,
    progress: Progress,
    task_id: TaskID,
    name: Callable[[Item], str],
) -> list[str]:
    """``work(item)`` for every item in ``min(jobs, len(items))`` spawned worker processes (one
    torch/BLAS thread each), then ``finish(item, result)`` here as each one completes, in the
    order they complete; advances ``task_id`` by one per item.

    ``work`` and the items must pickle (``work`` a module-level function). Returns the failures
    as ``"<name>: <error type>: <message>"``: an error in ``work`` or ``finish`` fails that item
    only. Ctrl-C drops the queue; what ``finish`` stored stays, for a rerun to resume from.
    """
    failed: list[str] = []
    if not items:
        return failed
    with contextlib.ExitStack() as stack:
        stack.enter_context(_single_thread_env())
        pool = stack.enter_context(ProcessPoolExecutor(
            max_workers=min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        ))
        pending: dict[Future[Result], Item] = {pool.submit(work, item): item for item in items}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    try:
                        finish(item, future.result())
                    except Exception as error:  # one broken item must not stop the others
                        failed.append(f"{name(item)}: {type(error).__name__}: {error}")
                        progress.console.print(f"[red]failed[/red] {failed[-1]}")
                    progress.update(task_id, advance=1, description=name(item))
        except BaseException:  # Ctrl-C: keep what is recorded, drop the queue, resume later
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return failed


def make_storage(url: str) -> BaseStorage:
    """The storage ``optuna_hypera.storages.make_storage`` builds for ``url``, without a
    heartbeat (SQLite with a 60 s lock timeout, which the dashboard reading it needs).

    A ``*.log`` path is a journal file: copying one of HyperaSampler's 1000-trial studies of
    30 parameters took 1.4 s into a journal file and 48 s into SQLite (one transaction per
    trial) on the 2-core machine (0.16), and storing is the parent's work, so the ``long``
    suite runs several times faster with its studies in a journal file.
    """
    from optuna_hypera.storages import make_storage as any_storage

    return any_storage(url, heartbeat_interval=None)


def store_study(storage: BaseStorage, spec: RunSpec, output: RunOutput) -> None:
    """Copies a finished run into ``storage`` as ``spec.study_name``, replacing a stale one."""
    directions = [output.record["direction"]]
    try:
        study = optuna.create_study(
            storage=storage, study_name=spec.study_name, directions=directions
        )
    except optuna.exceptions.DuplicatedStudyError:  # from an interrupted or outdated run
        optuna.delete_study(study_name=spec.study_name, storage=storage)
        study = optuna.create_study(
            storage=storage, study_name=spec.study_name, directions=directions
        )
    for key, value in output.study_user_attrs.items():
        study.set_user_attr(key, value)
    for key, value in output.study_system_attrs.items():
        storage.set_study_system_attr(study._study_id, key, value)
    study.set_user_attr("benchmark", {"task": spec.task.name, "sampler": spec.sampler,
                                      "seed": spec.seed})
    study.add_trials(output.trials)


def load_records(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Records of ``results.jsonl`` keyed by (task, sampler, seed); a later line wins."""
    records: dict[tuple[str, str, int], dict[str, Any]] = {}
    if not path.exists():
        return records
    with path.open() as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                records[(record["task"], record["sampler"], record["seed"])] = record
    return records


def is_done(record: dict[str, Any] | None, spec: RunSpec) -> bool:
    """Whether ``record`` is a result of ``spec`` at the suite's current budget and size."""
    return (
        record is not None
        and record.get("schema") == SCHEMA
        and record["n_trials"] == spec.task.n_trials
        and record["options"] == json.loads(json.dumps(spec.task.options))
        and record.get("sampler_seed", record["seed"]) == spec.sampler_seed
    )


def append_record(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class RunSummary:
    """What :func:`run_suite` did."""

    planned: int
    skipped: int
    completed: int
    failed: list[str]
    wall_seconds: float


def run_suite(
    runs: Sequence[RunSpec],
    *,
    out_dir: Path,
    storage_url: str,
    jobs: int = 1,
    command: str = "",
    suite_name: str = "",
    progress: bool = True,
) -> RunSummary:
    """Executes the runs not yet recorded in ``out_dir/results.jsonl`` on ``jobs`` processes."""
    from rich.progress import Progress

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / RESULTS_FILE
    existing = load_records(results)
    todo = [spec for spec in runs if not is_done(existing.get(spec.key), spec)]
    storage = make_storage(storage_url)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start = time.perf_counter()

    def finish(spec: RunSpec, output: RunOutput) -> None:
        store_study(storage, spec, output)
        append_record(results, output.record)

    with Progress(disable=not progress, transient=False) as bar:
        task_id = bar.add_task(f"{suite_name or 'runs'}", total=len(runs),
                               completed=len(runs) - len(todo))
        failed = run_in_workers(execute_run, todo, finish, jobs=jobs, progress=bar,
                                task_id=task_id, name=lambda spec: spec.study_name)
    completed = len(todo) - len(failed)
    wall = time.perf_counter() - start
    update_meta(out_dir, {
        "command": command, "suite": suite_name, "jobs": jobs, "storage": storage_url,
        "started": started, "wall_seconds": wall, "runs_planned": len(runs),
        "runs_executed": completed, "runs_failed": len(failed), "machine": machine_info(),
    })
    return RunSummary(len(runs), len(runs) - len(todo), completed, failed, wall)
