"""Quickstart: HyperaSampler on a small PyTorch-free objective, then where to look next.

    .venv/bin/python examples/quickstart.py [--trials 60] [--storage sqlite:///hypera-demo.db]
"""

from __future__ import annotations

import argparse
import math

import optuna

from optuna_hypera import HyperaSampler
from optuna_hypera import report_stats


def objective(trial: optuna.Trial) -> float:
    """A stand-in for training: the names map onto all five agents."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    n_layers = trial.suggest_int("n_layers", 1, 8)
    activation = trial.suggest_categorical("activation", ["relu", "gelu", "tanh"])
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    flip_prob = trial.suggest_float("flip_prob", 0.0, 1.0)
    focal_gamma = trial.suggest_float("focal_gamma", 0.0, 5.0)
    # A conditional parameter, asked only under one choice: the agents model it as well.
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    slack = 0.1
    if optimizer == "sgd":
        slack = (trial.suggest_float("momentum", 0.0, 0.99) - 0.9) ** 2
    loss = 1.0
    for epoch in range(5):
        # Pretend each epoch closes part of the gap to the best configuration.
        gap = ((math.log10(lr) + 3) ** 2 + (n_layers - 5) ** 2 / 10 + (dropout - 0.2) ** 2 * 10
               + (flip_prob - 0.7) ** 2 + (focal_gamma - 2) ** 2 / 5
               + 0.5 * (activation != "gelu") + slack)
        loss = gap + 1.0 / (epoch + 1)
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    report_stats(trial, train_loss=loss * 0.9, val_loss=loss, grad_norm=1.0 + dropout)
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--storage", default="sqlite:///hypera-demo.db")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    study = optuna.create_study(
        study_name=f"quickstart-seed{args.seed}",
        storage=args.storage,
        load_if_exists=True,
        sampler=HyperaSampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=args.trials)

    print(f"best value {study.best_value:.4f} after {len(study.trials)} trials")
    print(f"best params {study.best_params}")
    print(f"agent groups {study.user_attrs.get('hypera_groups')}")
    last = study.trials[-1].user_attrs.get("hypera")
    if last:
        print(f"last proposal: from trial {last['base_trial']}, strategy {last['strategy']}, "
              f"critic value {last['value_estimate']}")
    print("\nWhere to look next:")
    print(f"  optuna-dashboard {args.storage}    # trials, agent notes and credit plot")
    print("  benchmarks/README.md                # how HyperaSampler compares with TPE, GP, ...")


if __name__ == "__main__":
    main()
