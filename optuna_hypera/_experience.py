"""Past studies as the agents' experience, on arrays (``_sources`` reads them from Optuna).

- A trial the agents proposed replays as it was stored (state, action, candidate features).
- Any other finished trial (TPE's, random, enqueued by hand) becomes a *hindsight move*: the
  state the agents would have seen just before it, at the elite trial nearest to it (an earlier
  good trial), and the action that takes that trial to it (clipped to the action range, as a
  proposal the agents could have made). Its reward is the usual rank improvement over that
  base, from the past study's own ranks.

``adapt`` runs the SAC updates on that experience, offline, from whatever weights the agents
hold (the shipped ones by default).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace

import numpy as np
import torch

from optuna_hypera._coordinator import AgentMove
from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._features import History
from optuna_hypera._learner import Learner
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._schema import Proposal
from optuna_hypera._space import Space


@dataclass
class PastStudy:
    """One past study as the core sees it: its space, finished trials and stored proposals."""

    key: Hashable
    space: Space
    history: History
    proposals: Mapping[int, Proposal]


def prefix(h: History, n: int) -> History:
    """The first ``n`` finished trials of ``h``."""
    return replace(h, numbers=h.numbers[:n], x=h.x[:n], loss=h.loss[:n], pruned=h.pruned[:n],
                   step=h.step[:n], trend=h.trend[:n], duration=h.duration[:n],
                   stats=h.stats[:n], has_stats=h.has_stats[:n])


def hindsight(core: HyperaCore, study: PastStudy) -> dict[int, Proposal]:
    """The study's proposals, completed with a hindsight move for every other finished trial
    that covers its space and follows at least one completed trial."""
    out = dict(study.proposals)
    h, space = study.history, study.space
    if not len(space):
        return out
    n_agents = len(core.agents)
    key = ("hindsight", study.key)
    try:
        for row in range(1, len(h)):
            number = int(h.numbers[row])
            if number in out or np.isnan(h.x[row, 0]) or np.isnan(h.loss[row]):
                continue
            ctx = core.context(StudyInput(space=space, history=prefix(h, row), key=key))
            if ctx is None:
                continue
            x = h.x[row]
            rows = np.array(ctx.elites, dtype=np.int64)
            near = int(rows[np.argmin(((h.x[rows] - x) ** 2).sum(1))])
            base = ctx.make_base(near)
            tok, _, _ = core.coordinator.states([(ctx, base.x, base.glob)],
                                             range(n_agents))
            moves = {}
            for a in range(n_agents):
                params = ctx.assignment.params_of(a)
                if not params:
                    continue
                step = float(ctx.step[a])
                action = np.clip((x[params] - base.x[params]) / step, -ACTION_LIMIT,
                                 ACTION_LIMIT)
                moves[core.agents[a].name] = AgentMove(
                    list(params), tok[a, 0, : len(params)].astype(np.float64), action, 0.0,
                    0.0, step)
            out[number] = Proposal(
                names=space.names, x=x, base=base.number, strategy="hindsight",
                conflict=core.coordinator.conflict, glob=base.glob, agents=moves,
                cand=ctx.candidates(x[None], base.x)[0])
    finally:
        core.forget(key)
    return out


def adapt(core: HyperaCore, studies: Sequence[PastStudy], steps: int,
          rng: np.random.RandomState, gen: torch.Generator | None,
          on_step: Callable[[int], None] | None = None) -> int:
    """``steps`` SAC updates of ``core``'s agents on the studies' experience (their stored
    proposals and hindsight moves); returns the number of trials they came from (0: nothing
    to learn from, no update run)."""
    learner = Learner(core.agents, core.config, core.sac)
    added = learner.observe_batch([(("past", s.key), s.history, hindsight(core, s), s.space)
                           for s in studies])
    has = np.array([len(r) > 0 for r in learner.replays])
    if not has.any():
        return 0
    for k in range(steps):
        batch, mask = learner.draw(has, rng)
        core.sac.update(batch, mask, gen)
        if on_step is not None:
            on_step(k + 1)
    return added
