"""A cooperative decision's candidate rows (``candidate_rows``: each context's rows from one
base, the actors' half first) and the uniform half of them: their moves (``uniform_moves``),
and replacements for some of them (global points, ``_global``, and experiment options of
``Coordinator``, off by default; ``docs/benchmarks/small-budget-levers.md``,
``docs/benchmarks/stretch-validation.md``):

- ``stretched``: uniform moves in TuRBO's box, each numeric parameter's step stretched by its
  fitted lengthscale (``Coordinator.stretch``);
- ``categorical_sweep``: the base with one categorical parameter set to another of its
  choices (``Coordinator.categorical_sweep``).

Pure numpy on the decision's ``Context``; no Optuna import.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np

from optuna_hypera._decision import Base
from optuna_hypera._decision import Context
from optuna_hypera._global import global_points
from optuna_hypera._groups import GroupAssignment
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._space import Space
from optuna_hypera._states import by_assignment


def candidate_rows(ctxs: Sequence[Context], thetas: Sequence[np.ndarray],
                   draw_base: Callable[[Context], Base], m: int, n_far: int,
                   rng: np.random.RandomState, *, pool: int, stretch: bool,
                   stretch_pruned: bool, sweep: int,
                   ) -> tuple[list[tuple[Context, Base, np.ndarray]], dict[int, np.ndarray],
                              set[int]]:
    """``m`` rows per context, all from one base (``draw_base``): the (context, base, theta)
    items, the configurations that replace some uniform rows by row index (where the
    assignment is disjoint: the last ``n_far`` from the whole space, ``_global``, and
    ``uniform_replacements``' right after the actors' half), and which of those are box
    moves. The stretched box needs a model, and under pruners ``stretch_pruned``."""
    items: list[tuple[Context, Base, np.ndarray]] = []
    fixed: dict[int, np.ndarray] = {}
    boxed: set[int] = set()
    for k, (c, th) in enumerate(zip(ctxs, thetas, strict=True)):
        base = draw_base(c)
        items.extend([(c, base, th)] * m)
        if not c.assignment.disjoint:
            continue
        if n_far:
            # The last of the uniform rows: the same base, moves of any length.
            far = global_points(c.surrogate, c.space, n_far, rng, pool)
            fixed.update(((k + 1) * m - n_far + j, point) for j, point in enumerate(far))
        lo = k * m + (m + 1) // 2
        points, box = uniform_replacements(
            c, base.x, m - n_far - (m + 1) // 2, rng,
            stretch=stretch and c.surrogate is not None
            and (stretch_pruned or c.n_trainings == c.n_trials),
            sweep=sweep)
        fixed.update((lo + j, point) for j, point in points.items())
        boxed.update(lo + j for j in box)
    return items, fixed, boxed


def actions_towards(act: np.ndarray, kk: np.ndarray, rows: np.ndarray, x: np.ndarray,
                    xb: np.ndarray, step: np.ndarray, asg: GroupAssignment,
                    agents: Sequence[int]) -> None:
    """Rewrite in place the actions ``act[a, kk[rows]]`` of the candidates that were moved
    elsewhere (a redrawn categorical, a global or boxed point): each agent's move from the
    base ``xb`` to ``x`` over its step, clipped to the action range."""
    for a in agents:
        p = asg.indices(a)
        act[a, kk[rows], : len(p)] = np.clip(
            (x[rows][:, p] - xb[rows][:, p]) / np.maximum(step[rows, a, None], 1e-12),
            -ACTION_LIMIT, ACTION_LIMIT)


def disjoint_rows(ks: Sequence[int], asg: GroupAssignment, agents: Sequence[int],
                  xb: np.ndarray, step: np.ndarray, act: np.ndarray,
                  jumps: dict[int, tuple[np.ndarray, np.ndarray]],
                  fixed: dict[int, np.ndarray], boxed: set[int], sources: list[str],
                  ) -> tuple[np.ndarray, bool]:
    """The candidates of items ``ks`` under a disjoint assignment (one owner per parameter):
    every agent's move from the bases ``xb`` lands at once; then the redrawn categorical
    coordinates of ``jumps`` and the configurations of ``fixed`` (source ``"box"`` for the
    items in ``boxed``, else ``"global"``), whose actions become the moves towards them
    (``actions_towards``). Returns the rows and whether an action was rewritten."""
    kk = np.asarray(ks)
    x = xb.copy()
    for a in agents:
        p = asg.indices(a)
        x[:, p] = np.clip(xb[:, p] + step[:, a, None] * act[a, kk, : len(p)], 0, 1)
    at = []
    for i, k in enumerate(ks):
        if k in jumps:
            redraw, u = jumps[k]
            x[i, redraw] = u
        if k in fixed:
            x[i] = fixed[k]
            sources[k] = "box" if k in boxed else "global"
        if k in jumps or k in fixed:
            at.append(i)
    if at:
        actions_towards(act, kk, np.array(at), x, xb, step, asg, agents)
    return x, bool(at)


def uniform_moves(items: Sequence[tuple[Context, Any, Any]], uniform: np.ndarray,
                  rng: np.random.RandomState, actions: np.ndarray, sources: list[str],
                  n_agents: int, categorical_jumps: bool,
                  ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Uniform moves in the trust region for the items flagged in ``uniform``, written into
    the agents' ``actions`` ``[n_agents, items, max params]`` in place: a random subset of
    coordinates moves, at most about 20 of them, as TuRBO perturbs (at least one). Their
    ``sources`` become ``"uniform"``. With ``categorical_jumps`` (disjoint assignments only)
    the chosen categorical coordinates are redrawn uniformly instead of stepped; returns
    those, by item, as (which coordinates, their new values in [0, 1])."""
    jumps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ks, group in by_assignment(items).items():
        rows = np.array(ks)[uniform[list(ks)]]
        if not len(rows):
            continue
        asg, d = group[0][0].assignment, len(group[0][1].x)
        chosen = rng.rand(len(rows), d) < min(1.0, 20.0 / max(d, 1))
        none = np.flatnonzero(~chosen.any(axis=1))
        chosen[none, rng.randint(d, size=len(none))] = True
        for a in range(n_agents):
            pa = asg.indices(a)
            if len(pa):
                actions[a, rows, : len(pa)] = rng.uniform(
                    -ACTION_LIMIT, ACTION_LIMIT, (len(rows), len(pa))) * chosen[:, pa]
        for k in rows.tolist():
            sources[k] = "uniform"
        cat = group[0][0].space.categorical
        if categorical_jumps and asg.disjoint and cat.any():
            redraw = chosen & cat
            for i, k in enumerate(rows.tolist()):
                if redraw[i].any():
                    jumps[k] = (redraw[i], rng.uniform(size=int(redraw[i].sum())))
    return jumps


