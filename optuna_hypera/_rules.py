"""Conflict rules and choosers: how the coordinator (``_coordinator``) settles two agents'
claims on one parameter and weighs their critics, and what picks among a cooperative
decision's candidates.

Conflict rules, used where two agents claim one parameter (``groups=`` overlap) and, in
cooperative mode, as the weights w_i that make candidates compete:

- ``value``: the claim whose critic value Q_i is higher wins (w_i = 1);
- ``specialization``: claims are averaged with each agent's specialization weight on the
  parameter (1 in its domain, 0.5 for spread-out parameters); w_i = its mean weight;
- ``thompson``: theta_i ~ Beta(1 + successes_i, 1 + other outcomes_i) per decision; the claim
  of the agent with the highest theta wins; w_i = theta_i.

Choosers (cooperative mode): ``critic`` (sum_i w_i Q_i), ``teacher`` (the surrogate's log
expected improvement, pre-training's imitation rule and ``HyperaSampler(scorer="log-ei")``),
``blend`` and ``blend-z`` (both, standardized over the acceptable candidates and added,
``blend``), ``staged`` (the teacher while the study has fewer than ``STAGE_TRIALS`` trials
that were not pruned, the critics after), ``shortlist`` (the critics among the ``SHORTLIST``
acceptable candidates of highest log-EI; an experiment option since 0.15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optuna_hypera._decision import Context
from optuna_hypera._surrogate import ModelView


STRATEGIES = ("independent", "sequential", "cooperative")
CONFLICTS = ("value", "specialization", "thompson")
CHOOSERS = ("critic", "teacher", "blend", "blend-z", "staged", "shortlist")
BLEND_WEIGHT = 1.0
"""With ``chooser="blend"``/``"blend-z"``: the weight of log-EI's standardized score against
the critics' (1: equal say)."""


SHORTLIST = 4
"""With ``chooser="shortlist"``: how many of log-EI's best acceptable candidates the critics
choose among."""


STAGE_TRIALS = 50
"""With ``chooser="staged"``: the number of trials (not counting pruned ones, see
``Coordinator.stage_counts``) from which the critics pick."""


AUTO_STAGE_TRIALS = 150
"""``HyperaSampler(scorer="auto")``, the default since 0.16: the ``stage_trials`` of its
staged chooser. Below 150 trainings the critics were behind their log-EI teacher on fresh
generated validation tasks (100 trials: 93/139 over three draws); from 150 on they were ahead
at 300 trials on all three draws (126/84; ``docs/benchmarks/levers-0.15.md`` §4)."""


@dataclass
class Claim:
    """One agent's value for one parameter, with its critic's value of the move."""

    agent: int
    value: float
    q: float


def check_rules(strategy: str, conflict: str) -> None:
    """``ValueError`` for an unknown strategy or conflict rule."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    if conflict not in CONFLICTS:
        raise ValueError(f"conflict must be one of {CONFLICTS}, got {conflict!r}.")


def agent_weights(conflict: str, n_agents: int, ctx: Context, theta: np.ndarray) -> np.ndarray:
    """w_i used to add up critic values in cooperative mode."""
    if conflict == "value":
        return np.ones(n_agents)
    if conflict == "thompson":
        return theta
    w = np.zeros(n_agents)
    for a in range(n_agents):
        params = ctx.assignment.params_of(a)
        w[a] = np.mean([ctx.assignment.weight(a, j) for j in params]) if params else 0.0
    return w


def resolve(conflict: str, j: int, claims: list[Claim], ctx: Context, theta: np.ndarray,
            ) -> float:
    """Value of parameter ``j`` from the claims of the agents that own it."""
    if len(claims) == 1:
        return claims[0].value
    if conflict == "value":
        return max(claims, key=lambda c: c.q).value
    if conflict == "thompson":
        return max(claims, key=lambda c: theta[c.agent]).value
    w = np.array([ctx.assignment.weight(c.agent, j) for c in claims])
    return float(np.dot(w, [c.value for c in claims]) / w.sum())


def blend(value: np.ndarray, teacher: np.ndarray, ok: np.ndarray, weight: float,
          ranks: bool = True) -> np.ndarray:
    """The critics' ``value`` and the teacher's log-EI, each standardized over the acceptable
    candidates ``ok`` (mid-ranks scaled to [0, 1] with ``ranks``, else z-scores), summed with
    log-EI weighted by ``weight``; unacceptable candidates score what they would have."""
    def std(v: np.ndarray) -> np.ndarray:
        ref = v[ok] if ok.any() else v
        if ranks:
            srt = np.sort(ref)
            r = (np.searchsorted(srt, v, "left") + np.searchsorted(srt, v, "right")) / 2.0
            return r / max(len(ref), 1)
        s = ref.std()
        return (v - ref.mean()) / s if s > 0 else np.zeros_like(v)
    return std(np.asarray(value, np.float64)) + weight * std(np.asarray(teacher, np.float64))


def scores(chooser: str, value: np.ndarray, model: ModelView | None, x: np.ndarray,
           ok: np.ndarray, weight: float, far: np.ndarray | None = None,
           shortlist: int = SHORTLIST, exploit: str = "off") -> np.ndarray:
    """What a cooperative decision maximizes over its candidates ``x`` ``[m, d]``: the
    critics' weighted ``value`` (``critic``, or any chooser without a model), the model's
    log-EI (``teacher``; candidates flagged in ``far`` left out; with ``exploit`` ``"mean"``
    the lowest posterior mean instead, with ``"lcb"`` the lowest mean minus one sd:
    ``Coordinator.last_bracket``), both (``blend``, ``blend-z``), or the critics' value
    among the ``shortlist`` acceptable candidates of highest log-EI (``shortlist``; the rest
    score -inf). ``staged`` is resolved before (``Coordinator._chooser``)."""
    if chooser == "critic" or model is None:
        return value
    if chooser == "teacher":
        if exploit == "off":
            score = model.acquisition(x)
        else:
            mu, sd = model.predict(x)
            score = -(mu - sd) if exploit == "lcb" else -mu
        return score if far is None else np.where(far, -np.inf, score)
    score = model.acquisition(x)
    if chooser == "shortlist":
        ref = score[ok] if ok.any() else score
        k = min(max(shortlist, 1), len(ref))
        bar = np.partition(ref, len(ref) - k)[len(ref) - k]
        return np.where(score >= bar, np.asarray(value, np.float64), -np.inf)
    return blend(value, score, ok, weight, ranks=chooser == "blend")
