"""Samplers under a pruner from the same startup trials: what their own phase adds.

    .venv/bin/python -m benchmarks.shared_startup --tasks curves-val --samplers hypera,tpe \\
        --pruner median --seeds 6 --jobs 2 --out results/shared-startup

A diagnostic next to :mod:`benchmarks.pruning`, not a suite of its own. There each sampler
draws its own startup trials (HyperaSampler 7 scrambled Sobol points, 10 up to 0.17; TPE 10
uniform ones),
so a pair of runs differs by its startup luck as much as by the samplers. Here the first
``--startup`` trials of every run of a (task, seed) come from one ``QMCSampler`` seeded by
the run's seed (``Shared``); the sampler under test takes over from trial ``--startup`` on, seeing
those trials as its own history (its own startup rule counts them). Everything else is the
pruning suite's: the task, the pruner sized for it, the epoch budget, paired seeds. Prints
better/worse pairs (by the best complete trial's noise-free value where the task has one)
after a few epoch budgets, and writes ``results.jsonl`` records in the pruning suite's format.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
import json
from pathlib import Path
import sys
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.pruning import select_tasks
from benchmarks.pruning import task_table
from benchmarks.pruning_run import MAX_TRIALS_PER_EPOCH
from benchmarks.pruning_run import EpochBudget
from benchmarks.pruning_run import PruningTask
from benchmarks.pruning_run import _trial_entry
from benchmarks.pruning_run import make_pruner
from benchmarks.runner import CAUGHT


class Shared(BaseSampler):
    """``startup`` samples trials below ``n``; ``inner`` every later one (hooks included)."""

    def __init__(self, inner: BaseSampler, startup: BaseSampler, n: int) -> None:
        self.inner, self.startup, self.n = inner, startup, n

    def _of(self, trial: FrozenTrial) -> BaseSampler:
        return self.startup if trial.number < self.n else self.inner

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial,
                                    ) -> dict[str, BaseDistribution]:
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._of(trial).sample_independent(study, trial, param_name,
                                                  param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._of(trial).before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._of(trial).after_trial(study, trial, state, values)


def run_one(task: PruningTask, sampler_name: str, pruner: str, seed: int,
            n_startup: int) -> dict[str, Any]:
    from benchmarks.objectives import make_objective
    from benchmarks.samplers import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = make_objective(task.family, seed=seed, **task.options)
    sampler = Shared(make_sampler(sampler_name, seed),
                     optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
                     n_startup)
    study = optuna.create_study(
        study_name=f"pruning/{task.name}/{pruner}/seed{seed}",
        directions=[StudyDirection[objective.direction.upper()]],
        sampler=sampler, pruner=make_pruner(pruner, task))
    budget = EpochBudget(task.budget)
    study.optimize(objective, n_trials=MAX_TRIALS_PER_EPOCH * task.budget, catch=CAUGHT,
                   callbacks=[budget])
    trials = [_trial_entry(t, objective) for t in study.get_trials(deepcopy=False)]
    return {"task": task.name, "sampler": sampler_name, "pruner": pruner, "seed": seed,
            "startup": n_startup, "budget": task.budget, "epochs_used": budget.used,
            "trials": trials}


def best_within(record: dict[str, Any], epochs: int) -> float:
    """The best complete trial's (noise-free where known) value within ``epochs``."""
    used, best = 0, np.inf
    for t in record["trials"]:
        used += t["epochs"]
        if used > epochs:
            break
        if t["state"] == "COMPLETE":
            v = t.get("noise_free", t["loss"])
            best = min(best, t["loss"] if v is None else v)
    return best


def report(records: list[dict[str, Any]], a: str, b: str) -> str:
    pairs: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in records:
        pairs.setdefault((r["task"], r["seed"]), {})[r["sampler"]] = r
    both = [p for p in pairs.values() if a in p and b in p]
    if not both:
        return f"no pairs of {a} and {b}"
    budget = both[0][a]["budget"]
    lines = [f"{a} vs {b}, {len(both)} (task, seed) pairs: better/worse by epochs used", ""]
    lines.append("| epochs | " + " | ".join(str(e) for e in _marks(budget)) + " |")
    lines.append("|---|" + "---:|" * len(_marks(budget)))
    cells = []
    for e in _marks(budget):
        va = np.array([best_within(p[a], e) for p in both])
        vb = np.array([best_within(p[b], e) for p in both])
        cells.append(f"{int((va < vb).sum())}/{int((va > vb).sum())}")
    lines.append(f"| {a}/{b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _marks(budget: int) -> list[int]:
    return sorted({int(budget * f) for f in (0.2, 0.3, 0.45, 0.6, 0.75)} | {budget})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="curves-val")
    p.add_argument("--samplers", default="hypera,tpe")
    p.add_argument("--pruner", default="median")
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--startup", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="results/shared-startup")
    a = p.parse_args(argv)
    tasks = select_tasks(task_table(quick=False, trainings=None), a.tasks.split(","))
    samplers = a.samplers.split(",")
    jobs = [(t, s, a.pruner, k, a.startup) for t in tasks for k in range(a.seeds)
            for s in samplers]
    with ProcessPoolExecutor(a.jobs) as pool:
        records = list(pool.map(run_one, *zip(*jobs, strict=True)))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    print("`python -m benchmarks.shared_startup " + " ".join(sys.argv[1:] if argv is None
                                                              else argv) + "`\n")
    for other in samplers[1:]:
        print(report(records, samplers[0], other) + "\n")


if __name__ == "__main__":
    main()
