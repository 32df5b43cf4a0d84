"""The ``hypera`` trial user attribute: what the sampler writes for every proposed trial
(``explain``) and how readers such as the dashboard parse it (``parse_moves``); the full
schema is in ``docs/INTERFACE.md``.

    {"base_trial": int, "strategy": str, "conflict": str, "value_estimate": float,
     "agents": {name: {"value": float | None,
                       "params": {param: {"from": ..., "to": ..., "delta": float}}}},
     "prediction": {...},   # with a surrogate model
     "transfer": {...}}     # with source studies
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import json
import math
from typing import Any

from optuna_hypera._decision import Decision


USER_ATTR = "hypera"


def explain(decision: Decision, names: Sequence[str], params: Mapping[str, Any],
            base_params: Mapping[str, Any], agent_names: Sequence[str], strategy: str,
            conflict: str, source_names: Sequence[str] = ()) -> dict[str, Any]:
    """The ``hypera`` user attribute of a proposed trial (``docs/INTERFACE.md``): its base, and
    per agent its critic value and the parameters it changed (``from`` is ``None`` for a
    conditional parameter the base trial did not ask; ``asked_only`` drops, once the trial
    has run, the ones it did not ask)."""
    agents: dict[str, Any] = {}
    for a, name in enumerate(agent_names):
        move = decision.moves.get(a)
        if move is None:  # owns no parameter of this search space
            agents[name] = {"value": None, "params": {}}
            continue
        changed = {}
        for j in move.params:
            p = names[j]
            if params[p] != base_params[p]:
                changed[p] = {"from": base_params[p], "to": params[p],
                              "delta": round(float(decision.x[j] - decision.base.x[j]), 5)}
        agents[name] = {"value": round(move.value, 5), "params": changed}
    out = {"base_trial": decision.base.number, "strategy": strategy, "conflict": conflict,
           "value_estimate": round(decision.value, 5), "agents": agents}
    pred = decision.prediction
    if "gp_quantile" in pred:
        # What the surrogate predicted for this trial, to hold against its outcome: its rank
        # quantile among the trials (0 = best; Phi of the predicted target), the model's sd
        # (target units, ``_surrogate.TARGETS``) and the
        # log expected improvement; and where the executed candidate came from.
        predicted: dict[str, Any] = {"rank_quantile": round(pred["gp_quantile"], 4),
                                     "sd": round(pred["gp_sd"], 4),
                                     "log_ei": round(pred["gp_log_ei"], 4),
                                     "critic_value": round(decision.value, 5),
                                     "candidate": decision.source}
        if decision.picked_by:
            predicted["picked_by"] = decision.picked_by
        out["prediction"] = predicted
    if decision.transfer is not None and source_names:
        out["transfer"] = {
            "sources": {n: round(float(w), 4)
                        for n, w in zip(source_names, decision.transfer, strict=False)},
            "own_model": round(float(decision.transfer[-1]), 4)}
    return out


def asked_only(info: Mapping[str, Any], asked: Mapping[str, Any]) -> dict[str, Any] | None:
    """``info`` without the moves of parameters the trial did not ask (define-by-run
    branches it did not take); ``None`` when it has none of those."""
    agents = info.get("agents")
    if not isinstance(agents, Mapping) or all(
            p in asked for a in agents.values() if isinstance(a, Mapping)
            for p in a.get("params", {})):
        return None
    out = dict(info)
    out["agents"] = {name: ({**a, "params": {p: m for p, m in a.get("params", {}).items()
                                             if p in asked}}
                            if isinstance(a, Mapping) else a)
                     for name, a in agents.items()}
    return out


def parse_moves(raw: object) -> tuple[int | None, dict[str, tuple[int, float]]] | None:
    """``(base trial, {agent: (parameters changed, sum of |delta|)})`` or ``None`` if malformed."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, Mapping):
        return None
    agents = raw.get("agents")
    if not isinstance(agents, Mapping):
        return None
    base = raw.get("base_trial")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
        return None
    moves: dict[str, tuple[int, float]] = {}
    for name, entry in agents.items():
        if not isinstance(name, str) or not isinstance(entry, Mapping):
            return None
        params = entry.get("params", {})
        if not isinstance(params, Mapping):
            return None
        if not all(isinstance(move, Mapping) for move in params.values()):
            return None
        size = 0.0
        for move in params.values():
            delta = move.get("delta", 0.0)
            if isinstance(delta, (int, float)) and math.isfinite(delta):
                size += abs(delta)
        moves[name] = (len(params), size)
    return base, moves
