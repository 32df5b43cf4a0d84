"""The pre-trained weights that ship inside the package (``weights/default.pt``, tensors only,
with ``weights/default.json`` recording the command, seed, task families and versions)."""

from __future__ import annotations

from importlib import resources
import json
from pathlib import Path
from typing import Any


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
