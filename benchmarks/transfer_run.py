"""The transfer benchmark's execution: source studies, then target runs, in worker processes.

Both go through :func:`benchmarks.runner.run_in_workers` (spawned workers, one torch/BLAS
thread each, in-memory studies); this process alone writes ``sources.db``, ``studies.db`` and
``results.jsonl``, so a rerun resumes the sources and skips the recorded runs.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.runner import CAUGHT
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import SCHEMA
from benchmarks.runner import THREAD_ENV
from benchmarks.runner import RunOutput
from benchmarks.runner import append_record
from benchmarks.runner import is_done
from benchmarks.runner import load_records
from benchmarks.runner import make_storage
from benchmarks.runner import run_in_workers
from benchmarks.runner import run_study
from benchmarks.runner import store_study
from benchmarks.samplers import TimedSampler
from benchmarks.transfer_plan import CANNOT_RUN
from benchmarks.transfer_plan import FLIPPED
from benchmarks.transfer_plan import STUDIES_DB
from benchmarks.transfer_plan import TRANSFER
from benchmarks.transfer_plan import WS_CMAES
from benchmarks.transfer_plan import SourceSpec
from benchmarks.transfer_plan import TransferSpec
from benchmarks.transfer_plan import cannot_run_reason
from benchmarks.transfer_plan import check_transfer_samplers
from benchmarks.transfer_plan import flipped_name
from benchmarks.transfer_plan import source_name


if TYPE_CHECKING:
    from rich.progress import Progress


WS_CMAES_MIN_SOURCES = 10
"""WS-CMA-ES keeps the best 10% of the source trials and needs at least one."""


def make_transfer_sampler(
    name: str,
    seed: int,
    *,
    sources: Sequence[optuna.Study] = (),
    flipped: Sequence[optuna.Study] = (),
) -> BaseSampler:
    """The sampler ``name`` seeded with ``seed``, given the other members' source studies."""
    if name in (TRANSFER, FLIPPED):
        check_transfer_samplers([name])
        from optuna_hypera import HyperaSampler

        return HyperaSampler(seed=seed,
                             source_studies=list(sources if name == TRANSFER else flipped))
    if name == WS_CMAES:
        trials = [
            t for s in sources for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ]
        if len(trials) < WS_CMAES_MIN_SOURCES:
            raise ValueError(
                f"WS-CMA-ES needs at least {WS_CMAES_MIN_SOURCES} complete source trials, "
                f"got {len(trials)}."
            )
        return optuna.samplers.CmaEsSampler(
            seed=seed, source_trials=trials, warn_independent_sampling=False
        )
    from benchmarks.samplers import make_sampler

    return make_sampler(name, seed)


def _objective(member: str, family: str, seed: int, epochs: int | None) -> Any:
    from benchmarks.objectives.tabular_mlp import TabularMLPObjective

    return TabularMLPObjective(member, seed=seed, space=family, epochs=epochs)


@dataclass(frozen=True)
class SourceJob:
    """A source study to continue in a worker: its spec and the finished trials it has."""

    spec: SourceSpec
    done: list[FrozenTrial]


def execute_source(job: SourceJob) -> list[FrozenTrial]:
    """Continues the source study from ``job.done`` to ``n_trials``; returns the new trials."""
    spec, done = job.spec, job.done
    objective = _objective(spec.member, spec.family, spec.seed, spec.epochs)
    study = optuna.create_study(
        study_name=spec.name, direction=objective.direction,
        sampler=optuna.samplers.TPESampler(seed=spec.seed), pruner=optuna.pruners.NopPruner(),
    )
    study.add_trials(done)
    study.optimize(objective, n_trials=spec.n_trials - len(done), catch=CAUGHT)
    return study.get_trials(deepcopy=False)[len(done) :]


def _in_memory(name: str, storage_url: str, n_trials: int) -> optuna.Study:
    """The first ``n_trials`` trials of a stored study, as an in-memory study of that name."""
    stored = optuna.load_study(study_name=name, storage=make_storage(storage_url))
    copy = optuna.create_study(study_name=name, directions=stored.directions)
    copy.add_trials(sorted(stored.get_trials(deepcopy=False), key=lambda t: t.number)[:n_trials])
    return copy


def execute_transfer(spec: TransferSpec) -> RunOutput:
    """Runs one target run in memory and builds its record (worker side)."""
    sources: list[optuna.Study] = []
    flipped: list[optuna.Study] = []
    if spec.sampler in (TRANSFER, WS_CMAES):
        sources = [_in_memory(source_name(spec.family, m), spec.sources_url, spec.source_trials)
                   for m in spec.others]
    if spec.sampler == FLIPPED:
        flipped = [_in_memory(flipped_name(spec.family, m), spec.sources_url, spec.source_trials)
                   for m in spec.others]
    import torch

    objective = _objective(spec.target, spec.family, spec.seed, spec.epochs)
    sampler = TimedSampler(
        make_transfer_sampler(spec.sampler, spec.run_spec().sampler_seed, sources=sources,
                              flipped=flipped)
    )
    study, run = run_study(spec.run_spec().study_name, objective, sampler, spec.n_trials)
    trials = run.pop("trials")
    record = _base_record(spec) | {
        "status": "ok", "sampler_repr": str(sampler),
        "direction": objective.direction, "loss_label": objective.loss_label,
        "score_label": objective.score_label, "fixed_params": objective.fixed_params,
        "source_studies": [
            s.study_name for s in (sources if spec.sampler == TRANSFER else flipped)
        ],
        "source_trials_used": sum(len(s.trials) for s in sources + flipped),
        **run,
        "threads": {"torch": torch.get_num_threads(),
                    **{name: os.environ.get(name) for name in THREAD_ENV}},
    }
    system_attrs = study._storage.get_study_system_attrs(study._study_id)
    return RunOutput(record, trials, dict(study.user_attrs), dict(system_attrs))


