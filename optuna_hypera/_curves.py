"""What a pruned trial's partial learning curve says about its final value.

A pruned trial stopped at step ``s`` with value ``v``. The completed trials that reported at
``s`` are the anchors: for each we know its value at ``s`` and its final value. Across them,
the final value's normal score (``Phi^-1`` of its rank quantile among the completed trials'
finals) is regressed on the normal score of the value at ``s`` (a Bayesian linear regression
with a flat prior, whose predictive distribution is Student-t; its sd is scaled so that the
Gaussian 90% interval matches the t interval). The pruned trial's prediction is that
regression at the normal score of ``v`` among the anchors' values at ``s``:

    z_c = Phi^-1((rank of v_c(s) among the anchors + 1/2) / k)      anchors c = 1..k
    y_c = Phi^-1((rank of f_c among all completed finals + 1/2) / n)
    y   = a + b z + e,   e ~ N(0, s^2)                               (ordinary least squares)
    var = s^2 (1 + 1/k + (z_p - mean z)^2 / S_zz) * (t_{.95, k-2} / z_{.95})^2

- Early steps, where curves cross, give a weak slope and a wide interval; late steps, where
  the ranking has settled, a tight one. The regression learns this from the study's own
  curves: no curve shape is assumed, and crossing curves cost accuracy, not calibration.
- Only ranks enter, so an increasing transform of the objective (applied to the reports too)
  changes nothing.
- Cost: one pass over the anchors per distinct pruning step, ``O(n)`` each.
- With fewer than ``MIN_ANCHORS`` anchors at a step, its pruned trials get no prediction
  (NaN) and keep the old treatment (ranked after the completed trials).

``CurveTable`` keeps every finished trial's value at each step some trial was pruned at,
incrementally. Pure numpy, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
from scipy.special import ndtr
from scipy.special import ndtri
from scipy.stats import t as student_t

from optuna_hypera._history import midranks


MIN_ANCHORS = 4
"""Completed trials that must have reported at a step before it predicts anything."""
_Z90 = 1.6448536269514722
_MIN_SD = 0.05


@dataclass
class FinalPrediction:
    """Per finished trial; NaN where it was not pruned or nothing could be predicted."""

    score: np.ndarray
    """Predicted normal score of the final value among the completed trials' finals."""
    sd: np.ndarray
    """Its predictive standard deviation (same units)."""
    loss: np.ndarray
    """The prediction in loss units: the completed finals' quantile at ``Phi(score)``."""

    @classmethod
    def none(cls, n: int) -> FinalPrediction:
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy())


def _normal_scores(v: np.ndarray) -> np.ndarray:
    return ndtri((midranks(v) + 0.5) / len(v))


