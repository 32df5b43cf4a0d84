"""A generated landscape of the test split (``optuna_hypera._families``) as an Optuna objective.

Each coordinate of the task's space becomes the Optuna parameter a user would declare for it:

- continuous: ``suggest_float(0, 1)``; log-scale: ``suggest_float(1e-3, 1, log=True)``;
- binned ordinal: ``suggest_int(0, n - 1)``; categorical: ``suggest_categorical`` of ``n``
  labels ``"c0" .. "c{n-1}"`` (no order to exploit); log integers: ``suggest_int(low, high,
  log=True)``;

and the value is the task at the coordinate each parameter decodes to (what the agents' encoding
gives back, ``_space.Space``). The task is fixed by ``(family, dim, task_seed)``; the run seed
fixes its observation noise only (``RandomState([task_seed, seed, trial.number])``), so paired
runs see the same noise per trial number. A failed evaluation (NaN) returns NaN, which Optuna
records as a failed trial. The benchmark loss is the returned (noisy) value; the noise-free one
is the user attribute ``noise_free_loss``. Values are normalized by the family (median 0,
robust spread 1 on random points), so losses are comparable across tasks.

``define_by_run=True`` declares a ``conditional`` task as an Optuna user would: the selector
first, then only the coordinates the chosen branch reads (a shared learning rate, SGD's
momentum under SGD only); the others are not suggested and sit at 0.5, which the branch
ignores. Every other family is unchanged by it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna

from optuna_hypera._families import Conditional
from optuna_hypera._families import sample
from optuna_hypera._families import split_of
from optuna_hypera._space import BINNED
from optuna_hypera._space import LOG
from optuna_hypera._space import LOG_INT


_LOG_LOW = 1e-3
NOISE_FREE_ATTR = "noise_free_loss"


class LandscapeObjective:
    direction = "minimize"
    loss_label = "normalized value"
    score_label: str | None = None

    def __init__(self, *, family: str, dim: int, task_seed: int, seed: int = 0,
                 define_by_run: bool = False) -> None:
        if split_of(task_seed) == "train":
            raise ValueError(f"task seed {task_seed} is in the training split; benchmarks use "
                             "the validation or test split")
        self.task = sample(family, dim, task_seed)
        self.task_seed, self.seed = task_seed, seed
        shape = self.task.shape
        self.conditional = shape if define_by_run and isinstance(shape, Conditional) else None

    def loss(self, value: float) -> float:
        return value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        return None

    def coordinates(self, trial: optuna.trial.BaseTrial) -> np.ndarray:
        s = self.task.space
        u = np.full(len(s), 0.5)
        order: list[int] = list(range(len(s)))
        if self.conditional is not None:
            order.remove(self.conditional.selector)
            order.insert(0, self.conditional.selector)
        for j in order:
            if self.conditional is not None and j != self.conditional.selector:
                branch = int(self.conditional.branch(u[None])[0])
                if not self.conditional.active[branch, j]:
                    continue
            name = f"x{j}"
            kind = int(s.kind[j])
            if kind == BINNED:
                n = int(s.n_bins[j])
                if s.categorical[j]:
                    k = int(trial.suggest_categorical(name, [f"c{i}" for i in range(n)])[1:])
                else:
                    k = trial.suggest_int(name, 0, n - 1)
                u[j] = (k + 0.5) / n
            elif kind == LOG_INT:
                lo, hi = int(s.int_low[j]), int(s.int_high[j])
                v = trial.suggest_int(name, lo, hi, log=True)
                u[j] = (math.log(v) - math.log(lo - 0.5)) / (math.log(hi + 0.5)
                                                             - math.log(lo - 0.5))
            elif kind == LOG:
                w = trial.suggest_float(name, _LOG_LOW, 1.0, log=True)
                u[j] = math.log(w / _LOG_LOW) / -math.log(_LOG_LOW)
            else:
                u[j] = trial.suggest_float(name, 0.0, 1.0)
        return u

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        u = self.coordinates(trial)
        number = getattr(trial, "number", 0)
        rng = np.random.RandomState([self.task_seed, self.seed, number])
        clean = float(self.task.clean(u[None])[0])
        trial.set_user_attr(NOISE_FREE_ATTR, clean)
        return float(self.task(u[None], rng)[0])


def make_landscape_objective(*, seed: int, landscape: str, dim: int, task_seed: int,
                             define_by_run: bool = False) -> LandscapeObjective:
    """``landscape``: the ``_families`` family (``family`` is the runner's objective family)."""
    return LandscapeObjective(family=landscape, dim=dim, task_seed=task_seed, seed=seed,
                              define_by_run=define_by_run)
