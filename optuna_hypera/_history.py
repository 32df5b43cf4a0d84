"""A study's finished trials as arrays, and the one definition of rank and reward that
learning, the Thompson statistics and the dashboard share (README, "Reward"):

    rank order   completed trials by value, and among them the pruned trials whose partial
                 curve predicts a final value (``_curves``), at that value; then the other
                 pruned trials, further-trained first (the last reported step), ties by the
                 last reported value (as TPE does)
    q(t)         mid-rank quantile of t in that order, in [0, 1], 0 = best, ties share
    r(t)         q(base) - q(t)
    r(t) = -1    failed, NaN/inf value, infeasible, or pruned without a report
    success      r(t) > 0

Values enter only through their ranks, so everything here is unchanged by any increasing
transform of the objective. No Optuna import: the sampler encodes its trials into a
``History`` (``_table``), the simulator builds one directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
import math

import numpy as np


PENALTY = -1.0
STAT_NAMES = ("grad_norm", "train_loss", "val_loss", "gpu_mem")
"""The training statistics ``report_stats`` records and the state reads."""


@dataclass
class History:
    """A study's finished trials in trial-number order, encoded."""

    numbers: np.ndarray
    """Trial numbers, ascending."""
    x: np.ndarray
    """Coordinates ``[n, d]``; NaN rows where a trial does not cover the search space."""
    loss: np.ndarray
    """Direction-adjusted (lower is better) final value, or a pruned trial's last reported
    value; NaN where penalized."""
    pruned: np.ndarray
    """Pruned (with or without a report)."""
    step: np.ndarray
    """Last reported step of a pruned trial; NaN otherwise."""
    trend: np.ndarray
    """Learning-curve trend, > 0 when improving (``curve_trend``); NaN without a curve."""
    duration: np.ndarray
    """Seconds; NaN when unknown."""
    stats: np.ndarray
    """``[n, len(STAT_NAMES)]`` ``report_stats`` values; NaN where absent."""
    has_stats: np.ndarray
    completed: np.ndarray | None = None
    """When each trial finished (seconds; any increasing clock), for what must depend on
    the order of completion rather than of trial numbers; ``None``: in trial order."""
    final_score: np.ndarray | None = None
    """A pruned trial's predicted final value from its partial curve (``_curves``), as a
    normal score among the completed trials' finals; NaN (or ``None``) where not predicted."""
    final_sd: np.ndarray | None = None
    """Its predictive standard deviation."""
    final_loss: np.ndarray | None = None
    """The same prediction in loss units, which ranks the pruned trial."""
    early: np.ndarray | None = None
    """Each trial's value (direction-adjusted) at ``early_step``, the step most pruned trials
    stopped at: its last report at or before it, NaN if it ended earlier; ``None`` where no
    trial was pruned after a report."""
    early_step: float = math.nan
    last_step: float = math.nan
    """The largest step any trial reported (a full training's, where one completed)."""
    ref_steps: np.ndarray | None = None
    """The steps some trial was pruned at (``_curves.CurveTable``); ``None`` without curves."""
    at: np.ndarray | None = None
    """``[n, len(ref_steps)]``: each trial's value at those steps (its last report at or
    before it; NaN where it ended earlier)."""

    @classmethod
    def from_values(cls, x: np.ndarray, loss: np.ndarray,
                    numbers: np.ndarray | None = None) -> History:
        """Completed trials only (NaN loss: failed), no curves or statistics."""
        n = len(loss)
        nan = np.full(n, np.nan)
        return cls(
            numbers=np.arange(n) if numbers is None else np.asarray(numbers, dtype=np.int64),
            x=np.asarray(x, dtype=np.float64).reshape(n, -1), loss=np.asarray(loss, np.float64),
            pruned=np.zeros(n, bool), step=nan, trend=nan, duration=nan,
            stats=np.full((n, len(STAT_NAMES)), np.nan), has_stats=np.zeros(n, bool),
        )

    def __len__(self) -> int:
        return len(self.numbers)

    def head(self, n: int) -> History:
        """The first ``n`` finished trials (in trial order)."""
        return History(
            numbers=self.numbers[:n], x=self.x[:n], loss=self.loss[:n], pruned=self.pruned[:n],
            step=self.step[:n], trend=self.trend[:n], duration=self.duration[:n],
            stats=self.stats[:n], has_stats=self.has_stats[:n],
            completed=None if self.completed is None else self.completed[:n],
            final_score=None if self.final_score is None else self.final_score[:n],
            final_sd=None if self.final_sd is None else self.final_sd[:n],
            final_loss=None if self.final_loss is None else self.final_loss[:n],
            early=None if self.early is None else self.early[:n], early_step=self.early_step,
            last_step=self.last_step, ref_steps=self.ref_steps,
            at=None if self.at is None else self.at[:n])

    @cached_property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.loss)

    @cached_property
    def complete(self) -> np.ndarray:
        """Valid and not pruned: the only trials that can be a base."""
        return self.valid & ~self.pruned

    @cached_property
    def covers(self) -> np.ndarray:
        return ~np.isnan(self.x[:, 0]) if self.x.shape[1] else np.ones(len(self), bool)

    @cached_property
    def quantiles(self) -> np.ndarray:
        return rank_quantiles(self.loss, self.step, self.final_loss)

    def index_of(self, numbers: np.ndarray) -> np.ndarray:
        """Row of each trial number; -1 where not finished."""
        numbers = np.asarray(numbers, dtype=np.int64)
        n = len(self)
        if n == 0:
            return np.full(numbers.shape, -1, dtype=np.int64)
        if self.numbers[-1] == n - 1:  # trials 0..n-1, all finished: the row is the number
            return np.where((numbers >= 0) & (numbers < n), numbers, -1)
        k = np.clip(np.searchsorted(self.numbers, numbers), 0, len(self) - 1)
        return np.where(self.numbers[k] == numbers, k, -1)


