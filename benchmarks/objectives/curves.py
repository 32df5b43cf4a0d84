"""A generated learning-curve task (``optuna_hypera._curve_tasks``) as an Optuna objective.

Parameters ``x0 .. x{d-1}``, each a float in [0, 1]. A trial computes its whole curve at once
(array maths, microseconds), then reports it step by step, ``trial.report(loss, t)`` for
``t = 1..n_steps``, and stops when ``trial.should_prune()``: each reported step stands for one
epoch of training, which is what the pruning benchmark counts. A run that diverges to NaN
reports the task's ``diverged_value`` (above every finite loss) at that step and returns it, as
the digits objective returns its ``MAX_LOSS``: a complete but hopeless trial.

The returned value is the noisy loss at the last step; the noise-free one is stored as the user
attribute ``noise_free_loss`` (the loss a fresh evaluation would average to), so a benchmark can
tell luck from quality. Noise is drawn from ``default_rng([task_seed, seed, trial.number])``:
reproducible per (task, run seed, trial number), the same stream for every sampler.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna

from optuna_hypera._curve_tasks import DEFAULT_STEPS
from optuna_hypera._curve_tasks import CurveTask


NOISE_FREE_ATTR = "noise_free_loss"


class CurveObjective:
    """``objective(trial) -> validation loss`` of a generated learning curve.

    Args:
        task_seed: The curve task's seed (evaluation tasks use 10_000 and above).
        dim: Number of parameters ``d``.
        n_steps: Epochs of a full training run (27 = 3^3 gives Hyperband four brackets).
        seed: The run's seed: fixes the observation noise only (the task is ``task_seed``'s).
    """

    direction = "minimize"
    loss_label = "validation loss"
    score_label: str | None = None

    def __init__(
        self, *, task_seed: int, dim: int, n_steps: int = DEFAULT_STEPS, seed: int = 0
    ) -> None:
        self.task = CurveTask.sample(dim, task_seed, n_steps=n_steps)
        self.task_seed, self.seed = task_seed, seed

    @property
    def n_steps(self) -> int:
        return self.task.n_steps

    def loss(self, value: float) -> float:
        return value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        return None

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        x = np.array([[trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(self.task.d)]])
        number = getattr(trial, "number", 0)  # FixedTrial has no number
        rng = np.random.default_rng([self.task_seed, self.seed, number])
        noisy = self.task.curves(x, rng)[0]
        clean = self.task.curves(x)[0]
        value = math.nan
        for step in range(1, self.n_steps + 1):
            value = float(noisy[step - 1])
            if math.isnan(value):
                value = self.task.diverged_value
                trial.report(value, step)
                trial.set_user_attr(NOISE_FREE_ATTR, value)
                return value
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr(NOISE_FREE_ATTR, float(clean[-1]))
        return value


def make_curves_objective(
    *, seed: int, task_seed: int, dim: int, n_steps: int = DEFAULT_STEPS
) -> CurveObjective:
    """Factory: the curve task ``(dim, task_seed)`` with run seed ``seed`` (noise only)."""
    return CurveObjective(task_seed=task_seed, dim=dim, n_steps=n_steps, seed=seed)
