"""What the agents see (state), on plain arrays: per-parameter evidence, the trust radius,
the study and base features and the parameter tokens (named layouts in ``_schema``).

Everything is scale-free and direction-aware: objective values enter only through their ranks
(``_history``) or through ratios that shifts and positive scaling leave unchanged, so the same
weights serve any objective (tested). No Optuna import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import math

import numpy as np

from optuna_hypera._history import STAT_NAMES
from optuna_hypera._history import History
from optuna_hypera._history import spearman
from optuna_hypera._schema import ELITE_FRACTION
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN
from optuna_hypera._schema import G
from optuna_hypera._schema import T


_RECENT = 10


@dataclass
class Evidence:
    """Per-parameter summary of the valid trials that cover the whole search space."""

    best_x: np.ndarray
    elite_mean: np.ndarray
    elite_std: np.ndarray
    correlation: np.ndarray
    """Rank correlation of the coordinate with goodness (> 0: larger is better)."""
    batch: Evidence | None = field(default=None, repr=False, compare=False)
    """The batch this row was taken from (``row``), so batches regroup without copies."""
    index: int = -1

    @classmethod
    def build(cls, x: np.ndarray, quantiles: np.ndarray) -> Evidence:
        """From the coordinates ``[..., m, d]`` and rank quantiles ``[..., m]`` of the valid
        trials (a leading axis builds a batch of studies at once)."""
        d, m = x.shape[-1], x.shape[-2]
        if m == 0:
            half = np.full(x.shape[:-2] + (d,), 0.5)
            return cls(half, half, half.copy(), np.zeros_like(half))
        order = np.argsort(quantiles, axis=-1, kind="stable")
        n_elite = max(3, int(math.ceil(ELITE_FRACTION * m)))
        elite = np.take_along_axis(x, order[..., :n_elite, None], axis=-2)
        return cls(
            best_x=np.take_along_axis(x, order[..., :1, None], axis=-2)[..., 0, :],
            elite_mean=elite.mean(axis=-2),
            elite_std=elite.std(axis=-2),
            correlation=spearman(x, -quantiles),
        )

    def row(self, b: int) -> Evidence:
        return Evidence(self.best_x[b], self.elite_mean[b], self.elite_std[b],
                        self.correlation[b], self, b)

    @classmethod
    def stack(cls, rows: Sequence[Evidence]) -> Evidence:
        """Rows as one batch (indexing their common batch when they share one)."""
        batch = rows[0].batch
        if batch is not None and all(r.batch is batch for r in rows):
            k = np.array([r.index for r in rows])
            return cls(batch.best_x[k], batch.elite_mean[k], batch.elite_std[k],
                       batch.correlation[k])
        return cls(np.stack([r.best_x for r in rows]), np.stack([r.elite_mean for r in rows]),
                   np.stack([r.elite_std for r in rows]), np.stack([r.correlation for r in rows]))


RADIUS_INIT = 4.0
RADIUS_MIN = 0.5
RADIUS_MAX = 8.0
_SUCCESS_TOL = 3


def trust_radius(loss: np.ndarray, proposed: np.ndarray, n_params: int,
                 dead: np.ndarray | None = None, low: float = RADIUS_MIN,
                 high: float = RADIUS_MAX) -> np.ndarray:
    """Multiplier of every agent's action scale, adapted like TuRBO's trust region (Eriksson
    et al. 2019): doubled after 3 agent trials in a row set a new best, halved after
    max(4, d) in a row did not. ``loss[b, i]``: trial i of study b (inf unless completed),
    ``proposed[b, i]``: made by the agents. Recomputed from the history, so every worker
    agrees; one value per study.

    ``dead[b, i]`` (agent trials a pruner stopped): such a trial says the neighbourhood
    cannot finish a training under the pruner, not that the steps are too long, so it is no
    miss; as many of them in a row as the miss tolerance, with no completed agent trial in
    between, double the radius instead (up to ``RADIUS_MAX``). ``low``, ``high``: the
    smallest and largest radius (``RADIUS_MIN``, ``RADIUS_MAX``)."""
    n_studies, n = loss.shape
    fail_tol = max(4, n_params)
    before = np.concatenate([np.full((n_studies, 1), math.inf),
                             np.fmin.accumulate(loss, axis=1)[:, :-1]], axis=1)
    if dead is None:
        dead = np.zeros(loss.shape, bool)
    dead = dead & proposed
    improved = (loss < before) & proposed
    missed = ~(loss < before) & proposed & ~dead
    if n_studies == 1:  # one study (the sampler's case): a scalar loop is far cheaper
        return np.array([_radius_of(improved[0].tolist(), missed[0].tolist(),
                                    dead[0].tolist(), fail_tol, low, high)])
    r = np.full(n_studies, RADIUS_INIT)
    succ = np.zeros(n_studies, np.int64)
    fail = np.zeros(n_studies, np.int64)
    stuck = np.zeros(n_studies, np.int64)
    for i in range(n):
        succ = np.where(improved[:, i], succ + 1, np.where(missed[:, i], 0, succ))
        fail = np.where(missed[:, i], fail + 1, np.where(improved[:, i], 0, fail))
        stuck = np.where(dead[:, i], stuck + 1,
                         np.where(improved[:, i] | missed[:, i], 0, stuck))
        grow = succ >= _SUCCESS_TOL
        shrink = fail >= fail_tol
        escape = stuck >= fail_tol
        if grow.any() or shrink.any() or escape.any():
            r = np.where(grow | escape, np.minimum(2 * r, high),
                         np.where(shrink, np.maximum(r / 2, low), r))
            succ[grow] = 0
            fail[shrink] = 0
            stuck[escape] = 0
    return r


def _radius_of(improved: list[bool], missed: list[bool], dead: list[bool],
               fail_tol: int, low: float = RADIUS_MIN, high: float = RADIUS_MAX) -> float:
    r, succ, fail, stuck = RADIUS_INIT, 0, 0, 0
    for up, down, gone in zip(improved, missed, dead, strict=True):
        if up:
            succ, fail, stuck = succ + 1, 0, 0
            if succ >= _SUCCESS_TOL:
                r, succ = min(2 * r, high), 0
        elif down:
            succ, fail, stuck = 0, fail + 1, 0
            if fail >= fail_tol:
                r, fail = max(r / 2, low), 0
        elif gone:
            stuck += 1
            if stuck >= fail_tol:
                r, stuck = min(2 * r, high), 0
    return r


def moved_feature(x: np.ndarray, base: np.ndarray) -> float:
    """tanh(RMS(x - base) / 0.1): what the agents before this one changed (sequential)."""
    return math.tanh(math.sqrt(float(np.mean((x - base) ** 2))) / 0.1) if len(x) else 0.0


def study_features(loss: np.ndarray, valid: np.ndarray, complete: np.ndarray,
                   pruned: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Study part of the state ``[B, G]`` for B studies of n finished trials (``[B, n]``
    arrays of ``History`` fields): progress, recent improvement, spread, failures, radius."""
    b, n = loss.shape
    g = np.zeros((b, N_GLOBAL))
    g[:, G["radius"]] = np.log2(radius) / 3.0
    if n == 0:
        return g
    loss = np.where(complete, loss, np.inf)
    n_valid = valid.sum(axis=1)
    g[:, G["progress"]] = n_valid / (n_valid + 50.0)
    g[:, G["failed_share"]] = 1.0 - n_valid / n
    g[:, G["pruned_share"]] = pruned.mean(axis=1)
    running_best = np.fmin.accumulate(loss, axis=1)
    improved = np.concatenate([complete[:, :1], running_best[:, 1:] < running_best[:, :-1]], 1)
    has = complete.any(axis=1)
    g[:, G["recent_improvement"]] = np.where(has, improved[:, -_RECENT:].mean(axis=1), 0.0)
    last = n - 1 - np.argmax(improved[:, ::-1], axis=1)
    g[:, G["since_best"]] = np.where(has, (n - 1 - last) / (n + 1.0), 0.0)
    if complete.all():
        g[:, G["spread"]] = _spread(loss)
        return g
    for k in np.flatnonzero(has).tolist():
        g[k, G["spread"]] = _spread(loss[k][complete[k]][None])[0]
    return g


