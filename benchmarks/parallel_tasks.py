"""Tasks of :mod:`benchmarks.parallel`: the project's generated families, with their optimum.

``<family>-d<dim>`` names an ``optuna_hypera._simulate.SyntheticTask`` family (``quadratic``,
``multimodal``, ``gp``) in ``dim`` continuous coordinates on [0, 1], without noise; seed *k*
draws instance *k*. No named benchmark function is used.
"""

from __future__ import annotations

import time

import numpy as np
import optuna

from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask


TASK_SEED = 7919
"""Task instances come from ``RandomState([TASK_SEED, family, dim, seed])``: other draws than
pre-training's and ``defaults_choice``'s."""


def parse_task(name: str) -> tuple[str, int]:
    """``"quadratic-d6"`` -> ``("quadratic", 6)``; ``ValueError`` naming the bad entry."""
    family, _, dim = name.rpartition("-d")
    if family not in FAMILIES or not dim.isdigit() or int(dim) < 1:
        raise ValueError(f"Bad task {name!r}: use <family>-d<dim> with a family of {FAMILIES}.")
    return family, int(dim)


def make_task(name: str, seed: int) -> SyntheticTask:
    """The instance of task ``name`` for ``seed``: continuous coordinates, no noise."""
    family, dim = parse_task(name)
    rng = np.random.RandomState([TASK_SEED, FAMILIES.index(family), dim, seed])
    return SyntheticTask.sample(family, dim, rng)


def task_optimum(task: SyntheticTask) -> tuple[float, bool]:
    """``(minimum, exact)``. Bowls are 0 at ``opt`` (in the interior); the multimodal ripple
    ``amp * mean(1 - cos(...) * used)`` leaves ``amp * mean(1 - used)`` there. GP samples have
    no closed form: L-BFGS-B (analytic gradient) from the best 16 of 4096 Sobol points."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    p = task.params
    if task.family == "quadratic":
        return 0.0, True
    if task.family == "multimodal":
        return float(p["amp"][0] * np.mean(1.0 - p["used"])), True
    d = len(task.space)

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        inner = p["omega"] @ x + p["phase"]
        return float(np.cos(inner) @ p["w"]), -(np.sin(inner) * p["w"]) @ p["omega"]

    points = qmc.Sobol(d, scramble=True, seed=0).random_base2(12)
    starts = points[np.argsort(task(points))[:16]]
    found = [minimize(value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * d)
             for x0 in starts]
    return min(float(task(r.x)[0]) for r in found), False


class SleepyObjective:
    """``objective(trial)``: the task at ``x0 .. x{d-1}`` in [0, 1], after sleeping
    ``sleep`` x U(0.5, 1.5) seconds (seeded by ``seed`` and the trial number)."""

    def __init__(self, task: SyntheticTask, *, sleep: float, seed: int) -> None:
        self.task, self.sleep, self.seed = task, sleep, seed

    def __call__(self, trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(name, 0.0, 1.0) for name in self.task.space.names])
        jitter = np.random.default_rng([self.seed, trial.number]).uniform(0.5, 1.5)
        time.sleep(self.sleep * jitter)  # stands in for training; lets the workers overlap
        return float(self.task(x[None])[0])