def midranks(*keys: np.ndarray) -> np.ndarray:
    """0-based rank of each row in the lexicographic order of ``keys`` (the last key is the
    primary one, as in ``np.lexsort``), tied rows sharing their mean rank."""
    if len(keys) == 1:
        s = np.sort(keys[0])
        below = np.searchsorted(s, keys[0], side="left")
        upto = np.searchsorted(s, keys[0], side="right")
        return (below + upto - 1) / 2.0
    order = np.lexsort(keys)
    n = len(order)
    same = np.zeros(n, bool)
    same[1:] = True
    for k in keys:
        sk = k[order]
        same[1:] &= sk[1:] == sk[:-1]
    return _scatter_midranks(order[None], ~same[None])[0]


def column_midranks(x: np.ndarray) -> np.ndarray:
    """Rank of each entry within its column (axis -2 of ``[..., n, d]``), ties sharing their
    mean rank."""
    n = x.shape[-2]
    swapped = np.swapaxes(x, -1, -2)
    rows = np.ascontiguousarray(swapped).reshape(-1, n)  # sorting along rows is fast
    order = np.argsort(rows, axis=-1)  # any order within ties gives the same mid-ranks
    s = np.take_along_axis(rows, order, axis=-1)
    new = np.ones(s.shape, bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    return np.swapaxes(_scatter_midranks(order, new).reshape(swapped.shape), -1, -2)


def _scatter_midranks(order: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Mid-ranks along the rows of ``[R, n]`` from a sort ``order`` and where each tie group
    starts in it (``new``)."""
    n = order.shape[-1]
    idx = np.arange(n)
    if new.all():  # no ties: the rank is the position in the sort
        sorted_ranks = np.broadcast_to(idx.astype(np.float64), order.shape)
    else:
        start = np.maximum.accumulate(np.where(new, idx, 0), axis=-1)
        ends = np.ones(new.shape, bool)
        ends[..., :-1] = new[..., 1:]
        end = np.minimum.accumulate(np.where(ends, idx, n)[..., ::-1], axis=-1)[..., ::-1]
        sorted_ranks = (start + end) / 2.0
    flat = (order + n * np.arange(order.shape[0])[:, None]).ravel()
    ranks = np.empty(order.size)
    ranks[flat] = sorted_ranks.ravel()
    return ranks.reshape(order.shape)


def _ranked_as(loss: np.ndarray, step: np.ndarray | None, predicted: np.ndarray | None,
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """(loss, step) as trials are ranked: a pruned trial with a predicted final loss at that
    loss, as if completed (step NaN)."""
    if predicted is not None and step is not None:
        has = ~np.isnan(predicted) & ~np.isnan(loss)
        if has.any():
            return np.where(has, predicted, loss), np.where(has, np.nan, step)
    return loss, step


def rank_quantiles(loss: np.ndarray, step: np.ndarray | None = None,
                   predicted: np.ndarray | None = None) -> np.ndarray:
    """Mid-rank quantile in the rank order of the module docstring; 1 where NaN (penalized).

    ``step`` is NaN for completed trials and the last reported step for pruned ones;
    ``predicted`` a pruned trial's predicted final loss (NaN: none), which ranks it among the
    completed trials instead."""
    loss, step = _ranked_as(np.asarray(loss, dtype=np.float64), step, predicted)
    q = np.ones(len(loss))
    valid = ~np.isnan(loss)
    n = int(valid.sum())
    if n == 0:
        return q
    v = loss[valid]
    if step is None or np.isnan(step[valid]).all():
        ranks = midranks(v)
    else:
        s = np.asarray(step, dtype=np.float64)[valid]
        pruned = ~np.isnan(s)
        # (pruned?, -step, value): completed first, then pruned trials that got further.
        ranks = midranks(v, -np.where(pruned, s, 0.0), pruned.astype(np.float64))
    q[valid] = ranks / max(n - 1, 1)
    return q


def batch_quantiles(histories: Sequence[History], loss: np.ndarray,
                    pruned: np.ndarray) -> np.ndarray:
    """``History.quantiles`` of studies with equally many trials (``loss``, ``pruned``:
    ``[B, n]``), ranked in one call when none has a failed or pruned trial."""
    if len(histories) > 1 and not pruned.any() and not np.isnan(loss).any():
        ranks = column_midranks(loss[..., None])[..., 0]
        q = ranks / max(loss.shape[1] - 1, 1)
        for h, row in zip(histories, q, strict=True):
            h.__dict__.setdefault("quantiles", row)  # fills the cached property
    return np.stack([h.quantiles for h in histories])


def rewards(quantiles: np.ndarray, valid: np.ndarray, trial: np.ndarray,
            base: np.ndarray) -> np.ndarray:
    """r = q(base) - q(trial), or ``PENALTY`` where the trial is penalized (rows of a
    ``History``; ``base`` rows of -1 are unknown and read as the worst rank)."""
    qb = np.where(base >= 0, quantiles[np.maximum(base, 0)], 1.0)
    r = qb - quantiles[trial]
    return np.where(valid[trial], r, PENALTY)


def future_gains(quantiles: np.ndarray, valid: np.ndarray, horizon: int,
                 discount: float) -> np.ndarray:
    """Per row of a ``History``: ``sum_{k=1..horizon} discount**k * g[row + k]``, where
    ``g[j] = b[j - 1] - b[j] >= 0`` is what row ``j`` gained on the best-so-far quantile ``b``
    (the lowest valid quantile among rows ``<= j``; 1 before any). Rows past the end count 0,
    so a running study's returns fill in as it goes on."""
    q = np.where(valid, quantiles, 1.0)
    best = np.minimum.accumulate(np.concatenate([[1.0], q]))
    gain = best[:-1] - best[1:]  # gain[j]: row j's improvement
    out = np.zeros(len(q))
    for k in range(1, min(horizon, len(q) - 1) + 1):
        out[:-k] += discount**k * gain[k:]
    return out


def inserted_quantiles(h: History, values: np.ndarray) -> np.ndarray:
    """The quantile each of ``values`` would have as one more completed trial of ``h`` (its
    mid-rank among the n + 1 valid trials, over n, as ``rank_quantiles`` ranks; pruned
    trials without a predicted final value rank after it); 1 where NaN."""
    values = np.asarray(values, dtype=np.float64)
    loss, step = _ranked_as(h.loss, h.step, h.final_loss)
    assert step is not None
    valid = ~np.isnan(loss)
    done = np.sort(loss[valid & np.isnan(step)])
    below = np.searchsorted(done, values, side="left")
    upto = np.searchsorted(done, values, side="right")
    q = (below + upto) / 2.0 / max(int(valid.sum()), 1)
    return np.where(np.isnan(values), 1.0, q)


def label_rewards(h: History, values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``rewards`` of hindsight candidates that were not run, from the losses they would
    have had (NaN: failed, ``PENALTY``)."""
    q = h.quantiles
    qb = np.where(base >= 0, q[np.maximum(base, 0)], 1.0)
    return np.where(np.isnan(values), PENALTY, qb - inserted_quantiles(h, values))


def curve_trend(curve: Sequence[float]) -> float:
    """Rank correlation of a direction-adjusted learning curve (lower is better) with its
    step order, negated: 1 when every report improved on the last, -1 when every one got
    worse; unchanged by shifting, scaling or any increasing transform of the values. NaN with
    fewer than two finite values."""
    c = np.array([v for v in curve if math.isfinite(v)], dtype=np.float64)
    if len(c) < 2:
        return math.nan
    r = midranks(c) - (len(c) - 1) / 2.0
    t = np.arange(len(c)) - (len(c) - 1) / 2.0
    den = math.sqrt(float((r * r).sum() * (t * t).sum()))
    return 0.0 if den == 0 else -float((r * t).sum()) / den


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rank correlation of every column of ``x`` (``[..., n, d]``) with ``y`` (``[..., n]``),
    ties given their mean rank (so binned and categorical columns do not pick up the trials'
    order); 0 where undefined."""
    if y.shape[-1] < 4:
        return np.zeros(x.shape[:-2] + x.shape[-1:])
    rx = column_midranks(x)
    ry = column_midranks(y[..., None])
    rx -= rx.mean(axis=-2, keepdims=True)
    ry -= ry.mean(axis=-2, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=-2) * (ry**2).sum(axis=-2))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (rx * ry).sum(axis=-2) / den
    return np.nan_to_num(c)
