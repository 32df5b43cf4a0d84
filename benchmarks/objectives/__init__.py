"""Benchmark objectives: plain ``objective(trial) -> float`` callables built by factories.

Every objective also carries what the runner needs to compare samplers on it:

- ``direction``: the study direction (``"minimize"`` or ``"maximize"``);
- ``loss(value)``: the value mapped to a loss that is minimised and comparable across samplers
  (BBOB regret ``f - f_opt``, digits validation loss, ``1 - Dice`` for segmentation);
- ``score(value, user_attrs)``: a higher-is-better model metric where one exists (test accuracy,
  validation Dice), else ``None``; ``score_label`` names it.
"""

from __future__ import annotations

from typing import Any
from typing import Protocol

import optuna


class Objective(Protocol):
    """What the runner expects of an objective."""

    direction: str
    loss_label: str
    score_label: str | None

    def __call__(self, trial: optuna.trial.BaseTrial) -> float: ...

    def loss(self, value: float) -> float: ...

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None: ...


FAMILIES = ("bbob", "digits", "monai", "curves", "landscape", "training", "torch_training",
            "model_selection")


def make_objective(family: str, *, seed: int, **options: Any) -> Objective:
    """Build the objective of ``family`` for ``seed``; ``options`` go to its factory.

    Imports are lazy so that listing suites does not load torch or MONAI.
    """
    if family == "bbob":
        from benchmarks.objectives.synthetic import make_bbob_objective

        return make_bbob_objective(seed=seed, **options)
    if family == "digits":
        from benchmarks.objectives.digits_mlp import make_digits_objective

        return make_digits_objective(seed=seed, **options)
    if family == "monai":
        from benchmarks.objectives.monai_seg import make_monai_objective

        return make_monai_objective(seed=seed, **options)
    if family == "curves":  # generated learning curves (the pruning benchmark)
        from benchmarks.objectives.curves import make_curves_objective

        return make_curves_objective(seed=seed, **options)
    if family == "landscape":  # the generated prior's held-out tasks (optuna_hypera._families)
        from benchmarks.objectives.landscape import make_landscape_objective

        return make_landscape_objective(seed=seed, **options)
    if family == "training":  # real training on generated data (validation seeds only)
        from benchmarks.objectives.generated_training import make_generated_training_objective

        return make_generated_training_objective(seed=seed, **options)
    if family == "torch_training":  # torch training on generated data (validation seeds only)
        from benchmarks.objectives.generated_torch import make_generated_torch_objective

        return make_generated_torch_objective(seed=seed, **options)
    if family == "model_selection":  # a classifier and its settings, define-by-run
        from benchmarks.objectives.model_selection import make_model_selection_objective

        return make_model_selection_objective(seed=seed, **options)
    raise ValueError(f"Unknown objective family {family!r}; expected one of {FAMILIES}.")


__all__ = ["FAMILIES", "Objective", "make_objective"]
