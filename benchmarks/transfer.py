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

Runs execute like :mod:`benchmarks.runner`'s: in ``--jobs`` spawned worker processes with one
torch/BLAS thread each, in-memory studies, ``NopPruner``; the parent alone writes
``results.jsonl`` (one record per run, resumable), ``studies.db`` (every target study) and
``sources.db``. ``--report-only`` rebuilds the summary from ``results.jsonl``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
import contextlib
from dataclasses import dataclass
import datetime
import inspect
import json
import math
import multiprocessing
import os
from pathlib import Path
import shlex
import sys
import time
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks import metrics
from benchmarks.objectives.tabular_mlp import DATASETS
from benchmarks.objectives.tabular_mlp import NUMERIC_FIXED
from benchmarks.objectives.tabular_mlp import SPACES
from benchmarks.report import _json_safe
from benchmarks.runner import CAUGHT
from benchmarks.runner import META_FILE
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import SCHEMA
from benchmarks.runner import THREAD_ENV
from benchmarks.runner import RunOutput
from benchmarks.runner import RunSpec
from benchmarks.runner import _init_worker
from benchmarks.runner import _single_thread_env
from benchmarks.runner import append_record
from benchmarks.runner import is_done
from benchmarks.runner import load_records
from benchmarks.runner import machine_info
from benchmarks.runner import make_storage
from benchmarks.runner import run_study
from benchmarks.runner import store_study
from benchmarks.runner import update_meta
from benchmarks.samplers import SAMPLER_NAMES
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import TimedSampler
from benchmarks.samplers import check_samplers
from benchmarks.samplers import hypera_import_error
from benchmarks.suites import Task
from benchmarks.summary_md import _table
from benchmarks.summary_md import fmt


MEMBERS = ("digits", "wine", "breast_cancer", "iris")
"""The default family members (``digits_small`` is available through ``--members``)."""
TRANSFER = "hypera-transfer"
FLIPPED = "hypera-flipped"
REFERENCE = "hypera"
WS_CMAES = "ws-cmaes"
SAMPLERS = (TRANSFER, FLIPPED, REFERENCE, "tpe", "gp", WS_CMAES)
"""The default samplers, in table order."""
SOURCE_SEED = 1000
"""Source study of member ``i`` (index in ``DATASETS``): sampler and objective seed 1000+i."""
SOURCES_DB = "sources.db"
STUDIES_DB = "studies.db"
CANNOT_RUN = "cannot run"
WS_CMAES_MIN_SOURCES = 10
"""WS-CMA-ES keeps the best 10% of the source trials and needs at least one."""

Pair = tuple[str, int]
"""A (target member, seed) pair: the unit that samplers are ranked on."""


# ----------------------------------------------------------------------------- samplers


def source_studies_supported() -> bool:
    """Whether ``HyperaSampler`` imports and its constructor takes ``source_studies``."""
    if hypera_import_error() is not None:
        return False
    from optuna_hypera import HyperaSampler

    return "source_studies" in inspect.signature(HyperaSampler).parameters


def check_transfer_samplers(names: Sequence[str]) -> None:
    """``ValueError`` for unknown names, :class:`SamplerUnavailableError` for missing ones."""
    extra = (TRANSFER, FLIPPED, WS_CMAES)
    unknown = [n for n in names if n not in extra and n not in SAMPLER_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown sampler(s) {unknown}; choose from {[*extra, *SAMPLER_NAMES]}."
        )
    if not names:
        raise ValueError("No samplers given.")
    check_samplers([n for n in names if n not in extra])
    needs_sources = [n for n in names if n in (TRANSFER, FLIPPED)]
    if needs_sources and not source_studies_supported():
        why = hypera_import_error() or "HyperaSampler.__init__ has no `source_studies` argument"
        raise SamplerUnavailableError(
            f"{needs_sources} need HyperaSampler(source_studies=...): {why}. Drop them with "
            f"--samplers, e.g. --samplers {','.join(n for n in names if n not in needs_sources)}."
        )


