"""What the agents see (state) and what they are paid (reward), built from finished trials.

Everything is scale-free and direction-aware: objective values enter only through their ranks
among the study's valid finished trials, so the same weights serve any objective.

Reward of a trial proposed from a base trial (README, "Reward"):

    r = q(base) - q(trial)        q = rank quantile in [0, 1], 0 = best
    r = -1                        failed, NaN/inf value, infeasible, pruned without a report

Pruned trials count with their last intermediate value.
"""

from __future__ import annotations

from collections.abc import Container
from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import Any

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


PENALTY = -1.0
STATS_KEY = "hypera_stats"
STAT_NAMES = ("grad_norm", "train_loss", "val_loss", "gpu_mem")
N_GLOBAL = 18
MOVED = 17
"""Study-feature slot: how far earlier agents moved this decision's configuration."""
N_TOKEN = 10
_ELITE_FRACTION = 0.2
_RECENT = 10
_MIN_DURATION = 1.0


def trial_loss(trial: FrozenTrial, minimize: bool) -> float | None:
    """Direction-adjusted value to rank (lower is better), or ``None`` when penalized."""
    if trial.state == TrialState.COMPLETE:
        value = trial.values[0] if trial.values else None
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    else:
        return None
    if value is None or not math.isfinite(value):
        return None
    if any(c > 0.0 for c in trial.constraints.values()):
        return None
    return float(value) if minimize else -float(value)


@dataclass
class History:
    """Finished trials of the study in trial-number order, with ranks."""

    numbers: np.ndarray
    """Trial numbers of the finished trials."""
    losses: np.ndarray
    """Direction-adjusted values; NaN where penalized."""
    quantiles: np.ndarray
    """Rank quantile in [0, 1] (0 = best); 1 where penalized."""
    pruned: np.ndarray
    durations: np.ndarray
    """Seconds, NaN when unknown."""

    valid: np.ndarray
    """Not penalized."""

    @classmethod
    def build(cls, trials: Sequence[FrozenTrial], direction: StudyDirection) -> History:
        """From scratch; the sampler keeps an incremental ``TrialTable`` instead."""
        minimize = direction == StudyDirection.MINIMIZE
        finished = sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number)
        losses = np.array([math.nan if (v := trial_loss(t, minimize)) is None else v
                           for t in finished], dtype=np.float64)
        durations = np.array([
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_start is not None and t.datetime_complete is not None else math.nan
            for t in finished
        ], dtype=np.float64)
        return cls(
            numbers=np.array([t.number for t in finished], dtype=np.int64),
            losses=losses,
            quantiles=rank_quantiles(losses),
            pruned=np.array([t.state == TrialState.PRUNED for t in finished], dtype=bool),
            durations=durations,
            valid=~np.isnan(losses),
        )

    def quantile_of(self) -> dict[int, float]:
        return dict(zip(self.numbers.tolist(), self.quantiles.tolist(), strict=True))

    def penalized(self) -> set[int]:
        return set(self.numbers[~self.valid].tolist())


