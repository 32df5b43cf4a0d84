"""Sampler time per trial, HyperaSampler against TPESampler, in one run.

    .venv/bin/python benchmarks/sampler_speed.py [--trials 100 300 1000] [--dim 10] [--seed 0]

A 10-d continuous space and a trivial objective, so the time is the sampler's own. Torch uses
one thread for the whole process (HyperaSampler's default `torch_threads=1` as well). Modules
that are imported lazily on first use (scipy.stats for the Sobol startup, plotly for the
dashboard note) are imported before timing: that is a once-per-process cost, not per trial.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import time
import warnings

import numpy as np
import optuna
import torch

from optuna_hypera import HyperaSampler


def time_study(sampler: optuna.samplers.BaseSampler, n_trials: int, dim: int) -> np.ndarray:
    study = optuna.create_study(sampler=sampler)
    times = np.empty(n_trials)
    for i in range(n_trials):
        t0 = time.perf_counter()
        trial = study.ask()
        value = sum((trial.suggest_float(f"x{j}", -5, 5) - 1) ** 2 for j in range(dim))
        study.tell(trial, value)
        times[i] = time.perf_counter() - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(1)
    for module in ("scipy.stats", "plotly.graph_objects", "optuna_dashboard"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    print(f"# Sampler time per trial ({args.dim}-d continuous, trivial objective)")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"optuna {optuna.__version__}, 1 torch thread\n")
    print("| trials | TPE mean ms | Hypera mean ms | ratio (Hypera/TPE) "
          "| TPE last-10 ms | Hypera last-10 ms |")
    print("|---|---|---|---|---|---|")
    for n in args.trials:
        tpe = time_study(optuna.samplers.TPESampler(seed=args.seed), n, args.dim)
        hyp = time_study(HyperaSampler(seed=args.seed), n, args.dim)
        print(f"| {n} | {tpe.mean() * 1e3:.1f} | {hyp.mean() * 1e3:.1f} | "
              f"{hyp.mean() / tpe.mean():.2f} | {tpe[-10:].mean() * 1e3:.1f} | "
              f"{hyp[-10:].mean() * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main()