def cannot_run_reason(sampler: str, space: str) -> str | None:
    """Why ``sampler`` cannot run in ``space``, or ``None`` when it can."""
    if sampler == WS_CMAES and space != "numeric":
        return (
            "WS-CMA-ES (CmaEsSampler with source_trials) handles only numeric parameters; "
            "this space has categorical ones"
        )
    return None


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


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Setup:
    """What one invocation asks for."""

    families: tuple[str, ...]
    members: tuple[str, ...]
    samplers: tuple[str, ...]
    seeds: int
    trials: int
    source_trials: int
    epochs: int | None = None
    """Training epochs of every member; ``None``: each data set's default (tests use fewer)."""


@dataclass(frozen=True)
class SourceSpec:
    """The source study of one member in one family, and where it is stored."""

    family: str
    member: str
    n_trials: int
    storage_url: str
    epochs: int | None = None

    @property
    def seed(self) -> int:
        return SOURCE_SEED + list(DATASETS).index(self.member)

    @property
    def name(self) -> str:
        return source_name(self.family, self.member)


def source_name(family: str, member: str) -> str:
    return f"source/{family}/{member}"


def flipped_name(family: str, member: str) -> str:
    return f"flipped/{family}/{member}"


@dataclass(frozen=True)
class TransferSpec:
    """One target run: a member of a family optimised by one sampler with one seed."""

    family: str
    target: str
    sampler: str
    seed: int
    n_trials: int
    members: tuple[str, ...]
    source_trials: int
    sources_url: str
    epochs: int | None = None

    @property
    def others(self) -> list[str]:
        return [m for m in self.members if m != self.target]

    @property
    def options(self) -> dict[str, Any]:
        """What the result depends on besides (task, sampler, seed, trials)."""
        return {
            "dataset": self.target, "space": self.family, "members": list(self.members),
            "sources": self.others, "source_trials": self.source_trials, "epochs": self.epochs,
        }

    def run_spec(self) -> RunSpec:
        """The runner's spec: task ``<family>-<target>``, study ``<task>/<sampler>/seed<k>``."""
        task = Task(f"{self.family}-{self.target}", self.family, self.n_trials, self.options)
        return RunSpec(task, self.sampler, self.seed)


def plan(setup: Setup, out_dir: Path) -> tuple[list[SourceSpec], list[TransferSpec]]:
    """Source studies, then target runs in seed-major order (an interrupted run has all
    samplers on its first seeds)."""
    unknown = [f for f in setup.families if f not in SPACES]
    if unknown:
        raise ValueError(f"Unknown famil(ies) {unknown}; expected some of {SPACES}.")
    bad = [m for m in setup.members if m not in DATASETS]
    if bad:
        raise ValueError(f"Unknown member(s) {bad}; expected some of {list(DATASETS)}.")
    if len(set(setup.members)) < 2:
        raise ValueError("Leave-one-out needs at least two distinct members.")
    if setup.seeds < 1 or setup.trials < 1 or setup.source_trials < 1:
        raise ValueError("--seeds, --trials and --source-trials must be >= 1.")
    check_transfer_samplers(setup.samplers)
    url = f"sqlite:///{out_dir / SOURCES_DB}"
    uses_sources = any(cannot_run_reason(s, f) is None and s in (TRANSFER, FLIPPED, WS_CMAES)
                       for s in setup.samplers for f in setup.families)
    sources = [
        SourceSpec(f, m, setup.source_trials, url, setup.epochs)
        for f in setup.families for m in setup.members
    ] if uses_sources else []
    runs = [
        TransferSpec(f, m, s, k, setup.trials, setup.members, setup.source_trials, url,
                     setup.epochs)
        for k in range(setup.seeds)
        for f in setup.families
        for m in setup.members
        for s in setup.samplers
    ]
    return sources, runs


# ----------------------------------------------------------------------------- workers


def _objective(member: str, family: str, seed: int, epochs: int | None) -> Any:
    from benchmarks.objectives.tabular_mlp import TabularMLPObjective

    return TabularMLPObjective(member, seed=seed, space=family, epochs=epochs)