def rank_quantiles(losses: np.ndarray) -> np.ndarray:
    """Mid-rank quantile of each valid loss among the valid ones (ties share), 1 for NaN."""
    q = np.ones(len(losses))
    valid = ~np.isnan(losses)
    v = losses[valid]
    if len(v) == 0:
        return q
    s = np.sort(v)
    below = np.searchsorted(s, v, side="left")
    upto = np.searchsorted(s, v, side="right")
    q[valid] = (below + upto - 1) / 2.0 / max(len(v) - 1, 1)
    return q


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rank correlation of every column of ``x`` with ``y`` (0 where undefined)."""
    if len(y) < 4:
        return np.zeros(x.shape[1])
    rx = np.argsort(np.argsort(x, axis=0, kind="stable"), axis=0).astype(np.float64)
    ry = np.argsort(np.argsort(y, kind="stable")).astype(np.float64)
    rx -= rx.mean(axis=0)
    ry -= ry.mean()
    den = np.sqrt((rx**2).sum(axis=0) * (ry**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (rx * ry[:, None]).sum(axis=0) / den
    return np.nan_to_num(c)


@dataclass
class Evidence:
    """Per-parameter summary of the trials that cover the whole search space."""

    best_x: np.ndarray
    elite_mean: np.ndarray
    elite_std: np.ndarray
    correlation: np.ndarray
    """Rank correlation of the coordinate with goodness (> 0: larger is better)."""

    @classmethod
    def build(cls, x: np.ndarray, losses: np.ndarray) -> Evidence:
        d = x.shape[1]
        if len(losses) == 0:
            half = np.full(d, 0.5)
            return cls(half, half, np.full(d, 0.5), np.zeros(d))
        order = np.argsort(losses, kind="stable")
        n_elite = max(3, int(math.ceil(_ELITE_FRACTION * len(losses))))
        elite = x[order[:n_elite]]
        return cls(
            best_x=x[order[0]],
            elite_mean=elite.mean(axis=0),
            elite_std=elite.std(axis=0),
            correlation=_spearman(x, -losses),
        )


RADIUS_INIT = 4.0
RADIUS_MIN = 0.5
RADIUS_MAX = 8.0
_SUCCESS_TOL = 3


def trust_radius(history: History, proposed: Container[int], n_params: int) -> float:
    """Multiplier of every agent's action scale, adapted like TuRBO's trust region (Eriksson
    et al. 2019): doubled after 3 agent trials in a row set a new best, halved after
    max(4, d) in a row did not. Recomputed from the history, so every worker agrees."""
    r, succ, fail, best = RADIUS_INIT, 0, 0, math.inf
    fail_tol = max(4, n_params)
    for number, loss in zip(history.numbers.tolist(), history.losses.tolist(), strict=True):
        improved = loss == loss and loss < best  # NaN-safe
        if number in proposed:
            succ, fail = (succ + 1, 0) if improved else (0, fail + 1)
            if succ >= _SUCCESS_TOL:
                r, succ = min(2 * r, RADIUS_MAX), 0
            elif fail >= fail_tol:
                r, fail = max(r / 2, RADIUS_MIN), 0
        if improved:
            best = loss
    return r


def moved_feature(x: np.ndarray, base: np.ndarray) -> float:
    """tanh(RMS(x - base) / 0.1): what the agents before this one changed (sequential)."""
    return math.tanh(math.sqrt(float(np.mean((x - base) ** 2))) / 0.1) if len(x) else 0.0


def study_features(history: History, radius: float) -> np.ndarray:
    """Study-level part of the state: progress, recent improvement, spread, failures and the
    trust radius."""
    g = np.zeros(N_GLOBAL)
    g[16] = math.log2(radius) / 3.0
    valid = history.valid
    n_valid = int(valid.sum())
    n = len(history.losses)
    g[0] = n_valid / (n_valid + 50.0)
    if n_valid:
        running_best = np.fmin.accumulate(np.where(valid, history.losses, np.inf))
        improved = np.r_[valid[:1], running_best[1:] < running_best[:-1]]
        g[1] = improved[-_RECENT:].mean()
        last_improvement = int(np.flatnonzero(improved)[-1])
        g[2] = (n - 1 - last_improvement) / (n + 1.0)
        v = history.losses[valid]
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        g[3] = math.tanh((q75 - q25) / (abs(q50) + abs(v.min()) + 1e-12))
    if n:
        g[4] = 1.0 - n_valid / n
        g[5] = history.pruned.mean()
    return g


def base_features(
    study_part: np.ndarray,
    quantile: float,
    duration: float,
    base: FrozenTrial,
    stats_medians: dict[str, float],
    duration_median: float,
) -> np.ndarray:
    """The full state vector: study part plus the base trial's rank, learning curve,
    duration and reported training statistics (each relative to the study's median)."""
    g = study_part.copy()
    g[6] = quantile
    # Duration matters for real training only; below a second it is timer noise, and rounding
    # to powers of two keeps a seeded study reproducible despite small timing jitter.
    if math.isfinite(duration) and duration_median >= _MIN_DURATION and duration > 0:
        g[9] = math.tanh(round(math.log2(duration / duration_median)) / 2.0)
    curve = [base.intermediate_values[k] for k in sorted(base.intermediate_values)]
    curve = [c for c in curve if math.isfinite(c)]
    if len(curve) >= 2:
        first, last = curve[0], curve[-1]
        g[7] = math.tanh((first - last) / (abs(first) + abs(last) + 1e-12))
        g[8] = 1.0
    stats = base.user_attrs.get(STATS_KEY)
    if isinstance(stats, dict):
        for k, name in enumerate(STAT_NAMES):
            value, med = number(stats.get(name)), stats_medians.get(name)
            if value is not None and value > 0 and med is not None and med > 0:
                g[10 + k] = math.tanh(math.log(value / med))
        g[14] = 1.0
        tr, va = number(stats.get("train_loss")), number(stats.get("val_loss"))
        if tr is not None and va is not None:
            g[15] = math.tanh((va - tr) / (abs(tr) + 1e-12))
    return g


def number(v: Any) -> float | None:
    """``v`` as a float if it is a finite number (bools excluded), else ``None``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def token_features(
    x: np.ndarray,
    params: Sequence[int],
    evidence: Evidence,
    is_log: np.ndarray,
    is_categorical: np.ndarray,
    granularity: np.ndarray,
    domain: Sequence[float],
    action_scale: float,
) -> np.ndarray:
    """One row per parameter an agent owns: where it is and what the trials say about it."""
    p = np.asarray(params, dtype=np.int64)
    f = np.empty((len(p), N_TOKEN))
    f[:, 0] = x[p]
    f[:, 1] = evidence.best_x[p] - x[p]
    f[:, 2] = evidence.correlation[p]
    f[:, 3] = evidence.elite_mean[p] - x[p]
    f[:, 4] = evidence.elite_std[p]
    f[:, 5] = is_log[p]
    f[:, 6] = is_categorical[p]
    f[:, 7] = granularity[p]
    f[:, 8] = np.asarray(domain, dtype=np.float64)
    f[:, 9] = action_scale
    return f
