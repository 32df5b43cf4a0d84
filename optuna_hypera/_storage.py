"""Proposals in trial system attributes: JSON text in chunks that fit every Optuna storage.

RDB storage caps one attribute value at about 2045 characters of JSON; a chunk of 1000
characters stays under that even when every character needs escaping. The chunk count is written
last, so a reader never sees half a proposal. The record itself is ``_schema.Proposal``.
Nothing here is ever unpickled.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from optuna_hypera._schema import FORMAT_VERSION
from optuna_hypera._schema import Proposal


PROPOSAL_KEY = "hypera:proposal"
_CHUNK = 1000
_logger = optuna.logging.get_logger("optuna.hypera")

__all__ = ["FORMAT_VERSION", "PROPOSAL_KEY", "read_proposal", "write_proposal"]


def write_proposal(storage: optuna.storages.BaseStorage, trial_id: int,
                   proposal: Proposal) -> None:
    text = proposal.to_json()
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    for i, chunk in enumerate(chunks):
        storage.set_trial_system_attr(trial_id, f"{PROPOSAL_KEY}:{i}", chunk)
    storage.set_trial_system_attr(trial_id, f"{PROPOSAL_KEY}:n", len(chunks))


def read_proposal(trial: FrozenTrial) -> Proposal | None:
    """The proposal stored with ``trial``; ``None`` (with a warning) if absent or malformed."""
    attrs = trial.system_attrs
    n = attrs.get(f"{PROPOSAL_KEY}:n")
    if n is None:
        return None
    try:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"bad chunk count {n!r}")
        chunks = [attrs.get(f"{PROPOSAL_KEY}:{i}") for i in range(n)]
        if not all(isinstance(c, str) for c in chunks):
            raise ValueError("missing chunk")
        return Proposal.from_json("".join(str(c) for c in chunks))
    except ValueError as e:
        _logger.warning(f"Skipping the HyperaSampler proposal of trial {trial.number}: {e}")
        return None
