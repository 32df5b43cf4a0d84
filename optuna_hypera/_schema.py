"""What a proposal stores, and the named layout of the agents' state.

A proposal is written with every trial the agents propose (trial system attributes, JSON) and
read back by every worker to rebuild the agents' experience, so its format is a contract
between versions:

- ``FORMAT_VERSION`` versions the record; readers accept every version listed in
  ``_READABLE``.
- The state vectors are written in a named ``Layout`` whose version travels with the record.
  Reading remaps by slot *name* into the current layout (slots it lacks are 0), so reordering or
  adding a feature never feeds old numbers into the wrong network input.

No Optuna import: the core and the simulator use these classes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import json
import math
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Layout:
    """Named slots of a feature vector."""

    version: int
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"layout {self.version} repeats a slot name")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def remap(self, values: np.ndarray, source: Layout) -> np.ndarray:
        """``values`` (last axis in ``source``'s order) in this layout; missing slots are 0."""
        if source.names == self.names:
            return values
        out = np.zeros((*values.shape[:-1], len(self)), dtype=values.dtype)
        for j, name in enumerate(self.names):
            if name in source.names:
                out[..., j] = values[..., source.index(name)]
        return out


STUDY_LAYOUT = Layout(1, (
    "progress",            # n_valid / (n_valid + 50)
    "recent_improvement",  # share of the last 10 trials that set a new best
    "since_best",          # trials since the last new best, relative to the study length
    "spread",              # relative interquartile range of the completed values
    "failed_share",        # share of penalized trials
    "pruned_share",        # share of pruned trials
    "base_quantile",       # the base trial's rank quantile (0 = best)
    "base_trend",          # the base's learning-curve trend (> 0: improving)
    "base_has_curve",      # the base reported intermediate values
    "base_duration",       # always 0 (kept so that shipped weights keep their input size)
    "base_grad_norm",      # report_stats values relative to their medians (log)
    "base_train_loss",
    "base_val_loss",
    "base_gpu_mem",
    "base_has_stats",
    "base_overfit",        # (val - train) / train
    "radius",              # log2(trust radius) / 3
    "moved",               # how far earlier agents moved this configuration (sequential)
))
"""Study features: the study part, then the base trial's part, then the decision's part."""

TOKEN_LAYOUT_1 = Layout(1, (
    "x",             # the parameter's coordinate in [0, 1]
    "best_delta",    # best trial's coordinate - x
    "correlation",   # rank correlation of the coordinate with goodness
    "elite_delta",   # elite mean - x
    "elite_std",     # elite spread
    "is_log",
    "is_categorical",
    "granularity",   # 1 / number of values (0: continuous)
    "in_domain",     # 1 in the agent's own domain, 0.5 given by the even spread
    "action_scale",  # the agent's action scale
))
TOKEN_LAYOUT = Layout(2, (*TOKEN_LAYOUT_1.names,
    "gp_slope",        # the surrogate's predicted improvement per trust radius along it
    "gp_lengthscale",  # log of the surrogate's lengthscale for it / 3
))
"""Per-parameter features (tokens)."""

CAND_LAYOUT = Layout(1, (
    "gp_z",         # tanh((best - mean) / sd / 3): predicted improvement in sd units
    "gp_log_sd",    # log(predictive sd) / 3
    "gp_log_ei",    # log expected improvement / 5
    "gp_distance",  # tanh(RMS distance from the base / trust radius)
    "gp_mean",      # tanh(predicted target / 2) (standardized loss, or normal score before 0.6)
    "has_model",    # 1 when a surrogate was fitted, else every slot is 0
))
"""What the surrogate says about one candidate configuration (read by the critics only)."""

N_GLOBAL = len(STUDY_LAYOUT)
N_TOKEN = len(TOKEN_LAYOUT)
N_CAND = len(CAND_LAYOUT)
G = {name: j for j, name in enumerate(STUDY_LAYOUT.names)}
"""Slot index of every study feature by name."""
T = {name: j for j, name in enumerate(TOKEN_LAYOUT.names)}
"""Slot index of every token feature by name."""
C = {name: j for j, name in enumerate(CAND_LAYOUT.names)}
"""Slot index of every candidate feature by name."""

_LAYOUTS: dict[int, tuple[Layout, Layout]] = {1: (STUDY_LAYOUT, TOKEN_LAYOUT_1),
                                              2: (STUDY_LAYOUT, TOKEN_LAYOUT)}
FORMAT_VERSION = 3
_READABLE = (1, 2, 3)
"""Version 1 (optuna-hypera 0.1.0) had no layout field (layout 1) and no step field; versions
1 and 2 have no candidate features (read as 0: no model)."""


ACTION_LIMIT = 0.999
"""Actions live in (-ACTION_LIMIT, ACTION_LIMIT): tanh never reaches +-1, and clipping stored
and recomputed actions there keeps their log-probability finite."""
ORIGINS = ("actor", "uniform", "global", "box")
"""Where a cooperative decision's executed candidate came from (``Proposal.origin``):
the actors, a uniform move within every agent's step, the whole space (``_global``), or a
uniform move in the box stretched by the model's lengthscales (``Coordinator.stretch``,
since 0.12)."""
CLONED = ("actor", "uniform")
"""Origins whose stored action reproduces the executed move, so the actors may clone it
(a global jump's and a stretched move's actions are clipped to the action range)."""
ELITE_FRACTION = 0.2
"""The elite trials are the best ``max(3, ceil(ELITE_FRACTION * n))``."""


@dataclass
class AgentRecord:
    """What one agent saw and did for one proposal."""

    params: list[int]
    """Indices (into ``Proposal.names``) of the parameters it acted on."""
    tokens: np.ndarray
    """``[P, N_TOKEN]`` state it acted on, in the current layout."""
    action: np.ndarray
    """``[P]`` executed action in (-1, 1)."""
    value: float
    """Its critic's value of the action."""
    moved: float = 0.0
    """The ``moved`` study feature it saw."""
    step: float = 0.0
    """Coordinate change per unit action (action scale x trust radius)."""


@dataclass
class Proposal:
    """One decision of the agents, as stored with the trial it made."""

    names: tuple[str, ...]
    x: np.ndarray
    """Proposed coordinates in [0, 1] (before snapping to discrete values)."""
    base: int
    """Number of the trial the agents changed."""
    strategy: str
    conflict: str
    glob: np.ndarray
    """Study features of the base (``moved`` is per agent), in the current layout."""
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    prediction: dict[str, float] = field(default_factory=dict)
    """What the critics and the surrogate predicted (for explanations; not read by
    learning)."""
    cand: np.ndarray = field(default_factory=lambda: np.zeros(N_CAND))
    """The surrogate's features of ``x`` (``CAND_LAYOUT``), read by the critics."""
    origin: str = "actor"
    """Where the executed candidate came from: ``actor``, ``uniform`` (the trust region) or
    ``global`` (the whole space, ``_global``). The actors clone only moves that stay in the
    trust region (a global jump's action is clipped, not the move)."""

    def agent_glob(self, name: str) -> np.ndarray:
        """The study features agent ``name`` acted on."""
        g = self.glob.copy()
        g[G["moved"]] = self.agents[name].moved
        return g

    def to_json(self) -> str:
        return json.dumps({
            "v": FORMAT_VERSION,
            "layout": TOKEN_LAYOUT.version,
            "names": list(self.names),
            "x": _round(self.x),
            "base": self.base,
            "strategy": self.strategy,
            "conflict": self.conflict,
            "glob": _round(self.glob),
            "agents": {
                name: {
                    "i": [int(j) for j in rec.params],
                    "a": _round(rec.action),
                    "f": [_round(row) for row in rec.tokens],
                    "q": round(float(rec.value), 5),
                    "m": round(float(rec.moved), 5),
                    "s": round(float(rec.step), 6),
                }
                for name, rec in self.agents.items()
            },
            "pred": {k: round(float(v), 5) for k, v in self.prediction.items()},
            "c": _round(self.cand),
            **({} if self.origin == "actor" else {"o": self.origin}),
        }, separators=(",", ":"))

    def stored(self) -> Proposal:
        """What ``from_json(self.to_json())`` gives, without the JSON round trip: the
        proposal as every worker reads it back (the process that wrote it skips the parse)."""
        agents = {
            name: AgentRecord([int(j) for j in rec.params], _rounded(rec.tokens),
                              _rounded(rec.action), round(float(rec.value), 5),
                              round(float(rec.moved), 5), round(float(rec.step), 6))
            for name, rec in self.agents.items()}
        return Proposal(tuple(self.names), _rounded(self.x), int(self.base), self.strategy,
                        self.conflict, _rounded(self.glob), agents,
                        {k: round(float(v), 5) for k, v in self.prediction.items()},
                        _rounded(self.cand), self.origin)

    @classmethod
    def from_json(cls, text: str) -> Proposal:
        """Parse and validate; ``ValueError`` naming what is wrong."""
        try:
            payload = json.loads(text)
        except ValueError as e:
            raise ValueError(f"not JSON ({e})") from None
        return cls.from_dict(payload)

    @classmethod
    def from_dict(cls, payload: Any) -> Proposal:
        if not isinstance(payload, Mapping):
            raise ValueError("not a JSON object")
        version = payload.get("v")
        if version not in _READABLE:
            raise ValueError(f"unsupported format version {version!r}")
        layout_version = payload.get("layout", 1)
        if layout_version not in _LAYOUTS:
            raise ValueError(f"unknown feature layout {layout_version!r}")
        study_layout, token_layout = _LAYOUTS[layout_version]
        names = payload.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("names missing or not strings")
        x = _floats(payload.get("x"), "x", len(names))
        if not np.all((x >= 0.0) & (x <= 1.0)):
            raise ValueError("x outside [0, 1]")
        base = payload.get("base")
        if not isinstance(base, int) or isinstance(base, bool) or base < 0:
            raise ValueError(f"base missing or not a trial number: {base!r}")
        strategy, conflict = payload.get("strategy"), payload.get("conflict")
        if not isinstance(strategy, str) or not isinstance(conflict, str):
            raise ValueError("strategy/conflict missing")
        glob = STUDY_LAYOUT.remap(_floats(payload.get("glob"), "glob", len(study_layout)),
                                  study_layout)
        raw_agents = payload.get("agents")
        if not isinstance(raw_agents, Mapping):
            raise ValueError("agents missing")
        agents: dict[str, AgentRecord] = {}
        for name, rec in raw_agents.items():
            agents[str(name)] = _agent(str(name), rec, len(names), token_layout, glob)
        pred = payload.get("pred", {})
        prediction = ({str(k): float(v) for k, v in pred.items() if _is_number(v)}
                      if isinstance(pred, Mapping) else {})
        cand = (np.zeros(N_CAND) if payload.get("c") is None
                else _floats(payload.get("c"), "c", N_CAND))
        origin = payload.get("o", "actor")
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        return cls(tuple(names), x, int(base), strategy, conflict, glob, agents, prediction,
                   cand, origin)


def _agent(name: str, rec: Any, n_params: int, token_layout: Layout,
           glob: np.ndarray) -> AgentRecord:
    if not isinstance(rec, Mapping):
        raise ValueError(f"agent {name!r} record is not an object")
    idx = rec.get("i")
    if (not isinstance(idx, list) or not idx
            or not all(_is_int(j) and 0 <= j < n_params for j in idx)):
        raise ValueError(f"agent {name!r} parameter indices are missing or out of range")
    action = _floats(rec.get("a"), f"agent {name!r} action", len(idx))
    tok = rec.get("f")
    if not isinstance(tok, list) or len(tok) != len(idx):
        raise ValueError(f"agent {name!r} record has inconsistent lengths")
    tokens = np.stack([_floats(row, f"agent {name!r} tokens", len(token_layout))
                       for row in tok])
    tokens = TOKEN_LAYOUT.remap(tokens, token_layout)
    value = rec.get("q", 0.0)
    moved = rec.get("m", 0.0)
    if not _is_number(value) or not _is_number(moved):
        raise ValueError(f"agent {name!r} value or moved is not a number")
    step = rec.get("s")
    if step is None:  # format 1: action scale x trust radius, both in the state
        radius = 2.0 ** round(3.0 * float(glob[G["radius"]]))
        step = min(float(tokens[0, T["action_scale"]]) * radius, 1.0)
    if not _is_number(step) or step <= 0:
        raise ValueError(f"agent {name!r} step is not a positive number")
    return AgentRecord([int(j) for j in idx], tokens, action, float(value), float(moved),
                       float(step))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _floats(v: Any, what: str, n: int) -> np.ndarray:
    if not isinstance(v, list) or len(v) != n or not all(type(u) in (int, float) for u in v):
        raise ValueError(f"{what} must be {n} numbers")
    out = np.asarray(v, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{what} must be finite")
    return out


def _rounded(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` rounded to 5 decimals as JSON stores them, same shape (numpy's rounding:
    it equals Python's ``round(v, 5)`` on a million random values and costs a fiftieth)."""
    return np.round(np.asarray(values, dtype=np.float64), 5)


def _round(values: Sequence[float] | np.ndarray) -> list[float]:
    return _rounded(values).tolist()
