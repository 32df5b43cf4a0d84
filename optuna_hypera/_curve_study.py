"""Generated learning curves under a pruner, for the simulator (pre-training sees pruning).

A ``CurveStudy`` wraps a ``_curve_tasks.CurveTask`` (a configuration's validation loss over
its training steps) and trains every trial of a simulated study under a median rule, as
Optuna's ``MedianPruner`` does: at each rung, once ``warmup`` trials have completed, a trial
whose value is worse than the median of the values the completed trials reported at that step
is pruned there (pruned and failed trials are left out of the median, as in Optuna's
``PercentilePruner``; before 0.16 they were counted). A pruned trial's loss is its value at
that step, and its partial curve gives the ``History`` the same final-value predictions the
sampler computes from Optuna's trials (``_curves.predict_finals``), so the agents meet pruned
trials in pre-training as they do in a study. A curve that diverges to NaN before it
completes is a failed trial.

Pre-training draws curve tasks below ``_curve_tasks.VALIDATION_SEEDS_START`` only; the
benchmarks validate on the seeds from there to ``EVALUATION_SEEDS_START`` and evaluate on the
seeds above. Pure numpy, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

import numpy as np

from optuna_hypera._curve_tasks import EVALUATION_SEEDS_START
from optuna_hypera._curve_tasks import VALIDATION_SEEDS_START
from optuna_hypera._curve_tasks import CurveTask
from optuna_hypera._curves import FinalPrediction
from optuna_hypera._curves import predict_finals
from optuna_hypera._history import curve_trend
from optuna_hypera._space import Space


@dataclass
class CurveStudy:
    """A learning-curve task as a simulated study's objective, pruned by the median rule."""

    task: CurveTask
    rungs: tuple[int, ...] = (3, 9)
    """Steps (1-based) at which the median rule may prune."""
    warmup: int = 5
    """Completed trials before anything is pruned (``MedianPruner(n_startup_trials)``)."""
    space: Space = field(init=False)

    def __post_init__(self) -> None:
        if self.task.seed >= EVALUATION_SEEDS_START:
            raise ValueError(f"curve task seed {self.task.seed} is an evaluation seed")
        if not all(1 <= s < self.task.n_steps for s in self.rungs):
            raise ValueError(f"rungs {self.rungs} must lie in 1..{self.task.n_steps - 1}")
        self.space = Space.continuous(self.task.d)

    def __call__(self, x: np.ndarray, rng: np.random.RandomState | None = None) -> np.ndarray:
        """Noise-free final values (NaN where the run diverges): what regret is measured on."""
        return np.asarray(self.task.final(np.atleast_2d(x)), np.float64)

    def start(self, n_trials: int) -> CurveRun:
        return CurveRun(self, n_trials)


class CurveRun:
    """One simulated study of a ``CurveStudy``: trials in order, each trained until pruned."""

    def __init__(self, study: CurveStudy, n_trials: int) -> None:
        self.study = study
        r = len(study.rungs)
        self.at = np.full((n_trials, r), np.nan)
        self.loss = np.full(n_trials, np.nan)
        self.pruned = np.zeros(n_trials, bool)
        self.step = np.full(n_trials, np.nan)
        self.trend = np.full(n_trials, np.nan)
        self.complete = np.zeros(n_trials, bool)

    def run(self, i: int, x: np.ndarray, rng: np.random.RandomState) -> float:
        """Train trial ``i`` at ``x``; returns its loss (NaN: failed)."""
        s = self.study
        curve = s.task.curves(x[None], np.random.default_rng(int(rng.randint(2**31 - 1))))[0]
        finite = np.isfinite(curve)
        reported = len(curve) if finite.all() else int(np.argmin(finite))
        for r, step in enumerate(s.rungs):
            if step > reported:
                break
            value = curve[step - 1]
            self.at[i, r] = value
            earlier = self.at[:i, r][self.complete[:i]]  # completed trials, as Optuna's
            if len(earlier) >= max(s.warmup, 1) and value > np.median(earlier):
                self.pruned[i] = True
                self.step[i] = float(step)
                self.loss[i] = value
                self.trend[i] = curve_trend(curve[:step].tolist())
                return float(value)
        self.trend[i] = curve_trend(curve[:reported].tolist())
        if reported < len(curve):
            return float("nan")  # diverged before it completed: a failed trial
        self.complete[i] = True
        self.loss[i] = curve[-1]
        return float(curve[-1])

    def final(self, n: int) -> FinalPrediction:
        """The partial-curve predictions for the first ``n`` trials."""
        return predict_finals(self.loss[:n], self.pruned[:n], self.step[:n],
                              np.array(self.study.rungs, dtype=np.float64), self.at[:n])


def draw_curve_studies(n: int, rng: np.random.RandomState, dims: tuple[int, ...],
                       ) -> list[CurveStudy]:
    """``n`` curve studies of training seeds (below the validation and evaluation ranges)."""
    return [CurveStudy(CurveTask.sample(int(dims[rng.randint(len(dims))]),
                                        int(rng.randint(VALIDATION_SEEDS_START))))
            for _ in range(n)]