def uniform_replacements(ctx: Context, x: np.ndarray, n: int, rng: np.random.RandomState, *,
                         stretch: bool, sweep: int) -> tuple[dict[int, np.ndarray], set[int]]:
    """Points for the first of ``n`` uniform rows around the base ``x``, by row offset, and
    the offsets that are box moves: with ``stretch`` every row from the stretched box, then,
    with ``sweep``, up to that many of the first rows by the categorical sweep (a random
    subset of it when it is longer), which are jumps, not box moves."""
    points: dict[int, np.ndarray] = {}
    box: set[int] = set()
    if stretch and n > 0:
        points.update(enumerate(stretched(ctx, x, n, rng)))
        box.update(range(n))
    if sweep and ctx.space.categorical.any():
        swept = categorical_sweep(x, ctx.space)
        k = min(len(swept), sweep, n)
        if k > 0:
            which = np.sort(rng.choice(len(swept), k, replace=False))
            points.update(enumerate(swept[which]))
            box.difference_update(range(k))
    return points, box


def categorical_sweep(x: np.ndarray, space: Space) -> np.ndarray:
    """``x`` with one categorical coordinate moved to another choice's bin centre, for every
    categorical coordinate and choice: ``[sum of (choices - 1), d]``."""
    out = []
    for j in np.flatnonzero(space.categorical & ~space.single).tolist():
        n = int(space.n_bins[j])
        current = min(int(x[j] * n), n - 1)
        for c in range(n):
            if c != current:
                y = x.copy()
                y[j] = (c + 0.5) / n
                out.append(y)
    return np.array(out).reshape(len(out), len(x))


def stretched(ctx: Context, x: np.ndarray, n: int, rng: np.random.RandomState) -> np.ndarray:
    """``n`` uniform moves from ``x`` ``[n, d]`` in a box whose side along each numeric
    parameter is the owning agent's step times the parameter's lengthscale over the numeric
    lengthscales' geometric mean, clipped to [1/4, 4] (TuRBO's trust region; categorical
    parameters keep the step); a random subset of at most about 20 parameters moves, as for
    the other uniform candidates."""
    d = len(x)
    step = np.zeros(d)
    for a in range(len(ctx.step)):
        step[ctx.assignment.indices(a)] = ctx.step[a]
    assert ctx.surrogate is not None
    log_ls = np.asarray(ctx.surrogate.log_ls, np.float64)
    w = np.ones(d)
    num = ~ctx.space.categorical
    if len(log_ls) == d and num.any():
        # Categorical lengthscales are in units of the overlap distance: left out.
        w[num] = np.clip(np.exp(log_ls[num] - log_ls[num].mean()), 0.25, 4.0)
    chosen = rng.rand(n, d) < min(1.0, 20.0 / max(d, 1))
    none = np.flatnonzero(~chosen.any(axis=1))
    chosen[none, rng.randint(d, size=len(none))] = True
    move = rng.uniform(-ACTION_LIMIT, ACTION_LIMIT, (n, d)) * chosen * step * w
    return np.clip(x + move, 0.0, 1.0)
