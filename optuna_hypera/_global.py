"""Candidates from the whole search space, next to the trust region's.

A cooperative decision's candidates are moves from one base inside the trust region (the
actors' and uniform ones, TuRBO-style). On small budgets that walks in small steps around the
startup incumbent while GP-EI jumps to wherever its acquisition peaks. ``global_points``
supplies the jumps, so the scorer (critics or the log-EI teacher) decides when to leave the
neighbourhood:

- the surrogate's global log-EI optima: ``pool`` uniform points over the whole space scored by
  log expected improvement, the best ``n_opt`` of them (each from a distinct start) refined by
  three rounds of Gaussian perturbations (sd 0.15, 0.05, 0.015) keeping the best;
- the rest uniform points over the space (what neither the model nor the actors would
  propose; they also let the critics learn what a blind jump is worth).

Without a model every point is uniform. Points are snapped to the space (the values they
decode to), so distinct candidates stay distinct. Pure numpy; no Optuna import.
"""

from __future__ import annotations

import numpy as np

from optuna_hypera._space import Space
from optuna_hypera._surrogate import ModelView


POOL = 128
"""Uniform points scored per decision to find the acquisition's global optima."""
_REFINE = ((0.15, 8), (0.05, 8), (0.015, 8))
"""(perturbation sd, draws) per refinement round of each optimum."""


def n_global(n_candidates: int, share: float) -> int:
    """How many of ``n_candidates`` are global (0 with share 0, at least 1 otherwise, and
    never all of them)."""
    if share <= 0 or n_candidates < 2:
        return 0
    return min(n_candidates - 1, max(1, int(round(share * n_candidates))))


def global_points(model: ModelView | None, space: Space, n: int,
                  rng: np.random.RandomState, pool: int = POOL) -> np.ndarray:
    """``[n, d]`` candidates over the whole space: about three quarters the model's log-EI
    optima (best first), the rest uniform."""
    d = len(space)
    if n <= 0:
        return np.zeros((0, d))
    if model is None or d == 0:
        return space.snap(rng.uniform(size=(n, d)))
    n_opt = max(1, n - max(1, n // 4)) if n > 1 else 1
    x = space.snap(rng.uniform(size=(pool, d)))
    score = model.acquisition(x)
    starts = np.argsort(-score, kind="stable")[:n_opt]
    best_x, best_s = x[starts], score[starts]
    for sd, draws in _REFINE:
        trial = space.snap(best_x[:, None, :] + sd * rng.randn(len(best_x), draws, d))
        s = model.acquisition(trial.reshape(-1, d)).reshape(len(best_x), draws)
        k = np.argmax(s, axis=1)
        better = s[np.arange(len(best_x)), k] > best_s
        best_x[better] = trial[np.flatnonzero(better), k[better]]
        best_s[better] = s[np.flatnonzero(better), k[better]]
    order = np.argsort(-best_s, kind="stable")
    rest = space.snap(rng.uniform(size=(n - len(order), d)))
    return np.concatenate([best_x[order], rest])