def _scores_against(ref: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Normal score of each ``v`` among ``ref`` (as if it were one more member)."""
    s = np.sort(ref)
    below = np.searchsorted(s, v, side="left")
    upto = np.searchsorted(s, v, side="right")
    return ndtri((0.5 * (below + upto) + 0.5) / (len(ref) + 1))


def regress(z: np.ndarray, y: np.ndarray, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and sd at ``zq`` of ``y = a + b z`` fitted on ``(z, y)``."""
    k = len(z)
    zm, ym = z.mean(), y.mean()
    szz = float(((z - zm) ** 2).sum())
    b = float(((z - zm) * (y - ym)).sum()) / szz if szz > 0 else 0.0
    resid = y - ym - b * (z - zm)
    s2 = max(float((resid**2).sum()) / max(k - 2, 1), _MIN_SD**2)
    lever = (zq - zm) ** 2 / szz if szz > 0 else np.zeros_like(zq)
    scale = float(student_t.ppf(0.95, max(k - 2, 1))) / _Z90
    mean = ym + b * (zq - zm)
    return mean, np.sqrt(s2 * (1.0 + 1.0 / k + lever)) * scale


def predict_finals(loss: np.ndarray, pruned: np.ndarray, step: np.ndarray,
                   ref_steps: np.ndarray, at: np.ndarray) -> FinalPrediction:
    """Predictions for the pruned trials from the completed ones (module docstring).

    ``loss`` ``[n]``: final values of completed trials, last values of pruned ones (NaN:
    failed); ``step``: a pruned trial's last step; ``at`` ``[n, R]``: each trial's value at
    ``ref_steps`` (its last report at or before it, NaN if it did not get there)."""
    n = len(loss)
    out = FinalPrediction.none(n)
    valid = ~np.isnan(loss)
    complete = valid & ~pruned
    n_c = int(complete.sum())
    if n_c < MIN_ANCHORS or not (pruned & valid).any():
        return out
    finals = loss[complete]
    y_all = np.full(n, np.nan)
    y_all[complete] = _normal_scores(finals)
    sorted_finals = np.sort(finals)
    for r, s in enumerate(ref_steps.tolist()):
        rows = np.flatnonzero(pruned & valid & (step == s) & ~np.isnan(at[:, r]))
        anchors = complete & ~np.isnan(at[:, r])
        if not len(rows) or anchors.sum() < MIN_ANCHORS:
            continue
        v = at[anchors, r]
        mean, sd = regress(_normal_scores(v), y_all[anchors], _scores_against(v, at[rows, r]))
        out.score[rows] = mean
        out.sd[rows] = sd
    has = ~np.isnan(out.score)
    # Back to loss units through the finals' quantile function (rank = q n - 1/2).
    pos = ndtr(out.score[has]) * n_c - 0.5
    out.loss[has] = np.interp(pos, np.arange(n_c), sorted_finals)
    return out


def early_values(pruned_steps: np.ndarray, ref_steps: np.ndarray, at: np.ndarray,
                 ) -> tuple[np.ndarray | None, float]:
    """Every trial's value at the step most pruned trials stopped at (ties: the earliest),
    and that step; ``(None, nan)`` without a pruned trial that reported."""
    known = pruned_steps[~np.isnan(pruned_steps)]
    if not len(known) or not len(ref_steps):
        return None, float("nan")
    steps, counts = np.unique(known, return_counts=True)
    s = float(steps[int(np.argmax(counts))])
    col = np.flatnonzero(ref_steps == s)
    if not len(col):
        return None, float("nan")
    return at[:, int(col[0])].copy(), s


def coverage(score: np.ndarray, sd: np.ndarray, truth: np.ndarray, level: float = 0.9,
             ) -> float:
    """Share of ``truth`` inside the central ``level`` Gaussian intervals."""
    half = float(ndtri(0.5 + level / 2.0)) * sd
    return float((np.abs(truth - score) <= half).mean())


class CurveTable:
    """Every finished trial's value at each step some trial was pruned at, kept
    incrementally: a new trial costs one lookup per such step, a new such step one lookup per
    trial."""

    def __init__(self) -> None:
        self._curves: list[tuple[np.ndarray, np.ndarray]] = []
        self._cols: dict[float, int] = {}
        self._at = np.full((64, 0), np.nan)
        self.last_step = math.nan
        """The largest step any trial reported."""

    def __len__(self) -> int:
        return len(self._curves)

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        """The next trial's reports (sorted steps; direction-adjusted values)."""
        i = len(self._curves)
        self._curves.append((steps, values))
        if len(steps) and not steps[-1] <= self.last_step:
            self.last_step = float(steps[-1])
        if i >= len(self._at):
            grown = np.full((2 * len(self._at), self._at.shape[1]), np.nan)
            grown[: len(self._at)] = self._at
            self._at = grown
        for s, c in self._cols.items():
            self._at[i, c] = _value_at(steps, values, s)

    def refer(self, step: float) -> None:
        """Make ``step`` one of the reference steps."""
        if step in self._cols or step != step:
            return
        col = np.array([_value_at(st, v, step) for st, v in self._curves])
        self._cols[step] = len(self._cols)
        at = np.full((len(self._at), len(self._cols)), np.nan)
        at[:, :-1] = self._at
        at[: len(col), -1] = col
        self._at = at

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference steps ``[R]`` and values ``[n, R]`` (rows in order of ``add``)."""
        steps = np.array(list(self._cols), dtype=np.float64)
        return steps, self._at[: len(self._curves)]


def _value_at(steps: np.ndarray, values: np.ndarray, s: float) -> float:
    """The last report at or before ``s``; NaN if there is none or the curve ended before
    ``s``."""
    if not len(steps) or steps[-1] < s:
        return float("nan")
    k = int(np.searchsorted(steps, s, side="right")) - 1
    return float(values[k]) if k >= 0 else float("nan")
