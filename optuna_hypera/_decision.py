"""What a decision is made from and what it makes: the ``Context`` assembled from one study,
its candidate bases, and the ``Decision`` with every agent's move; the checks that keep a
proposal away from existing and running trials.

No Optuna import (the core builds contexts, the coordinator decides).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import ndtr

from optuna_hypera._conditional import IMPUTED
from optuna_hypera._conditional import Activity
from optuna_hypera._features import Evidence
from optuna_hypera._gp_maths import log_ei
from optuna_hypera._groups import GroupAssignment
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import AgentRecord
from optuna_hypera._schema import T
from optuna_hypera._space import Space
from optuna_hypera._space import bin_index
from optuna_hypera._surrogate import ModelView


NO_CAND = np.zeros(N_CAND)
_MIN_DISTANCE = 0.01
"""Proposals closer than this RMS normalized distance to an unfinished trial are redrawn."""
_SAME_POINT = 1e-9


@dataclass
class Base:
    number: int
    x: np.ndarray
    glob: np.ndarray


@dataclass
class Context:
    """Everything one decision needs, assembled from one study's history."""

    space: Space
    evidence: Evidence
    assignment: GroupAssignment
    incumbent: Base
    """The completed trial of lowest observed loss (with ``HyperaCore.model_incumbent`` "base"
    or "both" and a model: of lowest posterior mean)."""
    elites: list[int]
    """Rows of the elite trials, turned into bases by ``make_base`` when drawn: the best
    observed ones, the incumbent's row first (a model's incumbent swaps places with the
    observed best)."""
    make_base: Callable[[int], Base]
    step: np.ndarray
    """``[A]`` coordinate change per unit action: action scale x trust radius, at most 1."""
    taken: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Snapped coordinates ``[m, d]`` of every existing trial."""
    pending: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Coordinates ``[R, d]`` of the unfinished trials of every worker."""
    successes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failures: np.ndarray = field(default_factory=lambda: np.zeros(0))
    surrogate: ModelView | None = None
    """The study's model of the objective (``None`` before two trials complete; with past
    studies, their ensemble with it, ``_transfer.Ensemble``)."""
    radius: float = 0.1
    """The agents' mean step (``step`` averaged): the trust region's size in normalized
    coordinates, which the surrogate's features are relative to."""
    n_trials: int = 0
    """Finished and unfinished trials of the study (``chooser="staged"``)."""
    n_trainings: int = 0
    """The same without the pruned trials: complete, failed and unfinished ones, the trials
    whose training ran (or may run) to its end (``chooser="staged"`` with
    ``stage_counts="trainings"``)."""
    first_rung: float | None = None
    """Where Hyperband first compares the trial asked for, as a share of a training
    (``StudyInput.first_rung``; ``None`` outside Hyperband)."""
    activity: Activity | None = None
    """``StudyInput.activity``: which parameters a candidate's trial would ask."""
    ranked: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Rows of every trial that may be a base, best first (``elites`` is its head)."""
    rows_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Coordinates of the history's rows (``ranked`` indexes them)."""

    def branch_base(self, rng: np.random.RandomState) -> int | None:
        """The row of the best trial that takes another choice than the incumbent of one
        categorical parameter (the parameter and the choice drawn at random among those some
        trial took); ``None`` without one (``Coordinator.branch_bases``)."""
        cat = np.flatnonzero(self.space.categorical & ~self.space.single)
        if not len(cat) or not len(self.ranked):
            return None
        j = int(cat[rng.randint(len(cat))])
        n = int(self.space.n_bins[j])
        bins = bin_index(self.rows_x[self.ranked, j], n)
        own = int(bin_index(self.incumbent.x[j], n))
        others = np.unique(bins[bins != own])
        if not len(others):
            return None
        choice = others[rng.randint(len(others))]
        return int(self.ranked[np.flatnonzero(bins == choice)[0]])

    def as_asked(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``[m, d]`` with each row's parameters its trial would not ask at
        ``IMPUTED``, where finished trials of its branch lacked them: what the model and the
        repeat check should read (``x`` itself without conditional parameters)."""
        if self.activity is None:
            return x
        off = self.activity.inactive(x)
        return np.where(off, IMPUTED, x) if off.any() else x

    @property
    def last_bracket(self) -> bool:
        """The trial is in Hyperband's last bracket (``StudyInput.last_bracket``)."""
        return self.first_rung == 1.0

    def compared_by(self, share: float) -> bool:
        """Hyperband first compares the trial at or before ``share`` of a training."""
        return self.first_rung is not None and self.first_rung <= share

    def candidates(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The surrogate's features ``[m, N_CAND]`` of configurations ``x`` ``[m, d]``."""
        if self.surrogate is None:
            return np.zeros((len(x), N_CAND))
        return self.surrogate.candidate_features(x, base, self.radius)

    def surrogate_tokens(self, x: np.ndarray) -> np.ndarray | None:
        return None if self.surrogate is None else self.surrogate.token_features(x, self.radius)

    def acceptable(self, x: np.ndarray) -> np.ndarray:
        """Per row of ``x`` ``[m, d]``: it repeats no existing trial and keeps
        ``_MIN_DISTANCE`` from every unfinished one."""
        s = self.space.snap(x)
        ok = np.ones(len(x), bool)
        if len(self.taken) and not s.shape[1]:
            ok[:] = False  # no dimension: every point repeats the taken one
        elif len(self.taken):
            # Only rows whose most varied coordinate matches can repeat: look those up in
            # that column, sorted once, instead of comparing every row with every trial.
            col, keys, order = self._taken_index
            lo = np.searchsorted(keys, s[:, col] - _SAME_POINT, side="left")
            hi = np.searchsorted(keys, s[:, col] + _SAME_POINT, side="right")
            for i in np.flatnonzero(hi > lo).tolist():
                rows = self.taken[order[lo[i]:hi[i]]]
                if (np.abs(rows - s[i]).max(axis=1) < _SAME_POINT).any():
                    ok[i] = False
        if len(self.pending):
            d = np.sqrt(((s[:, None, :] - self.pending[None, :, :]) ** 2).mean(axis=2))
            ok &= d.min(axis=1) >= _MIN_DISTANCE
        return ok

    @cached_property
    def _taken_index(self) -> tuple[int, np.ndarray, np.ndarray]:
        """The coordinate with the most distinct values among the taken rows, its values
        sorted and the sorting order."""
        taken = self.taken
        sample = taken[-256:]
        distinct = (np.diff(np.sort(sample, axis=0), axis=0) != 0).sum(axis=0)  # one sort
        col = int(np.argmax(distinct))
        order = np.argsort(taken[:, col], kind="stable")
        return col, taken[order, col], order


AgentMove = AgentRecord
"""What one agent saw and did in a decision: the record that is stored with the proposal."""


@dataclass
class Decision:
    x: np.ndarray
    base: Base
    moves: dict[int, AgentMove]
    value: float
    retries: int = 0
    cand: np.ndarray = field(default_factory=lambda: NO_CAND)
    """The surrogate's features of ``x``."""
    source: str = "actor"
    """Where the executed candidate came from: ``actor``, ``uniform`` (trust region)."""
    picked_by: str = ""
    """Cooperative decisions: which scorer picked it, ``log-ei`` or ``critics``."""
    prediction: dict[str, float] = field(default_factory=dict)
    """What the critics and the surrogate predicted for ``x`` (stored, for explanations)."""
    transfer: np.ndarray | None = None
    """With past studies: the ensemble's weights (per source, then the study's own model)."""
    alternatives: list[Decision] = field(default_factory=list)
    """With ``Coordinator.labels``: other acceptable candidates of the same decision, not
    executed (the simulator labels them with their true outcome, dense hindsight)."""


class JointMoves:
    """The joint moves of a batch of (context, base) items: every item's configuration and
    critic values, and its ``Decision`` built when asked for."""

    def __init__(self, items: Sequence[tuple[Context, Base, np.ndarray]], tok: np.ndarray,
                 act: np.ndarray, cand: np.ndarray, sources: list[str]) -> None:
        self.items, self.tok, self.act, self.cand, self.sources = items, tok, act, cand, sources
        self.values = np.zeros(act.shape[:2])
        """``[A, K]`` each agent's critic value of its part of item k's move."""
        self.x: list[np.ndarray] = [np.zeros(0)] * len(items)
        self.active: list[np.ndarray] = [np.zeros(0, bool)] * len(items)
        """Per item, the agents that own a parameter."""
        self.plans: list[tuple[tuple[int, ...], list[int], np.ndarray, np.ndarray]] = []
        self.claims: list[tuple[tuple[int, ...], list[int]]] = []
        self.built: dict[int, Decision] = {}

    def tok64(self, k: int) -> np.ndarray:
        return self.tok[:, k].astype(np.float64)

    def decision(self, k: int) -> Decision:
        d = self.built.get(k)
        if d is not None:
            return d
        for ks, agents, x, step in self.plans:
            if k not in ks:
                continue
            i = ks.index(k)
            ctx, base, _ = self.items[k]
            tok = self.tok64(k)
            moves = {}
            for a in agents:
                params = ctx.assignment.params_of(a)
                start = tok[a, : len(params), T["x"]]
                action = np.clip((x[i, params] - start) / step[i, a], -ACTION_LIMIT,
                                 ACTION_LIMIT)
                moves[a] = AgentMove(params, tok[a, : len(params)], action,
                                     float(self.values[a, k]), 0.0, float(step[i, a]))
            d = Decision(x=x[i], base=base, moves=moves,
                         value=float(self.values[agents, k].sum()),
                         cand=self.cand[0, k].astype(np.float64), source=self.sources[k])
            self.built[k] = d
            return d
        raise KeyError(k)

    def decisions(self) -> list[Decision]:
        return [self.decision(k) for k in range(len(self.items))]

    def others(self, start: int, x: np.ndarray, ok: np.ndarray, pick: int, n: int,
               rng: np.random.RandomState) -> list[Decision]:
        """Up to ``n`` decisions of one context's candidates ``x`` (rows from ``start``) other
        than its ``pick``: acceptable, distinct configurations only (the actors' draws can
        repeat), drawn at random. Pre-training's dense hindsight labels."""
        _, first = np.unique(np.round(x, 9), axis=0, return_index=True)
        distinct = np.zeros(len(x), bool)
        distinct[first] = True
        same = np.abs(x - x[pick]).max(axis=1) < 1e-9
        rest = np.flatnonzero(ok & distinct & ~same)
        chosen = rng.choice(rest, min(n, len(rest)), replace=False)
        return [self.decision(start + int(j)) for j in chosen]


def explain(d: Decision, ctx: Context) -> None:
    """The final ``x``'s candidate features and predictions: the critics' value and, with a
    model, the predicted rank quantile Phi(mean), its sd and the log expected improvement."""
    d.prediction = {"value": d.value}
    if ctx.surrogate is None:
        d.cand = NO_CAND
        return
    cand, mu, sd = ctx.surrogate.describe(d.x[None], d.base.x, ctx.radius)
    d.cand = cand[0]
    d.prediction.update({
        "gp_quantile": float(ndtr(mu[0])),
        "gp_sd": float(sd[0]),
        "gp_log_ei": float(log_ei((ctx.surrogate.best - mu) / sd, sd)[0]),
    })
    weights = getattr(ctx.surrogate, "weights", None)
    if weights is not None:
        d.transfer = weights
        d.prediction["source_weight"] = float(weights[:-1].sum())


def executed(move: AgentMove, x: np.ndarray, step: float) -> np.ndarray:
    """The action that takes the agent's state to the final ``x`` (clipped to (-1, 1))."""
    start = move.tokens[:, T["x"]]
    return np.clip((x[move.params] - start) / step, -ACTION_LIMIT, ACTION_LIMIT)


POLISH = ((0.5, 16), (0.15, 16), (0.05, 16))
"""(perturbation sd relative to the decision's step, draws) per round of ``polish``."""


def polish(decision: Decision, ctx: Context, rng: np.random.RandomState) -> bool:
    """Move ``decision.x`` to a point of higher log expected improvement nearby: Gaussian
    perturbations of shrinking size (``POLISH``, relative to ``ctx.radius``), keeping the best
    acceptable one; the agents' actions and the candidate features follow. Whether it moved."""
    model = ctx.surrogate
    if model is None or not len(decision.x):
        return False
    x = decision.x
    best = float(model.acquisition(x[None])[0])
    moved = False
    for frac, draws in POLISH:
        trial = ctx.space.snap(np.clip(
            x + frac * ctx.radius * rng.randn(draws, len(x)), 0.0, 1.0))
        score = np.where(ctx.acceptable(trial), model.acquisition(trial), -np.inf)
        k = int(np.argmax(score))
        if score[k] > best:
            x, best, moved = trial[k], float(score[k]), True
    if moved:
        decision.x = x
        for a, move in decision.moves.items():
            move.action = executed(move, x, float(ctx.step[a]))
        decision.cand = ctx.candidates(x[None], decision.base.x)[0]
    return moved


def widen(decision: Decision, ctx: Context, rng: np.random.RandomState,
          retries: int) -> Decision:
    """Random moves of growing size around ``decision.x`` until one is acceptable (every
    draw of the agents collided with an existing trial)."""
    x = decision.x
    k = 0
    for k in range(1, 40):
        x = np.clip(decision.x + rng.uniform(-1, 1, len(x)) * min(1.0, 0.05 * 2 ** (k / 4)),
                    0, 1)
        if ctx.acceptable(x[None])[0]:
            break
    decision.x = x
    decision.retries = retries + k
    for a, move in decision.moves.items():
        move.action = executed(move, x, float(ctx.step[a]))
    return decision


NOISE_GATE = 1e-3
"""``model_first``'s "gated" mode: the fitted noise-to-signal variance ratio from which the
model's best trial becomes the base (noise sd about 3% of the signal's)."""


def model_first(model: ModelView, x: np.ndarray, ranked: np.ndarray, n: int,
                mode: str, gate: float = NOISE_GATE) -> np.ndarray:
    """The completed trial of lowest posterior mean (of ``ranked``'s first ``n`` rows, the
    completed trials that cover the space) as the plug-in incumbent of noisy BO: with
    ``mode`` "base" or "both" it becomes the base (first in the returned order); with
    "threshold" or "both" its mean becomes log EI's threshold (``ModelView.threshold``; the
    critics' features keep the observed best's target, ``best``, as they were trained).
    "gated" is "base" where the model's fitted noise variance is at least ``gate`` times
    its signal variance (``ModelView.noise_ratio``) and leaves ``ranked`` alone elsewhere:
    on noiseless objectives the observed best is the best there is."""
    if mode == "gated":
        ratio = model.noise_ratio
        if ratio is None or ratio < gate:
            return ranked
        mode = "base"
    rows = ranked[:n]
    mu = model.predict(x[rows])[0]
    k = int(np.argmin(mu))
    if mode in ("threshold", "both"):
        model.threshold = float(mu[k])
    if k == 0 or mode not in ("base", "both"):
        return ranked
    out = ranked.copy()
    out[0], out[k] = ranked[k], ranked[0]
    return out


def candidate_features(group: Sequence[tuple[Context, Base, Any]], x: np.ndarray) -> np.ndarray:
    """Candidate features of ``x`` ``[K, d]``, one row per (context, base) item (zeros where
    the context has no model)."""
    out = np.zeros((len(group), N_CAND), np.float32)
    spans: dict[tuple[int, int], list[int]] = {}
    for i, (ctx, base, _) in enumerate(group):
        spans.setdefault((id(ctx), id(base)), []).append(i)
    for rows in spans.values():
        ctx, base, _ = group[rows[0]]
        if ctx.surrogate is not None:
            out[rows] = ctx.candidates(x[rows], base.x)
    return out
