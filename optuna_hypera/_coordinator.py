"""Merging the agents' proposals into one configuration (write-up, "Agent Coordination").

Strategies (x in normalized coordinates, A_i an agent acting on the parameters it owns):

- ``independent``: every agent acts on the same base, x = {x_1, ..., x_n};
- ``sequential``: x = A_n(A_{n-1}(... A_1(x_base))): each agent sees what the previous produced;
- ``cooperative``: several joint candidates (from one base) are scored by the critics,
  x = argmax_c sum_i w_i Q_i(s_i, a_i^c).

Conflict rules, used where two agents claim one parameter (``groups=`` overlap) and, in
cooperative mode, as the weights w_i that make candidates compete:

- ``value``: the claim whose critic value Q_i is higher wins (w_i = 1);
- ``specialization``: claims are averaged with each agent's specialization weight on the
  parameter (1 in its domain, 0.5 for spread-out parameters); w_i = its mean weight;
- ``thompson``: theta_i ~ Beta(1 + improvements_i, 1 + non-improvements_i) per call; the claim of
  the agent with the highest theta wins; w_i = theta_i.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

import numpy as np
import torch

from optuna_hypera._config import AgentConfig
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._features import MOVED
from optuna_hypera._features import N_TOKEN
from optuna_hypera._features import Evidence
from optuna_hypera._features import moved_feature
from optuna_hypera._features import token_features
from optuna_hypera._groups import GroupAssignment
from optuna_hypera._sac import MultiAgentSAC


STRATEGIES = ("independent", "sequential", "cooperative")
CONFLICTS = ("value", "specialization", "thompson")
N_CANDIDATES = 8
"""Joint candidates scored per cooperative decision."""
_MAX_RETRIES = 8
_MIN_DISTANCE = 0.01
"""Proposals closer than this RMS normalized distance to a running trial are redrawn."""


@dataclass
class Base:
    number: int
    x: np.ndarray
    glob: np.ndarray


@dataclass
class Context:
    """Everything a decision needs, assembled by the sampler from the study."""

    encoder: SpaceEncoder
    evidence: Evidence
    assignment: GroupAssignment
    incumbent: Base
    elites: list[int]
    """Indices of the elite trials, turned into bases by ``make_base`` when drawn."""
    make_base: Callable[[int], Base]
    taken: set[tuple[float, ...]] = field(default_factory=set)
    """Snapped coordinates of every existing trial, running ones included."""
    running: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Coordinates of the running trials of every worker ``[R, d]``."""
    successes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failures: np.ndarray = field(default_factory=lambda: np.zeros(0))
    radius: float = 1.0
    """Trust radius multiplying every agent's action scale."""


@dataclass
class AgentMove:
    params: list[int]
    tokens: np.ndarray  # [P, T] state the agent acted on
    action: np.ndarray  # [P] executed action in [-1, 1]
    value: float
    moved: float = 0.0  # study-feature MOVED the agent saw (sequential strategy)


@dataclass
class Decision:
    x: np.ndarray
    base: Base
    moves: dict[int, AgentMove]
    value: float
    retries: int = 0


@dataclass
class _Claim:
    agent: int
    value: float
    q: float


