"""BBOB functions from ``ioh`` (offline, exact optimum, so regret is exact).

Parameters are ``x0 .. x{d-1}``, each in [-5, 5] (the BBOB domain). The objective returns f(x)
(minimise); the benchmark loss is the regret ``f(x) - f_opt`` with ``f_opt = problem.optimum.y``.
"""

from __future__ import annotations

from typing import Any

import optuna


BBOB_NAMES = {
    1: "sphere", 2: "ellipsoid", 3: "rastrigin", 6: "attractive-sector", 7: "step-ellipsoid",
    8: "rosenbrock", 10: "ellipsoid-rotated", 15: "rastrigin-rotated", 16: "weierstrass",
    20: "schwefel", 21: "gallagher101", 24: "lunacek",
}
"""Names of the BBOB functions the suites use (any fid in 1..24 works)."""


class BBOBObjective:
    """``objective(trial) -> f(x)`` for BBOB function ``fid``, ``instance``, ``dim``.

    Args:
        fid: BBOB function id, 1..24.
        dim: Dimension (number of parameters).
        instance: BBOB instance (shifts/rotations of the same function), >= 1.
    """

    direction = "minimize"
    loss_label = "regret f - f_opt"
    score_label: str | None = None

    def __init__(self, *, fid: int, dim: int, instance: int) -> None:
        import ioh

        if not 1 <= fid <= 24:
            raise ValueError(f"BBOB fid must be in 1..24, got {fid}.")
        if dim < 1 or instance < 1:
            raise ValueError(f"dim and instance must be >= 1, got {dim} and {instance}.")
        self.fid, self.dim, self.instance = fid, dim, instance
        self.problem: Any = ioh.get_problem(fid, instance, dim, ioh.ProblemClass.BBOB)
        self.optimum = float(self.problem.optimum.y)

    def loss(self, value: float) -> float:
        return value - self.optimum

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        return None

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        x = [trial.suggest_float(f"x{i}", -5.0, 5.0) for i in range(self.dim)]
        return float(self.problem(x))


def make_bbob_objective(
    *, fid: int, dim: int, seed: int = 0, instance: int | None = None
) -> BBOBObjective:
    """Factory. Without ``instance`` the seed picks it (``instance = seed + 1``), as COCO does."""
    return BBOBObjective(fid=fid, dim=dim, instance=seed + 1 if instance is None else instance)