def _spread(v: np.ndarray) -> np.ndarray:
    """tanh(interquartile range / (median - best)) per row of ``[B, n]``: how spread the
    values are relative to the best one's lead, unchanged by shifts and positive scaling of
    the objective (1 where the median ties the best but the values spread, 0 when all tie)."""
    q25, q50, q75 = _quartiles(v)
    iqr, lead = q75 - q25, q50 - v.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lead > 0, iqr / lead, np.where(iqr > 0, np.inf, 0.0))
    return np.tanh(ratio)


def _quartiles(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentiles of each row of ``[B, n]``, with linear interpolation
    (``np.percentile``'s)."""
    s = np.sort(v, axis=1)
    n = s.shape[1]
    pos = np.array([0.25, 0.5, 0.75]) * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    q = s[:, lo] + (s[:, hi] - s[:, lo]) * (pos - lo)
    return q[:, 0], q[:, 1], q[:, 2]


@dataclass
class Medians:
    """Study-wide medians that base features are relative to."""

    stats: np.ndarray

    @classmethod
    def of(cls, history: History) -> Medians:
        if not history.has_stats.any():
            return cls(np.full(history.stats.shape[1], np.nan))
        s = np.where(history.stats > 0, history.stats, np.nan)
        med = np.full(s.shape[1], np.nan)
        for k in range(s.shape[1]):  # nanmedian warns on all-NaN columns
            col = s[:, k][~np.isnan(s[:, k])]
            if len(col):
                med[k] = np.median(col)
        return cls(med)


_STAT_SLOTS = tuple(G[f"base_{name}"] for name in STAT_NAMES)


def base_features(study_part: np.ndarray, history: History, i: int,
                  medians: Medians) -> np.ndarray:
    """The full state vector for base row ``i``: study part plus the base's rank, learning
    curve and reported training statistics (each relative to the study's median).

    The ``base_duration`` slot stays 0: wall-clock time made a seeded study on real training
    propose differently from run to run, and the simulator the agents learned in has none."""
    g = study_part.copy()
    g[G["base_quantile"]] = history.quantiles[i]
    trend = float(history.trend[i])
    if math.isfinite(trend):
        g[G["base_trend"]] = trend
        g[G["base_has_curve"]] = 1.0
    if history.has_stats[i]:
        stats = history.stats[i]
        for slot, value, med in zip(_STAT_SLOTS, stats.tolist(), medians.stats.tolist(),
                                    strict=True):
            if value > 0 and med > 0:  # NaN compares False
                g[slot] = math.tanh(math.log(value / med))
        g[G["base_has_stats"]] = 1.0
        tr, va = float(stats[1]), float(stats[2])
        if math.isfinite(tr) and math.isfinite(va):
            g[G["base_overfit"]] = math.tanh((va - tr) / (abs(tr) + 1e-12))
    return g


def token_features(
    x: np.ndarray,
    params: np.ndarray,
    evidence: Evidence,
    space_flags: np.ndarray,
    domain: np.ndarray,
    action_scale: float,
    surrogate: np.ndarray | None = None,
) -> np.ndarray:
    """One row per parameter an agent owns: where it is and what the trials say about it.
    ``x`` is ``[K, d]`` (K configurations), ``evidence`` fields ``[K, d]``, ``space_flags``
    ``[K, d, 3]`` (is_log, is_categorical, granularity), ``surrogate`` ``[K, d, 2]`` (the
    model's slope and lengthscale per coordinate, ``Surrogate.token_features``; 0 without a
    model); returns ``[K, P, N_TOKEN]``."""
    xp = x[:, params]
    f = np.empty(xp.shape + (N_TOKEN,))
    f[..., T["x"]] = xp
    f[..., T["best_delta"]] = evidence.best_x[:, params] - xp
    f[..., T["correlation"]] = evidence.correlation[:, params]
    f[..., T["elite_delta"]] = evidence.elite_mean[:, params] - xp
    f[..., T["elite_std"]] = evidence.elite_std[:, params]
    f[..., T["is_log"]] = space_flags[:, params, 0]
    f[..., T["is_categorical"]] = space_flags[:, params, 1]
    f[..., T["granularity"]] = space_flags[:, params, 2]
    f[..., T["in_domain"]] = domain
    f[..., T["action_scale"]] = action_scale
    if surrogate is None:
        f[..., T["gp_slope"]] = 0.0
        f[..., T["gp_lengthscale"]] = 0.0
    else:
        f[..., T["gp_slope"]] = surrogate[:, params, 0]
        f[..., T["gp_lengthscale"]] = surrogate[:, params, 1]
    return f
