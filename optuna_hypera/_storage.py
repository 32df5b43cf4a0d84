"""Proposals in trial system attributes: JSON text in chunks that fit every Optuna storage.

RDB storage caps one attribute value at about 2045 characters of JSON; a chunk of 1000
characters stays under that even when every character needs escaping. The chunk count is written
last, so a reader never sees half a proposal. Nothing here is ever unpickled.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial


PROPOSAL_KEY = "hypera:proposal"
FORMAT_VERSION = 1
_CHUNK = 1000
_logger = optuna.logging.get_logger("optuna.hypera")


def write_proposal(storage: optuna.storages.BaseStorage, trial_id: int,
                   payload: dict[str, Any]) -> None:
    text = json.dumps({"v": FORMAT_VERSION, **payload}, separators=(",", ":"))
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    for i, chunk in enumerate(chunks):
        storage.set_trial_system_attr(trial_id, f"{PROPOSAL_KEY}:{i}", chunk)
    storage.set_trial_system_attr(trial_id, f"{PROPOSAL_KEY}:n", len(chunks))


def read_proposal(trial: FrozenTrial) -> dict[str, Any] | None:
    """The proposal stored with ``trial``; ``None`` (with a warning) if absent or malformed."""
    attrs = trial.system_attrs
    n = attrs.get(f"{PROPOSAL_KEY}:n")
    if n is None:
        return None
    try:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"bad chunk count {n!r}")
        text = "".join(attrs[f"{PROPOSAL_KEY}:{i}"] for i in range(n))
        payload = json.loads(text)
        _validate(payload)
    except (KeyError, TypeError, ValueError) as e:
        _logger.warning(f"Skipping the HyperaSampler proposal of trial {trial.number}: {e}")
        return None
    return payload


def _validate(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    if payload.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported format version {payload.get('v')!r}")
    names, x, agents = payload.get("names"), payload.get("x"), payload.get("agents")
    if not isinstance(names, list) or not isinstance(x, list) or len(names) != len(x):
        raise ValueError("names/x missing or of different lengths")
    if not isinstance(agents, dict):
        raise ValueError("agents missing")
    g = payload.get("glob")
    if not isinstance(g, list):
        raise ValueError("glob missing")
    for name, rec in agents.items():
        if not isinstance(rec, dict):
            raise ValueError(f"agent {name!r} record is not an object")
        idx, act, tok = rec.get("i"), rec.get("a"), rec.get("f")
        if not (isinstance(idx, list) and isinstance(act, list) and isinstance(tok, list)):
            raise ValueError(f"agent {name!r} record is incomplete")
        if len(idx) != len(act) or len(tok) != len(act):
            raise ValueError(f"agent {name!r} record has inconsistent lengths")
