"""Runs of :mod:`benchmarks.pruning`: one sampler under one pruner until an epoch budget is spent.

A run optimises an in-memory study in a worker process of :func:`benchmarks.runner.
run_in_workers` (one torch/BLAS thread each). A callback adds each finished trial's epochs (the
steps it reported: a pruned trial pays for the epochs it trained, a complete one for all of
them) and calls ``study.stop()`` once the budget is reached, so the last trial may overshoot by
less than one full training; the record keeps the exact epochs consumed. The parent alone
appends to ``results.jsonl``; a rerun skips the runs recorded at the same budget and options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import datetime
import json
import math
from pathlib import Path
import time
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.runner import CAUGHT
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import append_record
from benchmarks.runner import design_seed
from benchmarks.runner import run_in_workers


SCHEMA = 1
PRUNERS = ("none", "median", "hyperband", "percentile")
DEFAULT_PRUNERS = PRUNERS[:3]
"""What a run covers unless told: ``percentile`` (the 25th percentile, a stricter bar than the
median's) is asked for by name."""
PERCENTILE = 25.0
MEDIAN_STARTUP_TRIALS = 5
REDUCTION_FACTOR = 3
MAX_TRIALS_PER_EPOCH = 2
"""Safety cap on trials (``2 x budget``): trials that fail before their first report cost no
epoch, and a sampler stuck on such points must not loop forever."""


@dataclass(frozen=True)
class PruningTask:
    """An objective with a fixed epoch count per full training and an epoch budget per run."""

    name: str
    group: str
    """Tasks of one group share a table: ranks are pooled over their (task, seed) pairs."""
    family: str
    """Objective family of :func:`benchmarks.objectives.make_objective`."""
    max_steps: int
    """Epochs of one full training (Hyperband's ``max_resource``)."""
    budget: int
    """Epochs per run."""
    first_step: int = 1
    """The step index of the first epoch's report: curves count from 1, digits and MONAI
    report the 0-based epoch index."""
    options: dict[str, Any] = field(default_factory=dict)
    gpu_only: bool = False
    """Too slow on CPU: run only when asked for by name, on a GPU machine."""

    @property
    def warmup_epochs(self) -> int:
        """Epochs ``MedianPruner`` always lets a trial train (a fifth of a full training)."""
        return max(1, self.max_steps // 5)


@dataclass(frozen=True)
class PruningSpec:
    """One run: a task, a sampler, a pruner and a seed (sampler seed and objective seed)."""

    task: PruningTask
    sampler: str
    pruner: str
    seed: int
    design_seeds: bool = False
    """As :class:`benchmarks.runner.RunSpec`'s: ``True`` draws the sampler's seed from (task
    name, seed), the same for every sampler and pruner of the pair, while the seed still fixes
    the objective (and, through the study name, Hyperband's brackets)."""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.task.name, self.sampler, self.pruner, self.seed)

    @property
    def sampler_seed(self) -> int:
        return design_seed(self.task.name, self.seed) if self.design_seeds else self.seed

    @property
    def study_name(self) -> str:
        """The same for every sampler of a (task, pruner, seed): ``HyperbandPruner`` hashes
        the study name and trial number to assign brackets, so samplers see the same brackets."""
        return f"pruning/{self.task.name}/{self.pruner}/seed{self.seed}"

    @property
    def label(self) -> str:
        return f"{self.task.name}/{self.pruner}/{self.sampler}/seed{self.seed}"


def make_pruner(name: str, task: PruningTask) -> BasePruner:
    """The pruner ``name`` sized for ``task``."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # n_warmup_steps is a step index: pruning may start at the warmup_epochs-th epoch.
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP_TRIALS,
            n_warmup_steps=task.warmup_epochs - 1 + task.first_step,
        )
    if name == "percentile":
        return optuna.pruners.PercentilePruner(
            PERCENTILE, n_startup_trials=MEDIAN_STARTUP_TRIALS,
            n_warmup_steps=task.warmup_epochs - 1 + task.first_step,
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=task.max_steps, reduction_factor=REDUCTION_FACTOR
        )
    raise ValueError(f"Unknown pruner {name!r}; choose from {list(PRUNERS)}.")


def epochs_used(trial: FrozenTrial) -> int:
    """Epochs a trial trained: the steps it reported."""
    return len(trial.intermediate_values)


class EpochBudget:
    """Study callback: stops the study once the trials' epochs reach ``budget``."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.used += epochs_used(trial)
        if self.used >= self.budget:
            study.stop()


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _trial_entry(trial: FrozenTrial, objective: Any) -> dict[str, Any]:
    steps = trial.intermediate_values
    last = steps[max(steps)] if steps else None
    complete = trial.state == TrialState.COMPLETE and trial.value is not None
    entry = {
        "number": trial.number, "state": trial.state.name, "epochs": epochs_used(trial),
        "value": _finite(trial.value) if complete else None,
        "loss": _finite(objective.loss(trial.value)) if complete else None,
        "last": _finite(last),
    }
    noise_free = trial.user_attrs.get("noise_free_loss")
    if noise_free is not None:
        entry["noise_free"] = _finite(noise_free)
    return entry


def best_curve(trials: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Cumulative epochs after each trial and the best complete loss so far (``None``
    before the first complete trial)."""
    epochs, best, used, low = [], [], 0, math.inf
    for entry in trials:
        used += entry["epochs"]
        if entry["loss"] is not None:
            low = min(low, entry["loss"])
        epochs.append(used)
        best.append(low if math.isfinite(low) else None)
    return {"epochs": epochs, "best": best}


def execute_pruning_run(spec: PruningSpec) -> dict[str, Any]:
    """Runs one spec in memory (worker side) and returns its record."""
    from benchmarks.objectives import make_objective
    from benchmarks.samplers import TimedSampler
    from benchmarks.samplers import make_sampler

    task = spec.task
    objective = make_objective(task.family, seed=spec.seed, **task.options)
    sampler = TimedSampler(make_sampler(spec.sampler, spec.sampler_seed))
    study = optuna.create_study(
        study_name=spec.study_name,
        directions=[StudyDirection[objective.direction.upper()]],
        sampler=sampler, pruner=make_pruner(spec.pruner, task),
    )
    budget = EpochBudget(task.budget)
    start = time.perf_counter()
    study.optimize(objective, n_trials=MAX_TRIALS_PER_EPOCH * task.budget, catch=CAUGHT,
                   callbacks=[budget])
    wall = time.perf_counter() - start
    frozen = study.get_trials(deepcopy=False)
    trials = [_trial_entry(t, objective) for t in frozen]
    states = [t.state for t in frozen]
    return {
        "schema": SCHEMA, **record_key(spec), "sampler_seed": spec.sampler_seed,
        "group": task.group, "family": task.family,
        "options": task.options, "budget": task.budget, "max_steps": task.max_steps,
        "study_name": spec.study_name, "direction": objective.direction,
        "loss_label": objective.loss_label, "sampler_repr": str(sampler),
        "pruner_repr": type(study.pruner).__name__,
        "epochs_used": budget.used, "n_trials": len(trials),
        "n_complete": states.count(TrialState.COMPLETE),
        "n_pruned": states.count(TrialState.PRUNED), "n_failed": states.count(TrialState.FAIL),
        "trials": trials, "curve": best_curve(trials),
        "sampler_seconds": sum(sampler.seconds_per_trial(len(trials))),
        "wall_seconds": wall,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def record_key(spec: PruningSpec) -> dict[str, Any]:
    return {"task": spec.task.name, "sampler": spec.sampler, "pruner": spec.pruner,
            "seed": spec.seed}


def load_pruning_records(path: Path) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """Records of ``results.jsonl`` by (task, sampler, pruner, seed); a later line wins."""
    records: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    if not path.exists():
        return records
    with path.open() as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                records[(r["task"], r["sampler"], r["pruner"], r["seed"])] = r
    return records


def is_current(record: dict[str, Any] | None, spec: PruningSpec) -> bool:
    """Whether ``record`` is a result of ``spec`` at its current budget, size, options and
    sampler seed (a record of the other seeding is rerun, not reused)."""
    return (
        record is not None
        and record.get("schema") == SCHEMA
        and record["budget"] == spec.task.budget
        and record["max_steps"] == spec.task.max_steps
        and record["options"] == json.loads(json.dumps(spec.task.options))
        and record.get("sampler_seed", record["seed"]) == spec.sampler_seed
    )


@dataclass
class RunOutcome:
    """What :func:`run_pruning` did."""

    planned: int
    skipped: int
    completed: int
    failed: list[str]
    wall_seconds: float


def run_pruning(
    specs: Sequence[PruningSpec], *, out_dir: Path, jobs: int, progress: bool = True
) -> RunOutcome:
    """Executes the specs not yet in ``out_dir/results.jsonl`` on ``jobs`` worker processes."""
    from rich.progress import Progress

    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / RESULTS_FILE
    existing = load_pruning_records(results)
    todo = [s for s in specs if not is_current(existing.get(s.key), s)]
    start = time.perf_counter()

    def finish(spec: PruningSpec, record: dict[str, Any]) -> None:
        append_record(results, record)

    with Progress(disable=not progress, transient=False) as bar:
        task_id = bar.add_task("pruning", total=len(specs), completed=len(specs) - len(todo))
        failed = run_in_workers(execute_pruning_run, todo, finish, jobs=jobs, progress=bar,
                                task_id=task_id, name=lambda spec: spec.label)
    return RunOutcome(len(specs), len(specs) - len(todo), len(todo) - len(failed), failed,
                      time.perf_counter() - start)
