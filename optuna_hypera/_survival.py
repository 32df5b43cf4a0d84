"""The chance that a trial at a configuration runs to its end under the study's pruner.

Under a pruner the best *complete* trial is what a study returns, so a configuration whose early
epochs fall below the pruner's threshold is worth nothing, however good its curve model says
its final value would have been. Log expected improvement alone ignores that: under Optuna's
``MedianPruner`` it keeps proposing slow starters that get pruned (0.8: 77% of its trials
pruned on the pruning suite's curves, TPE 60%). ``Survival`` estimates

    p(x) = (a r + sum_i w_i(x) c_i) / (a + sum_i w_i(x)),

a kernel-weighted share of finished trials that completed (``c_i`` 1, pruned 0), with the
weights ``w_i`` a Matern 5/2 kernel at unit signal on the surrogate's inputs (its categorical
overlap distance) with the surrogate's lengthscales times the one of ``SCALES`` whose
leave-one-out predictions of the finished trials' outcomes have the highest likelihood (what
decides completion can vary faster than the final value), shrunk towards the study's smoothed
completion rate ``r`` with the weight of ``a`` = ``PRIOR_WEIGHT`` trials where few trials lie
near ``x``. The acquisition becomes log EI + w log p (``ModelView.acquisition``): with w = 1
the expected improvement of a trial that must survive the pruner to count, as constrained BO
multiplies EI by the probability of feasibility; the default w = ``SURVIVAL_WEIGHT`` = 4 was
better on validation curves. Studies without pruned trials get none, so nothing changes
without a pruner, and rung-based pruners (successive halving, Hyperband) get none either
(``HyperaCore.survival``; measured in ``docs/benchmarks/survival-validation.md``).

Since 0.11 ``EarlySurvival`` replaces the share wherever it can be fitted: a second Gaussian
process, on every finished trial's value at the step where most trials were pruned, gives the
chance of starting below the completed trials' median there. Under ``MedianPruner`` the share
is flat once every trial near the incumbent was pruned, and the study stalled there (a
validation run proposed 127 trials in a row that were all pruned at the first step the
pruner may act); the regression says which way trials start faster. Measured on the
validation curves under ``MedianPruner``: better than the share on 52 of 72 pairs, worse on
19; under ``HyperbandPruner`` worse (18/53), so rung-based pruners still get no chance term
(``docs/benchmarks/early-survival-validation.md``).

Bounded cost: the ``points`` finished trials nearest the incumbent (``_gp_maths.near``).
Numpy and scipy; no Optuna import.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr

from optuna_hypera._gp_maths import matern52
from optuna_hypera._gp_maths import near
from optuna_hypera._gp_maths import scaled_dist
from optuna_hypera._kernel_fit import KernelParams
from optuna_hypera._kernel_inputs import KernelInputs
from optuna_hypera._space import Space
from optuna_hypera._surrogate import Surrogate


PRIOR_WEIGHT = 1.0
"""Trials' worth of weight of the study-wide completion rate in every estimate."""
FLOOR = 1e-3
"""The smallest probability (log p >= log FLOOR)."""
SURVIVAL_WEIGHT = 4.0
"""The log chance's weight in the acquisition (``HyperaCore.survival_weight``): log EI +
4 log p, chosen on the validation curves under ``MedianPruner`` (better than log EI alone on
44 of 72 pairs, worse on 26; weight 1: 37/29, weight 10: 44/25;
``docs/benchmarks/survival-validation.md``), and again with ``EarlySurvival`` (weights 1, 2
and 8 each worse than 4: 33/38, 33/38, 34/37)."""
SCALES = (1.0, 0.5, 0.25, 0.125)
"""Multipliers of the surrogate's lengthscales tried (``Survival.fit``)."""