def execute_source(spec: SourceSpec, done: list[FrozenTrial]) -> list[FrozenTrial]:
    """Continues the source study from ``done`` to ``spec.n_trials``; returns the new trials."""
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
        make_transfer_sampler(spec.sampler, spec.seed, sources=sources, flipped=flipped)
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
        "n_trials": spec.n_trials, "options": spec.options, "study_name": run_spec.study_name,
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def cannot_run_record(spec: TransferSpec, reason: str) -> dict[str, Any]:
    """The record of a run that cannot run (no trials)."""
    return _base_record(spec) | {"status": CANNOT_RUN, "reason": reason}


# ----------------------------------------------------------------------------- parent


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


@contextlib.contextmanager
def _pool(jobs: int, n_tasks: int) -> Iterator[ProcessPoolExecutor]:
    with _single_thread_env(), ProcessPoolExecutor(
        max_workers=max(1, min(jobs, n_tasks)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
    ) as pool:
        try:
            yield pool
        except BaseException:  # Ctrl-C: keep what is stored, drop the queue, resume later
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def ensure_sources(
    specs: Sequence[SourceSpec], *, jobs: int, progress: Any, failed: list[str]
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
    task_id = progress.add_task("sources", total=len(todo))
    with _pool(jobs, len(todo)) as pool:
        pending: dict[Future[list[FrozenTrial]], SourceSpec] = {
            pool.submit(execute_source, spec, done): spec for spec, done in todo.items()
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = pending.pop(future)
                try:
                    study = optuna.load_study(study_name=spec.name, storage=storage)
                    study.add_trials(future.result())
                    _sync_flipped(storage, spec, study.get_trials(deepcopy=False)[: spec.n_trials])
                except Exception as error:  # one broken source must not stop the others
                    failed.append(f"{spec.name}: {type(error).__name__}: {error}")
                    progress.console.print(f"[red]failed[/red] {failed[-1]}")
                progress.update(task_id, advance=1, description=spec.name)


def run_targets(
    specs: Sequence[TransferSpec], *, out_dir: Path, jobs: int, progress: Any, failed: list[str]
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
    recorded = len(todo) - len(runnable)
    if not runnable:
        return recorded, len(specs) - len(todo)
    storage = make_storage(f"sqlite:///{out_dir / STUDIES_DB}")
    task_id = progress.add_task("targets", total=len(runnable))
    with _pool(jobs, len(runnable)) as pool:
        pending: dict[Future[RunOutput], TransferSpec] = {
            pool.submit(execute_transfer, spec): spec for spec in runnable
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = pending.pop(future)
                name = spec.run_spec().study_name
                try:
                    output = future.result()
                    store_study(storage, spec.run_spec(), output)
                    append_record(results, output.record)
                    recorded += 1
                except Exception as error:  # one broken run must not stop the others
                    failed.append(f"{name}: {type(error).__name__}: {error}")
                    progress.console.print(f"[red]failed[/red] {failed[-1]}")
                progress.update(task_id, advance=1, description=name)
    return recorded, len(specs) - len(todo)


# ----------------------------------------------------------------------------- metrics


def mean_final_ranks(finals: Mapping[str, Mapping[Pair, float]]) -> tuple[dict[str, float], int]:
    """Mean rank (1 = best, ties averaged) of each sampler's final loss over the pairs every
    sampler ran, and the number of those pairs."""
    samplers = list(finals)
    pairs = sorted(set.intersection(*(set(finals[s]) for s in samplers))) if samplers else []
    index = {pair: i for i, pair in enumerate(pairs)}
    by_int = {s: {index[p]: finals[s][p] for p in pairs} for s in samplers}
    return metrics.mean_ranks(by_int), len(pairs)


def trials_to_reach(
    curves: Mapping[str, Mapping[Pair, Sequence[float]]], reference: str
) -> dict[str, dict[Pair, int | None]]:
    """Per sampler and pair, the first trial (1-based) whose best-so-far is at most the
    reference sampler's final best on that pair; ``None``: never (censored)."""
    targets = {pair: curve[-1] for pair, curve in curves[reference].items()}
    return {
        s: {p: metrics.trials_to_target(c, targets[p]) for p, c in per.items() if p in targets}
        for s, per in curves.items()
    }


def censored_median(trials: Sequence[int | None]) -> float:
    """Median of trial counts where ``None`` (never reached) counts as ``inf``; nan if empty."""
    if not trials:
        return math.nan
    return metrics.median([math.inf if t is None else float(t) for t in trials])


def head_to_head(first: Mapping[Pair, float], second: Mapping[Pair, float]) -> dict[str, int]:
    """On the pairs both ran: how often ``first`` ends better (lower), worse or tied."""
    counts = {"better": 0, "worse": 0, "tied": 0}
    for pair in first.keys() & second.keys():
        a, b = first[pair], second[pair]
        counts["better" if a < b else "worse" if a > b else "tied"] += 1
    return counts


def normalized_curve(curve: Sequence[float], low: float, high: float) -> list[float]:
    """``(curve - low) / (high - low)``; all zeros when ``high <= low``."""
    if not high > low:
        return [0.0 for _ in curve]
    return [(v - low) / (high - low) for v in curve]


# ----------------------------------------------------------------------------- summary


def _floats(values: Sequence[float | None]) -> list[float]:
    return [math.inf if v is None else float(v) for v in values]


def sampler_order(names: Sequence[str] | set[str]) -> list[str]:
    """The default samplers in table order, then the rest alphabetically."""
    known = {n: i for i, n in enumerate(SAMPLERS)}
    return sorted(set(names), key=lambda n: (known.get(n, len(known)), n))


def summarize_family(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every metric of one family's records (all of one family)."""
    ok = [r for r in records if r.get("status", "ok") == "ok"]
    cannot = {r["sampler"]: r["reason"] for r in records if r.get("status") == CANNOT_RUN}
    samplers = sampler_order({r["sampler"] for r in ok})
    curves: dict[str, dict[Pair, list[float]]] = {s: {} for s in samplers}
    losses: dict[Pair, list[float]] = {}
    for r in ok:
        pair = (r["target"], r["seed"])
        curves[r["sampler"]][pair] = _floats(r["best_loss"])
        losses.setdefault(pair, []).extend(v for v in r["losses"] if v is not None)
    all_pairs = sorted({(r["target"], r["seed"]) for r in records})
    finals = {s: {p: c[-1] for p, c in curves[s].items()} for s in samplers}
    ranks, n_pairs = mean_final_ranks(finals)
    common = set.intersection(*(set(finals[s]) for s in samplers)) if samplers else set()
    out: dict[str, Any] = {
        "samplers": samplers, "cannot_run": cannot, "pairs": n_pairs,
        "pairs_planned": len(all_pairs),
        "targets": sorted({p[0] for p in all_pairs}),
        "seeds": sorted({p[1] for p in all_pairs}),
        "n_trials": max((r["n_trials"] for r in records), default=0),
        "source_trials": next((r["options"]["source_trials"] for r in records), None),
        "mean_rank": ranks,
        "final_loss_median": {
            s: metrics.median([finals[s][p] for p in common]) if common else math.nan
            for s in samplers
        },
        "per_target": {
            t: {s: metrics.median([finals[s][p] for p in common if p[0] == t])
                for s in samplers}
            for t in sorted({p[0] for p in common})
        },
        "sampler_seconds_per_trial": {
            s: metrics.median([
                sum(r["sampler_seconds"]) / len(r["sampler_seconds"])
                for r in ok if r["sampler"] == s and r["sampler_seconds"]
            ] or [math.nan])
            for s in samplers
        },
        "wall_seconds_per_run": {
            s: metrics.median([r["wall_seconds"] for r in ok if r["sampler"] == s])
            for s in samplers
        },
    }
    if REFERENCE in samplers and common:
        n_trials = out["n_trials"]
        common_curves = {s: {p: curves[s][p] for p in common} for s in samplers}
        reach = trials_to_reach(common_curves, REFERENCE)
        medians = {s: censored_median(list(reach[s].values())) for s in samplers}
        base = medians.get(TRANSFER, math.nan)
        out["trials_to_reach"] = {}
        for s in samplers:
            ratio, lower_bound = math.nan, False
            if math.isfinite(base):
                if math.isinf(medians[s]):  # censored: at least n_trials + 1 trials
                    ratio, lower_bound = (n_trials + 1) / base, True
                else:
                    ratio = medians[s] / base
            out["trials_to_reach"][s] = {
                "median": medians[s], "ratio_to_transfer": ratio,
                "ratio_is_lower_bound": lower_bound,
                "reached": sum(t is not None for t in reach[s].values()), "pairs": len(reach[s]),
            }
    out["head_to_head"] = {
        f"{a} vs {b}": head_to_head({p: finals[a][p] for p in common},
                                    {p: finals[b][p] for p in common})
        for a, b in ((FLIPPED, REFERENCE), (TRANSFER, REFERENCE), (TRANSFER, FLIPPED))
        if a in samplers and b in samplers
    }
    pair_ranks: dict[str, float] = {}
    if FLIPPED in samplers and REFERENCE in samplers:
        pair_ranks, _ = mean_final_ranks({s: {p: finals[s][p] for p in common}
                                          for s in (FLIPPED, REFERENCE)})
    out["flipped_vs_none_mean_rank"] = pair_ranks
    # Normalised best-so-far per pair: 0 = best final loss of any sampler on that pair,
    # 1 = the pair's median trial loss (all samplers' trials).
    norm: dict[str, list[list[float]]] = {s: [] for s in samplers}
    for pair in sorted(common):
        low = min(finals[s][pair] for s in samplers)
        high = metrics.median(losses[pair]) if losses.get(pair) else low
        for s in samplers:
            norm[s].append(normalized_curve(curves[s][pair], low, high))
    out["normalized_median_curve"] = {
        s: metrics.curve_band(c)[0].tolist() if c else [] for s, c in norm.items()
    }
    return out


def summarize_transfer(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary as plain data: one entry per family (in ``SPACES`` order)."""
    families = [f for f in ("numeric", "full") if any(r["family"] == f for r in records)]
    families += sorted({r["family"] for r in records} - set(families))
    threads = {json.dumps(r["threads"], sort_keys=True) for r in records if "threads" in r}
    return {
        "families": {
            f: summarize_family([r for r in records if r["family"] == f]) for f in families
        },
        "threads_in_runs": [json.loads(t) for t in sorted(threads)],
    }


def _trials_cell(entry: dict[str, Any], n_trials: int) -> str:
    median = entry["median"]
    return f">{n_trials}" if math.isinf(median) else fmt(median)


def _ratio_cell(entry: dict[str, Any]) -> str:
    text = fmt(entry["ratio_to_transfer"])
    return f">= {text}" if entry["ratio_is_lower_bound"] else text


def _family_lines(name: str, fam: dict[str, Any]) -> list[str]:
    samplers = fam["samplers"]
    n_trials = fam["n_trials"]
    space = {
        "numeric": "ten numeric parameters; "
        + ", ".join(f"{k}={v}" for k, v in NUMERIC_FIXED.items()) + " fixed",
        "full": "twelve parameters, `activation` and `normalize` categorical",
    }.get(name, name)
    lines = [
        f"## Family `{name}` ({space})", "",
        f"Targets: {', '.join(fam['targets'])}; seeds {fam['seeds']}; {n_trials} trials per "
        f"run; sources: {fam['source_trials']} TPE trials per other member. "
        f"Pairs (target, seed) with a result for every sampler: {fam['pairs']} of "
        f"{fam['pairs_planned']}.", "",
    ]
    for sampler, reason in sorted(fam["cannot_run"].items()):
        lines += [f"**{sampler}: cannot run on this family** ({reason}); it is left out of the "
                  "ranks below.", ""]
    if not samplers:
        return lines + ["No completed runs.", ""]
    reach = fam.get("trials_to_reach", {})
    header = [
        "sampler", f"mean rank (1-{len(samplers)})", "median final loss",
        f"trials to reach {REFERENCE}'s final (median)", f"ratio to {TRANSFER}",
        "pairs reaching it", "sampler s/trial", "wall s/run",
    ]
    rows = []
    for s in samplers:
        r = reach.get(s)
        rows.append([
            s, fmt(fam["mean_rank"].get(s)), fmt(fam["final_loss_median"].get(s)),
            _trials_cell(r, n_trials) if r else "-", _ratio_cell(r) if r else "-",
            f"{r['reached']}/{r['pairs']}" if r else "-",
            fmt(fam["sampler_seconds_per_trial"].get(s)), fmt(fam["wall_seconds_per_run"].get(s)),
        ])
    lines += _table(header, rows)
    if not reach:
        lines += [f"(Trials to reach need the `{REFERENCE}` sampler, which did not run.)", ""]
    lines += ["Median final loss per target (over seeds):", ""]
    lines += _table(["target", *samplers], [
        [t, *(fmt(v.get(s)) for s in samplers)] for t, v in fam["per_target"].items()
    ])
    if fam["head_to_head"]:
        lines += ["Head to head on the same (target, seed) pairs (final best loss):", ""]
        lines += _table(["comparison", "first better", "worse", "tied"], [
            [k, str(v["better"]), str(v["worse"]), str(v["tied"])]
            for k, v in fam["head_to_head"].items()
        ])
    ranks = fam["flipped_vs_none_mean_rank"]
    if ranks:
        key = f"{FLIPPED} vs {REFERENCE}"
        h2h = fam["head_to_head"][key]
        lines += [
            f"**Flipped vs no sources**: mean rank among all samplers {FLIPPED} "
            f"{fmt(fam['mean_rank'][FLIPPED])}, {REFERENCE} {fmt(fam['mean_rank'][REFERENCE])}; "
            f"between the two alone {fmt(ranks[FLIPPED])} vs {fmt(ranks[REFERENCE])}; "
            f"{FLIPPED} better on {h2h['better']}, worse on {h2h['worse']}, tied on "
            f"{h2h['tied']} pairs.", "",
        ]
    return lines


def render_transfer_markdown(
    summary: dict[str, Any], meta: dict[str, Any], *, plot: str | None = None
) -> str:
    """``summary.md``: command, versions, threads, then one section per family."""
    invocations = meta.get("invocations", [])
    lines = ["# Transfer benchmark (leave-one-out)", ""]
    commands = list(dict.fromkeys(i["command"] for i in invocations if i.get("command")))
    if commands:
        lines += ["Produced by:", "", "```", *commands, "```", ""]
    if invocations:
        last = invocations[-1]
        m = last.get("machine", {})
        threads = ", ".join(f"{k}={v}" for k, v in last.get("threads", {}).items())
        lines += [
            f"Versions: Python {m.get('python')}, optuna {m.get('optuna')}, torch "
            f"{m.get('torch')}, numpy {m.get('numpy')}. Machine: {m.get('cpu')}, "
            f"{m.get('cores')} cores; device: {m.get('device')}.",
            f"Threads: {threads}, `torch.set_num_threads(1)` in each of {last.get('jobs')} "
            f"worker process(es). Last invocation: {last.get('started')}, "
            f"{fmt(last.get('wall_seconds', math.nan) / 60)} min for {last.get('runs_executed')} "
            f"new run(s) ({last.get('runs_failed')} failed).", "",
        ]
    seen = summary.get("threads_in_runs", [])
    if seen:
        lines += ["Threads seen inside the runs (torch.get_num_threads() and environment): "
                  + "; ".join(", ".join(f"{k}={v}" for k, v in t.items()) for t in seen) + ".",
                  ""]
    lines += [
        "Leave-one-out: each target member is optimised with the source studies of the other "
        f"members. `{TRANSFER}` gets them, `{FLIPPED}` gets them with negated values "
        f"(misleading), `{REFERENCE}` none; `{WS_CMAES}` is CMA-ES warm-started from their "
        "complete trials. Seed k fixes the sampler seed and the target objective (split, "
        "initialisation), so samplers are compared on paired (target, seed) runs.", "",
        "- **Mean rank**: rank of the best loss after the last trial among the samplers on "
        "each pair (1 = best, ties share the average rank), averaged over pairs.",
        f"- **Trials to reach**: per pair, the first trial at which a sampler's best-so-far is "
        f"<= `{REFERENCE}`'s final best on that pair; median over pairs, a pair never reaching "
        f"it counts as more than the budget (`>N` when that is the median). Ratio = the "
        f"sampler's median / `{TRANSFER}`'s (2 means twice as many trials as `{TRANSFER}`; "
        "`>=` when the sampler's median is censored).", "",
    ]
    if plot:
        lines += [f"![median normalised best-so-far]({plot})", "",
                  "Plot: best-so-far per pair scaled to 0 = the best final loss of any sampler, "
                  "1 = the pair's median trial loss; median over pairs.", ""]
    for name, fam in summary["families"].items():
        lines += _family_lines(name, fam)
    return "\n".join(lines).rstrip() + "\n"


def plot_transfer(summary: dict[str, Any], path: Path) -> Path:
    """Median normalised best-so-far per family, one line per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    families = summary["families"]
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(5.5 * max(1, len(families)), 4),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    ran = {s for fam in families.values() for s in fam["samplers"]}
    colors = {s: cmap(i % 10) for i, s in enumerate(sampler_order(ran | set(SAMPLERS)))}
    for ax, (name, fam) in zip(axes.flat, families.items(), strict=False):
        top = 1.0
        for s in fam["samplers"]:
            curve = np.asarray(fam["normalized_median_curve"][s], dtype=float)
            if not len(curve):
                continue
            curve = np.where(np.isfinite(curve), curve, np.nan)
            ax.plot(np.arange(1, len(curve) + 1), curve, label=s, lw=1.5, color=colors[s])
            finite = curve[np.isfinite(curve)]
            top = max(top, float(finite.max()) if len(finite) else top)
        ax.set_ylim(-0.02, min(top, 2.0) * 1.05)
        ax.set_title(f"{name} ({fam['pairs']} pairs)", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel("normalised best-so-far (median)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Leave-one-out transfer: 0 = best final of any sampler, 1 = median trial")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def current_records(path: Path) -> list[dict[str, Any]]:
    """The latest record of every run whose task has the setup of the task's last record.

    A rerun with other ``--source-trials``, ``--trials``, members or epochs appends records of
    the new setup; older ones of the same task are left out (other samplers and seeds of the
    same setup stay, so a sampler added later joins the summary).
    """
    latest = load_records(path)
    setup: dict[str, str] = {}
    with path.open() as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                setup[r["task"]] = json.dumps([r["n_trials"], r["options"]], sort_keys=True)
    return [
        r for r in latest.values()
        if json.dumps([r["n_trials"], r["options"]], sort_keys=True) == setup[r["task"]]
    ]


def write_transfer_report(out_dir: Path) -> list[Path]:
    """Rebuilds summary.md, summary.json and transfer.png from ``out_dir``'s records."""
    records = current_records(out_dir / RESULTS_FILE) if (out_dir / RESULTS_FILE).exists() else []
    if not records:
        raise FileNotFoundError(f"No records in {out_dir / RESULTS_FILE}.")
    summary = summarize_transfer(records)
    meta_path = out_dir / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"invocations": []}
    plot = plot_transfer(summary, out_dir / "transfer.png")
    (out_dir / "summary.json").write_text(json.dumps(_json_safe(summary), indent=1) + "\n")
    markdown = render_transfer_markdown(summary, meta, plot=plot.name)
    (out_dir / "summary.md").write_text(markdown)
    return [out_dir / "summary.md", out_dir / "summary.json", plot]


# ----------------------------------------------------------------------------- command line


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
        source_trials=args.source_trials, epochs=args.epochs,
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
    # Through the module, so that worker processes unpickle the same classes and functions.
    from benchmarks.transfer import main as _main

    sys.exit(_main())
