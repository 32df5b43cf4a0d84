"""The pre-trained weights that ship inside the package (``weights/default.pt``, tensors only,
with ``weights/default.json`` recording the command, seed, task families and versions)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
import json
import os
from pathlib import Path
from typing import Any
import warnings

import torch

from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._sac import MultiAgentSAC


PRETRAINED = "pretrained"
"""``HyperaSampler(weights=PRETRAINED)``: the shipped weights (the default)."""


def pretrained_path() -> Path:
    """Path of the shipped weights file; ``FileNotFoundError`` if the install lacks it."""
    path = Path(str(resources.files("optuna_hypera").joinpath("weights", "default.pt")))
    if not path.is_file():
        raise FileNotFoundError(
            f"The pre-trained weights are missing from this install ({path}); reinstall "
            "optuna-hypera, or pass weights=None to start from scratch.")
    return path


def pretrained_record() -> dict[str, Any]:
    """The JSON record beside the shipped weights (command, seed, families, versions)."""
    return json.loads(pretrained_path().with_suffix(".json").read_text())


def starting_state(weights: str | os.PathLike[str] | None, agents: Sequence[AgentConfig],
                   config: SACConfig) -> dict[str, torch.Tensor] | None:
    """The agents' starting weights for ``HyperaSampler(weights=...)``: ``None`` from scratch;
    the shipped ones (a warning and scratch when custom agents or sizes do not fit them); or
    a file's (``FileNotFoundError``, or ``ValueError`` for one unreadable or for other
    networks)."""
    if weights is None:
        return None
    probe = MultiAgentSAC(agents, config, 0)
    if isinstance(weights, str) and weights == PRETRAINED:
        try:
            probe.load(pretrained_path())
        except ValueError as e:  # custom agents or network sizes: not what shipped
            warnings.warn(f"HyperaSampler starts from scratch: {e}", stacklevel=4)
            return None
    else:
        probe.load(weights)
    return probe.state_dict()