class Survival:
    """``log_p(xq)``: ``weight`` times the log chance that trials at ``xq`` ``[m, d]``
    complete (build with ``Survival.fit``)."""

    def __init__(self, xe: np.ndarray, done: np.ndarray, ls: np.ndarray,
                 inputs: KernelInputs, rate: float, gain: float, weight: float) -> None:
        self.xe, self.done, self.ls, self.inputs = xe, done, ls, inputs
        self.rate = rate
        """The study's smoothed completion rate, what ``p`` falls back on far from trials."""
        self.gain = gain
        """Leave-one-out log likelihood of the outcomes over that of one shared rate (nats):
        how much the configuration tells about completing."""
        self.weight = weight

    @classmethod
    def fit(cls, x: np.ndarray, done: np.ndarray, center: np.ndarray, ls: np.ndarray,
            inputs: KernelInputs, points: int, weight: float = 1.0) -> Survival | None:
        """From finished trials ``x`` ``[n, d]`` (complete or pruned) and whether each
        completed; ``None`` when none was pruned (no pruner, or one that never acted)."""
        if not len(done) or done.all():
            return None
        xe = inputs.embed(x)
        rows = near(xe, inputs.embed(center[None])[0], points)
        xe, c = xe[rows], done[rows].astype(np.float64)
        rate = (c.sum() + 1.0) / (len(c) + 2.0)
        r = scaled_dist(xe, xe, ls)  # at every scale the same distances, divided by it
        best, best_ll = ls, -np.inf
        for scale in SCALES:
            w = matern52(r / scale)
            np.fill_diagonal(w, 0.0)  # leave each trial out of its own estimate
            ll = _log_likelihood(c, _smoothed(w, c, rate))
            if ll > best_ll:
                best, best_ll = ls * scale, ll
        # Against one rate for every trial, also left out in turn.
        gain = best_ll - _log_likelihood(c, (c.sum() - c + 1.0) / (len(c) + 1.0))
        return cls(xe, c, best, inputs, rate, gain, weight)

    def p(self, xq: np.ndarray) -> np.ndarray:
        w = matern52(scaled_dist(self.inputs.embed(xq), self.xe, self.ls))
        return _smoothed(w, self.done, self.rate)

    def log_p(self, xq: np.ndarray) -> np.ndarray:
        return self.weight * np.log(np.maximum(self.p(xq), FLOOR))


def _log_likelihood(done: np.ndarray, p: np.ndarray) -> float:
    """Bernoulli log likelihood of outcomes ``done`` (1 completed) under chances ``p``."""
    p = np.clip(p, FLOOR, 1.0 - FLOOR)
    return float(done @ np.log(p) + (1.0 - done) @ np.log1p(-p))


def _smoothed(w: np.ndarray, done: np.ndarray, rate: float) -> np.ndarray:
    """Per row of weights ``w``: the weighted share of ``done``, shrunk towards ``rate``."""
    return (PRIOR_WEIGHT * rate + w @ done) / (PRIOR_WEIGHT + w.sum(axis=1))


MIN_EARLY_COMPLETE = 4
"""Completed trials with a value at the early step before ``EarlySurvival`` acts."""


class EarlySurvival:
    """The chance that a trial at ``xq`` passes the step where most pruning happens: a
    Gaussian process (``_surrogate``'s, fitted apart) on every finished trial's value at that
    step, pruned ones included, and the bar the completed trials' values set there: their
    median (the rule of Optuna's ``MedianPruner``, its default pruner) or the percentile of a
    ``PercentilePruner`` (``quantile``), so

        p(x) = Phi((bar - mu(x)) / sqrt(sd(x)^2 + noise)).

    Unlike ``Survival``'s share of nearby completions, which is flat wherever every nearby
    trial was pruned, the regression says in which direction trials start faster."""

    def __init__(self, model: Surrogate, bar: float, noise: float, weight: float,
                 cut: float | None = None) -> None:
        self.model, self.bar, self.noise, self.weight = model, bar, noise, weight
        self.cut = cut
        """Where set, ``log_p`` also subtracts the log expected cost of a trial at ``xq``
        relative to a full training, log(p + (1 - p) cut)."""

    @classmethod
    def fit(cls, x: np.ndarray, early: np.ndarray, complete: np.ndarray, center: np.ndarray,
            cache: dict[int, tuple[bytes, KernelParams]], order: np.ndarray | None,
            space: Space | None, points: int, weight: float = 1.0, quantile: float = 0.5,
            cut: float | None = None) -> EarlySurvival | None:
        """From finished trials ``x`` ``[n, d]`` with a value at the early step ``early``
        (direction-adjusted) and whether each completed, the bar at the ``quantile`` of the
        completed ones' values (0.5: the median); ``None`` with fewer than
        ``MIN_EARLY_COMPLETE`` completed ones."""
        if int(complete.sum()) < MIN_EARLY_COMPLETE:
            return None
        model = Surrogate.fit(x, early, center, cache, order, space, None, points)
        if model is None or model.units is None:  # the bar needs standardized targets
            return None
        m, s = model.units
        # As Optuna's PercentilePruner computes its bar (np.nanpercentile; loss units).
        bar = (float(np.percentile(early[complete], 100.0 * quantile)) - m) / s
        noise = math.exp(model.params.log_noise) + model.jitter
        return cls(model, bar, noise, weight, cut)

    def log_p(self, xq: np.ndarray) -> np.ndarray:
        mu, sd = self.model.predict(xq)
        z = (self.bar - mu) / np.sqrt(sd**2 + self.noise)
        log_p = np.maximum(log_ndtr(z), math.log(FLOOR))
        if self.cut is None:
            return self.weight * log_p
        p = np.exp(log_p)
        return self.weight * log_p - np.log(p + (1.0 - p) * self.cut)
