"""Pure metric functions over per-trial losses (lower is better) and per-seed results.

Conventions: a *curve* is the best-so-far loss after each trial (``inf`` before the first
completed trial); per-sampler inputs map ``seed -> value`` so that ranks compare samplers on the
same seed (same BBOB instance, data split or images). Nothing here reads files or plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np


def best_so_far(losses: Sequence[float | None]) -> list[float]:
    """Running minimum; ``None`` (failed or pruned trial) keeps the previous best."""
    best = math.inf
    curve = []
    for loss in losses:
        if loss is not None and not math.isnan(loss):
            best = min(best, loss)
        curve.append(best)
    return curve


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile that tolerates ``inf`` (between x and inf it gives inf)."""
    if not values:
        raise ValueError("quantile of an empty sequence")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = ordered[math.floor(position)], ordered[math.ceil(position)]
    if low == high or math.isinf(high):
        return high
    return low + (high - low) * (position - math.floor(position))


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def iqr(values: Sequence[float]) -> float:
    """Interquartile range, ``q75 - q25``."""
    return quantile(values, 0.75) - quantile(values, 0.25)


def curve_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 25% and 75% quantile over curves (seeds), trial by trial.

    Curves of unequal length are cut to the shortest.
    """
    length = min(len(c) for c in curves)
    columns = [[c[t] for c in curves] for t in range(length)]
    mid, low, high = (np.array([quantile(col, q) for col in columns]) for q in (0.5, 0.25, 0.75))
    return mid, low, high


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks, 1 = lowest value; tied values share the average of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def mean_ranks(finals: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """Mean over seeds of each sampler's rank among all samplers on that seed.

    Only seeds that every sampler ran are used; ``nan`` for everyone when there are none.
    """
    samplers = list(finals)
    seeds = set.intersection(*(set(finals[s]) for s in samplers)) if samplers else set()
    if not seeds:
        return {s: math.nan for s in samplers}
    totals = dict.fromkeys(samplers, 0.0)
    for seed in seeds:
        ranks = average_ranks([finals[s][seed] for s in samplers])
        for sampler, rank in zip(samplers, ranks, strict=True):
            totals[sampler] += rank
    return {s: totals[s] / len(seeds) for s in samplers}


def anytime_mean_ranks(
    curves: Mapping[str, Mapping[int, Sequence[float]]],
) -> dict[str, np.ndarray]:
    """:func:`mean_ranks` after every trial (curves cut to the shortest)."""
    length = min(len(c) for per_seed in curves.values() for c in per_seed.values())
    columns = [
        mean_ranks({s: {k: c[t] for k, c in per_seed.items()} for s, per_seed in curves.items()})
        for t in range(length)
    ]
    return {s: np.array([col[s] for col in columns]) for s in curves}


def trials_to_target(curve: Sequence[float] | np.ndarray, target: float) -> int | None:
    """Number of trials (1-based) until the curve is <= ``target``; ``None`` if never."""
    for index, value in enumerate(curve):
        if value <= target:
            return index + 1
    return None


@dataclass(frozen=True)
class Efficiency:
    """Trials to reach a target, against a baseline sampler."""

    target: float
    """The baseline's median final loss."""
    trials: int | None
    """Trials the median curve (over seeds) needs to reach ``target``; ``None``: never."""
    speedup: float | None
    """Baseline trials / these trials (3.5 means 3.5x fewer trials); ``None``: never reached."""
    reached: float
    """Fraction of seeds whose own curve reaches ``target``."""


def efficiency(
    curves: Mapping[str, Sequence[Sequence[float]]], baseline: str
) -> dict[str, Efficiency]:
    """Trials-to-target of every sampler, target = the baseline's median final loss."""
    target = median([c[-1] for c in curves[baseline]])
    trials = {s: trials_to_target(curve_band(cs)[0], target) for s, cs in curves.items()}
    base_trials = trials[baseline]
    result = {}
    for sampler, sampler_curves in curves.items():
        t = trials[sampler]
        speedup = None if t is None or base_trials is None else base_trials / t
        hits = [trials_to_target(c, target) is not None for c in sampler_curves]
        result[sampler] = Efficiency(target, t, speedup, sum(hits) / len(hits))
    return result


def relative_gain(value: float, baseline: float, *, higher_is_better: bool) -> float:
    """Relative improvement over a baseline: +0.12 means 12% better.

    For scores (higher is better) ``(value - baseline) / |baseline|``; for losses the relative
    reduction ``(baseline - value) / |baseline|``. ``nan`` when the baseline is zero.
    """
    if baseline == 0:
        return math.nan
    diff = value - baseline if higher_is_better else baseline - value
    return diff / abs(baseline)


def variance_ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """Sample variance (ddof=1) across seeds relative to the baseline's (0.6 = 40% less).

    ``nan`` with fewer than two values on either side or a zero baseline variance.
    """
    if len(values) < 2 or len(baseline) < 2:
        return math.nan
    base = float(np.var(baseline, ddof=1))
    return float(np.var(values, ddof=1)) / base if base > 0 else math.nan


def scaling_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): time grows like size**exponent."""
    if len(sizes) != len(seconds) or len(set(sizes)) < 2:
        raise ValueError("need at least two distinct sizes with one time each")
    if min(seconds) <= 0 or min(sizes) <= 0:
        raise ValueError("sizes and seconds must be positive")
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def overhead_fraction(sampler_seconds: Sequence[float], wall_seconds: float) -> float:
    """Share of a run's wall time spent inside the sampler."""
    return sum(sampler_seconds) / wall_seconds if wall_seconds > 0 else math.nan
