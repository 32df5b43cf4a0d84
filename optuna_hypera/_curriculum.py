"""What pre-training trains on: the curriculum of task families, each round's tasks drawn
from ``(seed, round)``, the fixed validation tasks and the regret measure they are scored by.

Only the project's own generated families (``_families``' train split, ``_curve_study``'s
learning curves, ``_simulate``'s three); never a named benchmark function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import TYPE_CHECKING

import numpy as np

from optuna_hypera._curve_study import draw_curve_studies
from optuna_hypera._families import FAMILIES as PRIOR_FAMILIES
from optuna_hypera._families import draw
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import Objective
from optuna_hypera._simulate import SyntheticTask


if TYPE_CHECKING:
    from optuna_hypera.pretrain import PretrainConfig


@dataclass(frozen=True)
class Stage:
    """One level of the curriculum."""

    dims: tuple[int, ...]
    families: tuple[str, ...]
    discrete_share: float
    max_noise: float
    prior_families: tuple[str, ...] = PRIOR_FAMILIES
    """With ``prior="families"``: the ``_families`` families this stage draws from."""


PRIORS = ("synthetic", "families")
_SMOOTH = ("separable_bowl", "rotated_bowl", "gp", "low_dim", "log_scale")
CURRICULUM: tuple[Stage, ...] = (
    Stage((2, 3, 4, 5), ("gp", "quadratic"), 0.0, 0.0, _SMOOTH),
    Stage((3, 5, 8, 10), FAMILIES, 0.2, 0.01),
    Stage((5, 8, 12, 16), FAMILIES, 0.3, 0.05),
    Stage((8, 12, 16, 24), FAMILIES, 0.4, 0.05),
)
"""Easy to hard; a run spends an equal share of its rounds in each stage."""


def stage_of(round_: int, rounds: int) -> int:
    return min(len(CURRICULUM) - 1, round_ * len(CURRICULUM) // max(rounds, 1))


def tasks_for(round_: int, cfg: PretrainConfig) -> tuple[list[Objective], int]:
    """The round's tasks, drawn from ``(seed, round)`` only; and the trials per study."""
    rng = np.random.RandomState([cfg.seed, round_])
    stage = CURRICULUM[stage_of(round_, cfg.rounds)]
    n_trials = min(80, 40 + 2 * max(stage.dims))
    if cfg.prior == "families":
        families = list(stage.prior_families)
        rng.shuffle(families)  # which families a small round gets first
        n_curves = int(round(cfg.curves_share * cfg.studies))
        drawn: list[Objective] = list(draw("train", cfg.studies - n_curves,
                                           int(rng.randint(2**31 - 1)), dims=stage.dims,
                                           families=families))
        return drawn + list(draw_curve_studies(n_curves, rng, stage.dims)), n_trials
    per_dim = math.ceil(cfg.studies / len(stage.dims))
    tasks = []
    for d in stage.dims:
        for _ in range(per_dim):
            family = stage.families[rng.randint(len(stage.families))]
            noise = float(rng.uniform(0, stage.max_noise))
            tasks.append(SyntheticTask.sample(family, d, rng, discrete_share=stage.discrete_share,
                                              noise=noise))
    return list(tasks[: cfg.studies]), n_trials


def regret_share(tasks: Sequence[Objective], ys: Sequence[np.ndarray], seed: int) -> float:
    """Mean share of 2000 uniform random points that beat each study's best value (0 best;
    a study whose every trial failed scores 1)."""
    rng = np.random.RandomState(seed)
    shares = []
    for task, y in zip(tasks, ys, strict=True):
        ref = task(rng.uniform(size=(2000, len(task.space))))
        if np.isnan(y).all():
            shares.append(1.0)
            continue
        shares.append(float((ref < np.nanmin(y)).mean()))
    return float(np.mean(shares))


def validation_tasks(seed: int, prior: str = "synthetic") -> list[Objective]:
    """Fixed tasks from a seed no training round draws from: with the synthetic prior 18
    (each family in 4 and 10 dimensions, binned coordinates); with ``"families"`` 24 of the
    validation split (two per family, 4 and 10 dimensions)."""
    if prior == "families":
        return list(draw("validation", 2 * len(PRIOR_FAMILIES), seed, dims=(4, 10)))
    rng = np.random.RandomState([seed, 1_000_000])
    return [SyntheticTask.sample(f, d, rng, discrete_share=0.2)
            for d in (4, 10) for f in FAMILIES for _ in range(3)]
