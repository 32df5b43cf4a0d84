"""How HyperaSampler's default strategy was chosen: every strategy/conflict variant, TPE and
random search on four cheap objectives, 5 seeds x 80 trials each, in one run.

    .venv/bin/python benchmarks/strategy_selection.py [--seeds 5] [--trials 80]

Prints the median best value per task and the mean rank of each variant over the tasks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import warnings

import numpy as np
import optuna
import torch

from optuna_hypera import HyperaSampler


def mixed(t: optuna.Trial) -> float:
    """A shifted quadratic whose names cover the five groups, with a log lr and a choice."""
    lr = t.suggest_float("lr", 1e-5, 1e-1, log=True)
    layers = t.suggest_int("n_layers", 1, 8)
    dropout = t.suggest_float("dropout", 0.0, 0.5)
    aug = t.suggest_float("aug_prob", 0, 1)
    gamma = t.suggest_float("focal_gamma", 0, 5)
    act = t.suggest_categorical("activation", ["relu", "gelu", "tanh"])
    return float((np.log10(lr) + 3) ** 2 + (layers - 5) ** 2 / 10 + (dropout - 0.2) ** 2 * 10
                 + (aug - 0.7) ** 2 + (gamma - 2) ** 2 / 5 + (act != "gelu") * 0.5)


def sphere10(t: optuna.Trial) -> float:
    return sum((t.suggest_float(f"x{i}", -5, 5) - 1.3) ** 2 for i in range(10))


def rosenbrock6(t: optuna.Trial) -> float:
    x = [t.suggest_float(f"x{i}", -2, 2) for i in range(6)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(5))


def rastrigin5(t: optuna.Trial) -> float:
    x = np.array([t.suggest_float(f"x{i}", -5.12, 5.12) for i in range(5)]) - 0.5
    return 10 * len(x) + float(np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))


TASKS: dict[str, Callable[[optuna.Trial], float]] = {
    "mixed6": mixed, "sphere10": sphere10, "rosenbrock6": rosenbrock6, "rastrigin5": rastrigin5,
}
VARIANTS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "sequential": lambda s: HyperaSampler(seed=s, strategy="sequential"),
    "independent": lambda s: HyperaSampler(seed=s, strategy="independent"),
    "coop-value": lambda s: HyperaSampler(seed=s, strategy="cooperative", conflict="value"),
    "coop-specialization": lambda s: HyperaSampler(
        seed=s, strategy="cooperative", conflict="specialization"),
    "coop-thompson": lambda s: HyperaSampler(seed=s, strategy="cooperative", conflict="thompson"),
    "tpe": lambda s: optuna.samplers.TPESampler(seed=s),
    "random": lambda s: optuna.samplers.RandomSampler(seed=s),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=80)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(1)
    medians: dict[str, dict[str, float]] = {}
    print(f"{args.seeds} seeds x {args.trials} trials; median best value (lower is better)")
    print("| task | " + " | ".join(VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 1) + "|")
    for task, objective in TASKS.items():
        medians[task] = {}
        for name, make in VARIANTS.items():
            best = []
            for seed in range(args.seeds):
                study = optuna.create_study(sampler=make(seed))
                study.optimize(objective, n_trials=args.trials)
                best.append(study.best_value)
            medians[task][name] = float(np.median(best))
        print(f"| {task} | " + " | ".join(f"{medians[task][n]:.4g}" for n in VARIANTS) + " |",
              flush=True)
    ranks = {n: 0.0 for n in VARIANTS}
    hypera = [n for n in VARIANTS if n not in ("tpe", "random")]
    for task in TASKS:
        order = sorted(hypera, key=lambda n: medians[task][n])
        for r, n in enumerate(order, start=1):
            ranks[n] += r / len(TASKS)
    print("\nMean rank among the Hypera variants (1 = best):")
    for n in sorted(hypera, key=lambda n: ranks[n]):
        print(f"  {n}: {ranks[n]:.2f}")


if __name__ == "__main__":
    main()
