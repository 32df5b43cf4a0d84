"""How the agents' transitions are structured, chosen by measurement: a contextual bandit
(``gamma = 0``: each proposal is judged by its own reward) against a successor-paired MDP
(``gamma = 0.99``: the critic also bootstraps on the decision made from the trial's result).

    .venv/bin/python -m benchmarks.transition_choice [--seeds 10] [--trials 80] [--jobs 2]

One ``HyperaCore`` per study, as ``HyperaSampler`` has, on the project's own synthetic
families (``optuna_hypera._simulate``: GP prior samples, quadratic and multimodal bowls, with
some binned and categorical coordinates) in 3, 6 and 10 dimensions. No named benchmark function
is used to choose. Prints the median final best value per setting, paired wins and mean ranks.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import itertools
import platform

import numpy as np
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate


GAMMAS = (0.0, 0.99)
DIMS = (3, 6, 10)


def run(family: str, d: int, seed: int, n_trials: int) -> list[float]:
    """Final best value of one study per gamma, on the same task and seed."""
    torch.set_num_threads(1)
    task = SyntheticTask.sample(family, d, np.random.RandomState(10_000 * d + seed),
                                discrete_share=0.2)
    out = []
    for gamma in GAMMAS:
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(gamma=gamma),
                          strategy="independent", conflict="value", seed=seed)
        sim = simulate(core, [task], n_trials, n_startup=10, seed=seed)
        out.append(float(sim.y[0].min()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    cells = list(itertools.product(FAMILIES, DIMS, range(args.seeds)))
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, *zip(*cells, strict=True),
                                itertools.repeat(args.trials)))
    best = {cell: np.array(r) for cell, r in zip(cells, results, strict=True)}
    print(f"# gamma 0 (bandit) vs 0.99 (successor-paired): {args.seeds} seeds x "
          f"{args.trials} trials per setting, one core per study")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}\n")
    print("| family | d | median best, gamma 0 | median best, gamma 0.99 | gamma 0 better |")
    print("|---|---|---|---|---|")
    wins = ties = 0
    for family, d in itertools.product(FAMILIES, DIMS):
        b = np.array([best[(family, d, s)] for s in range(args.seeds)])
        w = int((b[:, 0] < b[:, 1]).sum())
        t = int((b[:, 0] == b[:, 1]).sum())
        wins, ties = wins + w, ties + t
        print(f"| {family} | {d} | {np.median(b[:, 0]):.4g} | {np.median(b[:, 1]):.4g} "
              f"| {w}/{args.seeds} ({t} tied) |")
    n = len(cells)
    ranks = np.mean([1.0 + (best[c][1] < best[c][0]) + 0.5 * (best[c][1] == best[c][0])
                     for c in cells])
    print(f"\ngamma 0 better on {wins}/{n} (task, seed) pairs, {ties} tied; "
          f"mean rank gamma 0: {ranks:.3f}, gamma 0.99: {3 - ranks:.3f}")


if __name__ == "__main__":
    main()
