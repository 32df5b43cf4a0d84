"""Weights a team can keep: the agents fine-tuned on the team's stored studies.

    python -m optuna_hypera pretrain --storage sqlite:///team.db --study mlp-a --study mlp-b \\
        --out team.pt

or, from Python, :func:`pretrain_on_studies`. The agents start from the shipped weights (or
``--weights``), learn offline from every study's trials (stored HyperaSampler proposals replay
as they were; trials of any other sampler become hindsight moves from the elite trial nearest
to them, see ``_experience``), and the result is written in the same tensor-only format as
``HyperaSampler.save_weights``: load it with ``HyperaSampler(weights="team.pt")``. A JSON
record beside it holds the command, seed, studies and versions.

Only JSON attributes and parameter values are read from storage; nothing is unpickled.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import os
from pathlib import Path
import shlex
import sys
import time
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage
import torch

from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._experience import adapt
from optuna_hypera._sources import past_study
from optuna_hypera._sources import read_sources
from optuna_hypera._threads import torch_threads
from optuna_hypera._weights import PRETRAINED
from optuna_hypera._weights import pretrained_path


def pretrain_on_studies(
    storage: str | BaseStorage,
    study_names: Sequence[str],
    out: str | os.PathLike[str],
    *,
    steps: int = 1000,
    weights: str | os.PathLike[str] | None = PRETRAINED,
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
    threads: int | None = 1,
    command: str | None = None,
) -> dict[str, Any]:
    """Fine-tune the agents on the stored studies and write ``out`` (weights) and
    ``out`` with suffix ``.json`` (the record, also returned).

    Args:
        storage: Optuna storage (URL or object) holding the studies.
        study_names: Studies to learn from (single-objective; any sampler made them).
        out: Weights file to write, for ``HyperaSampler(weights=out)``.
        steps: Gradient steps per agent.
        weights: Starting weights: ``"pretrained"`` (shipped), ``None`` (scratch) or a path.
        seed: Seeds the draws of the replay and the networks' noise.
        progress: Show a progress bar.
        device: Torch device of the networks.
        threads: Torch threads while training (``None``: leave torch's setting).
        command: The command to record (default: a Python call).
    """
    if not study_names:
        raise ValueError("Name at least one study to learn from.")
    if steps < 1:
        raise ValueError("steps must be >= 1.")
    start = time.perf_counter()
    studies = [optuna.load_study(study_name=n, storage=storage) for n in study_names]
    sources = read_sources(studies)
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="thompson", seed=seed, device=device)
    if weights is not None:
        core.sac.load(pretrained_path() if weights == PRETRAINED else weights)
    past = [p for k, s in enumerate(sources) if (p := past_study(s, k)) is not None]
    if not past:
        raise ValueError("None of the studies has a finished trial with parameters to learn "
                         "from.")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="pretrain on studies", unit="step")
    gen = torch.Generator(device=core.sac.device).manual_seed(seed)
    with torch_threads(threads):
        n = adapt(core, past, steps, np.random.RandomState(seed), gen,
                  on_step=(lambda _: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    if n == 0:
        raise ValueError("The studies hold no trial the agents can learn from (each needs "
                         "an earlier completed trial).")
    out = Path(out)
    core.sac.save(out)
    from optuna_hypera.pretrain import _versions

    record = {
        "command": command or (f"optuna_hypera.team.pretrain_on_studies({storage!r}, "
                               f"{list(study_names)!r}, {str(out)!r}, steps={steps}, "
                               f"weights={weights!r}, seed={seed})"),
        "seed": seed, "steps": steps,
        "start_weights": str(weights),
        "studies": [{"study": s.name, "finished_trials": len(s.trials)} for s in sources],
        "trials_learned_from": n,
        "seconds": round(time.perf_counter() - start, 1),
        "versions": _versions(),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m optuna_hypera pretrain --storage ...`` (see the module docstring)."""
    p = argparse.ArgumentParser(
        prog="python -m optuna_hypera pretrain",
        description="Fine-tune HyperaSampler's agents on stored studies and write a weights "
                    "file for HyperaSampler(weights=...).")
    p.add_argument("--storage", required=True, help="Optuna storage URL")
    p.add_argument("--study", action="append", required=True, dest="studies",
                   help="a study to learn from (repeat for more)")
    p.add_argument("--out", required=True, help="weights file to write (.pt)")
    p.add_argument("--steps", type=int, default=1000, help="gradient steps (default 1000)")
    p.add_argument("--weights", default=PRETRAINED,
                   help="starting weights: 'pretrained' (default), 'none' or a file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    args = sys.argv[1:] if argv is None else ["pretrain", *argv]
    record = pretrain_on_studies(
        a.storage, a.studies, a.out, steps=a.steps,
        weights=None if a.weights == "none" else a.weights, seed=a.seed,
        progress=not a.no_progress, device=a.device,
        command="python -m optuna_hypera " + " ".join(shlex.quote(x) for x in args))
    print(f"wrote {a.out}: {record['trials_learned_from']} trials of "
          f"{len(record['studies'])} studies, {record['seconds']} s")
    return 0