def _base_record(spec: TransferSpec) -> dict[str, Any]:
    run_spec = spec.run_spec()
    return {
        "schema": SCHEMA, "task": run_spec.task.name, "family": spec.family,
        "target": spec.target, "sampler": spec.sampler, "seed": spec.seed,
        "sampler_seed": run_spec.sampler_seed,
        "n_trials": spec.n_trials, "options": spec.options, "study_name": run_spec.study_name,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def cannot_run_record(spec: TransferSpec, reason: str) -> dict[str, Any]:
    """The record of a run that cannot run (no trials)."""
    return _base_record(spec) | {"status": CANNOT_RUN, "reason": reason}


def flip_trial(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` with negated values (others as they were); the misleading source's trial."""
    values = None if trial.values is None else [-v for v in trial.values]
    return optuna.trial.create_trial(
        state=trial.state, values=values, params=trial.params,
        distributions=trial.distributions, user_attrs=trial.user_attrs,
        intermediate_values={k: -v for k, v in trial.intermediate_values.items()},
    )


def _sync_flipped(storage: BaseStorage, spec: SourceSpec, trials: list[FrozenTrial]) -> None:
    """(Re)creates the flipped copy of ``trials`` unless it already holds as many trials."""
    name = flipped_name(spec.family, spec.member)
    with contextlib.suppress(KeyError):
        existing = optuna.load_study(study_name=name, storage=storage)
        if len(existing.trials) == len(trials):
            return
        optuna.delete_study(study_name=name, storage=storage)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    study.set_user_attr("flipped_from", spec.name)
    study.add_trials([flip_trial(t) for t in trials])


def ensure_sources(
    specs: Sequence[SourceSpec], *, jobs: int, progress: Progress, failed: list[str]
) -> None:
    """Creates, resumes or reuses every source study and its flipped copy (parent side)."""
    if not specs:
        return
    storage = make_storage(specs[0].storage_url)
    todo: dict[SourceSpec, list[FrozenTrial]] = {}
    for spec in specs:
        try:
            study = optuna.load_study(study_name=spec.name, storage=storage)
        except KeyError:
            study = optuna.create_study(study_name=spec.name, storage=storage,
                                        direction="minimize")
            study.set_user_attr("source", {"member": spec.member, "family": spec.family,
                                           "seed": spec.seed, "sampler": "TPESampler"})
        trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        if len(trials) >= spec.n_trials:
            _sync_flipped(storage, spec, trials[: spec.n_trials])
        else:
            todo[spec] = trials
    if not todo:
        return

    def finish(job: SourceJob, new_trials: list[FrozenTrial]) -> None:
        study = optuna.load_study(study_name=job.spec.name, storage=storage)
        study.add_trials(new_trials)
        _sync_flipped(storage, job.spec, study.get_trials(deepcopy=False)[: job.spec.n_trials])

    task_id = progress.add_task("sources", total=len(todo))
    failed.extend(run_in_workers(
        execute_source, [SourceJob(spec, done) for spec, done in todo.items()], finish,
        jobs=jobs, progress=progress, task_id=task_id, name=lambda job: job.spec.name,
    ))


def run_targets(
    specs: Sequence[TransferSpec], *, out_dir: Path, jobs: int, progress: Progress,
    failed: list[str],
) -> tuple[int, int]:
    """Runs the target runs not yet in ``results.jsonl``; returns (recorded, skipped).

    Runs that cannot run are recorded as such; failures go to ``failed``.
    """
    results = out_dir / RESULTS_FILE
    existing = load_records(results)
    todo = [s for s in specs if not is_done(existing.get(s.run_spec().key), s.run_spec())]
    runnable = []
    for spec in todo:
        reason = cannot_run_reason(spec.sampler, spec.family)
        if reason is None:
            runnable.append(spec)
        else:
            append_record(results, cannot_run_record(spec, reason))
    skipped = len(specs) - len(todo)
    if not runnable:
        return len(todo), skipped
    storage = make_storage(f"sqlite:///{out_dir / STUDIES_DB}")

    def finish(spec: TransferSpec, output: RunOutput) -> None:
        store_study(storage, spec.run_spec(), output)
        append_record(results, output.record)

    task_id = progress.add_task("targets", total=len(runnable))
    errors = run_in_workers(execute_transfer, runnable, finish, jobs=jobs, progress=progress,
                            task_id=task_id, name=lambda spec: spec.run_spec().study_name)
    failed.extend(errors)
    return len(todo) - len(errors), skipped