class Coordinator:
    def __init__(self, agents: Sequence[AgentConfig], strategy: str, conflict: str) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
        if conflict not in CONFLICTS:
            raise ValueError(f"conflict must be one of {CONFLICTS}, got {conflict!r}.")
        self.agents = tuple(agents)
        self.strategy = strategy
        self.conflict = conflict
        self.scales = np.array([a.action_scale for a in self.agents])
        self._step = self.scales.copy()

    # -- conflict rules -------------------------------------------------------------------
    def agent_weights(self, ctx: Context, theta: np.ndarray) -> np.ndarray:
        """w_i used to add up critic values in cooperative mode."""
        n = len(self.agents)
        if self.conflict == "value":
            return np.ones(n)
        if self.conflict == "thompson":
            return theta
        w = np.zeros(n)
        for a in range(n):
            params = ctx.assignment.params_of(a)
            w[a] = np.mean([ctx.assignment.weight(a, j) for j in params]) if params else 0.0
        return w

    def resolve(self, j: int, claims: list[_Claim], ctx: Context, theta: np.ndarray) -> float:
        """Value of parameter ``j`` from the claims of the agents that own it."""
        if len(claims) == 1:
            return claims[0].value
        if self.conflict == "value":
            return max(claims, key=lambda c: c.q).value
        if self.conflict == "thompson":
            return max(claims, key=lambda c: theta[c.agent]).value
        w = np.array([ctx.assignment.weight(c.agent, j) for c in claims])
        return float(np.dot(w, [c.value for c in claims]) / w.sum())

    # -- decisions ------------------------------------------------------------------------
    def decide(
        self, sac: MultiAgentSAC, ctx: Context, rng: np.random.RandomState,
        gen: torch.Generator,
    ) -> Decision:
        theta = rng.beta(1.0 + ctx.successes, 1.0 + ctx.failures)
        self._step = np.minimum(self.scales * ctx.radius, 1.0)
        decision: Decision | None = None
        for attempt in range(_MAX_RETRIES):
            if self.strategy == "cooperative":
                decision = self._cooperative(sac, ctx, rng, gen, theta)
            else:
                base = self._draw_base(ctx, rng)
                if self.strategy == "sequential":
                    decision = self._sequential(sac, ctx, base, gen, theta)
                else:
                    decision = self._joint(sac, ctx, [base], gen, theta)[0]
            if decision is not None and self._acceptable(decision.x, ctx):
                decision.retries = attempt
                return decision
        # Every draw collided with an existing trial: widen the step until one does not.
        assert decision is not None
        x = decision.x
        for k in range(1, 40):
            x = np.clip(decision.x + rng.uniform(-1, 1, len(x)) * min(1.0, 0.05 * 2 ** (k / 4)),
                        0, 1)
            if self._acceptable(x, ctx):
                break
        decision.x = x
        decision.retries = _MAX_RETRIES + k
        for a, move in decision.moves.items():
            move.action = self._executed(move, x, float(self._step[a]))
        return decision

    @staticmethod
    def _executed(move: AgentMove, x: np.ndarray, move_scale: float) -> np.ndarray:
        """The action that takes the agent's state to the final ``x`` (clipped to (-1, 1))."""
        start = move.tokens[:, 0]
        return np.clip((x[move.params] - start) / move_scale, -0.999, 0.999)

    def _acceptable(self, x: np.ndarray, ctx: Context) -> bool:
        if tuple(ctx.encoder.snap(x).round(12)) in ctx.taken:
            return False
        if len(ctx.running):
            d = np.sqrt(((ctx.running - ctx.encoder.snap(x)) ** 2).mean(axis=1))
            if d.min() < _MIN_DISTANCE:
                return False
        return True

    def _draw_base(self, ctx: Context, rng: np.random.RandomState) -> Base:
        if not ctx.elites or rng.rand() < 0.5:
            return ctx.incumbent
        return ctx.make_base(ctx.elites[rng.randint(len(ctx.elites))])

    def _states(self, ctx: Context, xs: list[np.ndarray], globs: list[np.ndarray],
                agents: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched state ``[A, B, P, T]`` for B configurations, only ``agents`` filled."""
        n_agents, b = len(self.agents), len(xs)
        p = max(1, max(len(ctx.assignment.params_of(a)) for a in range(n_agents)))
        tok = np.zeros((n_agents, b, p, N_TOKEN), np.float32)
        mask = np.zeros((n_agents, b, p), np.float32)
        glob = np.zeros((n_agents, b, len(globs[0])), np.float32)
        enc = ctx.encoder
        for a in agents:
            params = ctx.assignment.params_of(a)
            if not params:
                continue
            dom = [ctx.assignment.weight(a, j) for j in params]
            for k, x in enumerate(xs):
                tok[a, k, : len(params)] = token_features(
                    x, params, ctx.evidence, enc.is_log, enc.is_categorical, enc.granularity,
                    dom, float(self.scales[a]),
                )
                mask[a, k, : len(params)] = 1.0
                glob[a, k] = globs[k]
        return torch.from_numpy(tok), torch.from_numpy(mask), torch.from_numpy(glob)

    def _joint(self, sac: MultiAgentSAC, ctx: Context, bases: list[Base],
               gen: torch.Generator, theta: np.ndarray) -> list[Decision]:
        """All agents act on each base at once; overlaps settled by the conflict rule."""
        n_agents = len(self.agents)
        tok, mask, glob = self._states(ctx, [b.x for b in bases], [b.glob for b in bases],
                                       range(n_agents))
        dev = sac.device
        actions, values = sac.act(tok.to(dev), mask.to(dev), glob.to(dev), gen)
        actions_np, values_np = actions.cpu().numpy(), values.cpu().numpy()
        decisions = []
        for k, base in enumerate(bases):
            claims: dict[int, list[_Claim]] = {}
            moves: dict[int, AgentMove] = {}
            for a in range(n_agents):
                params = ctx.assignment.params_of(a)
                if not params:
                    continue
                act = actions_np[a, k, : len(params)].astype(np.float64)
                moves[a] = AgentMove(params, tok[a, k, : len(params)].numpy().astype(np.float64),
                                     act, float(values_np[a, k]))
                for j, aj in zip(params, act, strict=True):
                    value = float(np.clip(base.x[j] + self._step[a] * aj, 0.0, 1.0))
                    claims.setdefault(j, []).append(_Claim(a, value, float(values_np[a, k])))
            decisions.append(self._finish(ctx, base, claims, moves, theta))
        return decisions

    def _sequential(self, sac: MultiAgentSAC, ctx: Context, base: Base,
                    gen: torch.Generator, theta: np.ndarray) -> Decision:
        """Agents act in order, each on the configuration the previous one produced."""
        x = base.x.copy()
        claims: dict[int, list[_Claim]] = {}
        moves: dict[int, AgentMove] = {}
        dev = sac.device
        for a in range(len(self.agents)):
            params = ctx.assignment.params_of(a)
            if not params:
                continue
            # Earlier agents' changes reach this agent's state through the MOVED feature
            # (its tokens describe only its own parameters).
            g = base.glob.copy()
            g[MOVED] = moved_feature(x, base.x)
            tok, mask, glob = self._states(ctx, [x], [g], [a])
            one = slice(a, a + 1)  # run only this agent's slice of the stacked networks
            actions, values = sac.act(tok[one].to(dev), mask[one].to(dev), glob[one].to(dev),
                                      gen, one)
            act = actions[0, 0, : len(params)].cpu().numpy().astype(np.float64)
            q = float(values[0, 0])
            moves[a] = AgentMove(params, tok[a, 0, : len(params)].numpy().astype(np.float64),
                                 act, q, moved=float(g[MOVED]))
            for j, aj in zip(params, act, strict=True):
                x[j] = float(np.clip(x[j] + self._step[a] * aj, 0.0, 1.0))
                claims.setdefault(j, []).append(_Claim(a, x[j], q))
        return self._finish(ctx, base, claims, moves, theta)

    def _cooperative(self, sac: MultiAgentSAC, ctx: Context, rng: np.random.RandomState,
                     gen: torch.Generator, theta: np.ndarray) -> Decision | None:
        # All candidates share one base: rewards are relative to the base, so critics would
        # otherwise (rightly) value poor bases higher and steer the study towards them.
        bases = [self._draw_base(ctx, rng)] * N_CANDIDATES
        candidates = self._joint(sac, ctx, bases, gen, theta)
        w = self.agent_weights(ctx, theta)
        best: Decision | None = None
        for c in candidates:
            c.value = float(sum(w[a] * m.value for a, m in c.moves.items()))
            if self._acceptable(c.x, ctx) and (best is None or c.value > best.value):
                best = c
        return best if best is not None else candidates[0]

    def _finish(self, ctx: Context, base: Base, claims: dict[int, list[_Claim]],
                moves: dict[int, AgentMove], theta: np.ndarray) -> Decision:
        x = base.x.copy()
        for j, cl in claims.items():
            x[j] = self.resolve(j, cl, ctx, theta)
        for a, move in moves.items():
            move.action = self._executed(move, x, float(self._step[a]))
        value = float(sum(m.value for m in moves.values()))
        return Decision(x=x, base=base, moves=moves, value=value)
