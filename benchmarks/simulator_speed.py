"""Time per simulated trial: the core's simulator against the same decisions made through
``optuna.create_study`` with ``HyperaSampler``, in one run.

    .venv/bin/python -m benchmarks.simulator_speed [--studies 128] [--trials 60] [--dim 6]

Both sides run the same ``HyperaCore`` code on the same synthetic tasks (the project's own GP
prior samples, quadratic and multimodal families; ``optuna_hypera._simulate``). Two settings:
``decisions`` turns gradient steps off (``SACConfig(gradient_steps=0)``), so both sides make
only decisions; ``with learning`` keeps the sampler's update schedule, whose gradient steps
cost the same on both sides. One torch thread.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import optuna
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import HyperaSampler
from optuna_hypera import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate


def through_optuna(tasks: list[SyntheticTask], n_trials: int, n_startup: int,
                   cfg: SACConfig) -> float:
    """Seconds per trial of full ``study.optimize`` runs, one study per task."""
    total = 0.0
    for k, task in enumerate(tasks):
        d = len(task.space)

        def objective(trial: optuna.Trial, task: SyntheticTask = task, d: int = d) -> float:
            x = np.array([trial.suggest_float(f"x{j}", 0.0, 1.0) for j in range(d)])
            return float(task(x[None])[0])

        sampler = HyperaSampler(seed=k, n_startup_trials=n_startup, sac=cfg, dashboard_every=0)
        study = optuna.create_study(sampler=sampler)
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=n_trials)
        total += time.perf_counter() - t0
    return total / (len(tasks) * n_trials)


def simulated(tasks: list[SyntheticTask], n_trials: int, n_startup: int,
              cfg: SACConfig) -> float:
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=cfg, strategy="independent", conflict="value",
                      seed=0)
    t0 = time.perf_counter()
    simulate(core, tasks, n_trials, n_startup=n_startup, seed=0)
    return (time.perf_counter() - t0) / (len(tasks) * n_trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=128)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--startup", type=int, default=10)
    parser.add_argument("--dim", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(1)
    rng = np.random.RandomState(args.seed)
    tasks = [SyntheticTask.sample(FAMILIES[k % len(FAMILIES)], args.dim, rng)
             for k in range(args.studies)]
    print(f"# Time per trial: {args.studies} studies x {args.trials} trials "
          f"({args.startup} startup), {args.dim}-d synthetic tasks")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"optuna {optuna.__version__}, 1 torch thread\n")
    print("| setting | through optuna.create_study ms | simulator ms | speed-up |")
    print("|---|---|---|---|")
    for name, cfg in (("decisions", SACConfig(gradient_steps=0)), ("with learning", SACConfig())):
        opt = through_optuna(tasks, args.trials, args.startup, cfg)
        sim = simulated(tasks, args.trials, args.startup, cfg)
        print(f"| {name} | {opt * 1e3:.2f} | {sim * 1e3:.3f} | {opt / sim:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
