"""Past studies as the agents' experience, on arrays (``_sources`` reads them from Optuna).

- A trial the agents proposed replays as it was stored (state, action, candidate features).
- Any other finished trial (TPE's, random, enqueued by hand) becomes a *hindsight move* when
  the agents could have made it: the state they would have seen just before it, at the
  earlier completed trial from which one move inside the action range reaches it (the
  nearest elite if one can, else the nearest other trial), and that unclipped action, so the
  stored ``x`` is exactly ``base + step * action``. A trial no earlier one reaches is left
  out rather than recorded as a clipped move it was not. Its reward is the usual rank
  improvement over that base, from the past study's own ranks.

``adapt`` runs the SAC updates on that experience, offline, from whatever weights the agents
hold (the shipped ones by default).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import logging
import math

import numpy as np
import torch

from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._decision import AgentMove
from optuna_hypera._decision import Context
from optuna_hypera._history import History
from optuna_hypera._learner import Learner
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._schema import Proposal
from optuna_hypera._space import Space


_logger = logging.getLogger("optuna.hypera")
REACH = 0.99 * ACTION_LIMIT
"""A hindsight move must stay below this in every coordinate: it records a move the agents
could have made, not one squashed onto the limit, where tanh's inverse (the cloning loss
on it) diverges."""
_CHUNK = 64
"""Source trials whose contexts are built together (bounds the models held at once)."""


@dataclass
class PastStudy:
    """One past study as the core sees it: its space, finished trials and stored proposals."""

    key: Hashable
    space: Space
    history: History
    proposals: Mapping[int, Proposal]


def hindsight(core: HyperaCore, study: PastStudy) -> dict[int, Proposal]:
    """The study's proposals, completed with a hindsight move for every other finished trial
    that covers its space and that an earlier completed trial reaches in one move."""
    out = dict(study.proposals)
    h, space = study.history, study.space
    if not len(space):
        return out
    rows = [r for r in range(1, len(h)) if int(h.numbers[r]) not in out
            and not np.isnan(h.x[r, 0]) and not np.isnan(h.loss[r])]
    key = ("hindsight", study.key)
    try:
        for k in range(0, len(rows), _CHUNK):
            chunk = rows[k : k + _CHUNK]
            # One call builds the chunk's contexts, one pass their states.
            ctxs = core.contexts([StudyInput(space=space, history=h.head(r), key=key)
                                  for r in chunk])
            made = []
            for row, ctx in zip(chunk, ctxs, strict=True):
                if ctx is not None and (b := reaching_base(ctx, h, row)) is not None:
                    made.append((row, ctx, ctx.make_base(b)))
            if not made:
                continue
            tok, _, _ = core.coordinator.states([(c, b.x, b.glob) for _, c, b in made],
                                                range(len(core.agents)))
            for i, (row, ctx, base) in enumerate(made):
                x = h.x[row]
                moves = {}
                for a, agent in enumerate(core.agents):
                    params = ctx.assignment.params_of(a)
                    if params:
                        step = float(ctx.step[a])
                        moves[agent.name] = AgentMove(
                            list(params), tok[a, i, : len(params)].astype(np.float64),
                            (x[params] - base.x[params]) / step, 0.0, 0.0, step)
                out[int(h.numbers[row])] = Proposal(
                    names=space.names, x=x, base=base.number, strategy="hindsight",
                    conflict=core.coordinator.conflict, glob=base.glob, agents=moves,
                    cand=ctx.candidates(x[None], base.x)[0])
    finally:
        core.forget(key)
    return out


def reaching_base(ctx: Context, h: History, row: int) -> int | None:
    """The row of the earlier completed trial nearest to trial ``row`` in actions (the move's
    coordinate changes over each agent's step) among those whose move to it stays inside
    the action range: an elite if one does (agents act from elites), else any; ``None`` if
    none does."""
    elites = np.array(ctx.elites, dtype=np.int64)
    done = ~np.isnan(h.x[:row, 0]) & ~np.isnan(h.loss[:row]) & ~h.pruned[:row]
    others = np.setdiff1d(np.flatnonzero(done), elites)
    scale = np.zeros(h.x.shape[1])
    for a in range(len(ctx.step)):
        # A parameter two agents claim must be reachable by the shorter step.
        p = ctx.assignment.indices(a)
        scale[p] = np.maximum(scale[p], 1.0 / ctx.step[a])
    for rows in (elites, others):
        if not len(rows):
            continue
        action = (h.x[row] - h.x[rows]) * scale
        ok = np.abs(action).max(axis=1) < REACH
        if ok.any():
            dist = np.where(ok, (action**2).sum(axis=1), np.inf)
            return int(rows[np.argmin(dist)])
    return None


def adapt(core: HyperaCore, studies: Sequence[PastStudy], steps: int,
          rng: np.random.RandomState, gen: torch.Generator | None,
          on_step: Callable[[int], None] | None = None, max_passes: float | None = None,
          ) -> int:
    """``steps`` SAC updates of ``core``'s agents on the studies' experience (their stored
    proposals and hindsight moves), or fewer where ``max_passes`` caps how many times the
    draws go over it; returns the number of trials they came from (0: nothing to learn
    from, no update run)."""
    learner = Learner(core.agents, core.config, core.sac)
    added = learner.observe_batch([(("past", s.key), s.history, hindsight(core, s), s.space)
                           for s in studies])
    sizes = np.array([len(r) for r in learner.replays])
    has = sizes > 0
    if not has.any():
        return 0
    if max_passes is not None:
        # Each draw takes min(batch, largest replay) transitions (``Learner.draw``).
        largest = int(sizes.max())
        per_step = min(core.config.batch_size, largest)
        steps = min(steps, math.ceil(max_passes * largest / per_step))
    totals: dict[str, np.ndarray] = {}
    for k in range(steps):
        batch, mask = learner.draw(has, rng)
        for name, value in core.sac.update(batch, mask, gen).items():
            totals[name] = totals.get(name, 0.0) + value.cpu().numpy()
        if on_step is not None:
            on_step(k + 1)
    if steps and _logger.isEnabledFor(logging.DEBUG):
        means = {name: np.round(total / steps, 4).tolist() for name, total in totals.items()}
        _logger.debug(f"Adapted on {added} past trials ({sizes.tolist()} transitions per "
                      f"agent) in {steps} steps; mean losses per agent: {means}")
    return added
