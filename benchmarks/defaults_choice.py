"""How HyperaSampler's defaults are chosen: by measurement on the project's own synthetic
families, never on a named benchmark function (those are for evaluation only).

    .venv/bin/python -m benchmarks.defaults_choice [--seeds 10] [--trials 80] [--jobs 2]

Variants differ in the transition structure (``gamma = 0``: each proposal a contextual bandit;
``0.99``: the critic also bootstraps on the decision made from the trial's result) and the
coordination strategy. One ``HyperaCore`` per study, as ``HyperaSampler`` has, on
``optuna_hypera._simulate``'s families (GP prior samples, quadratic and multimodal bowls, a
fifth of the coordinates binned or categorical) in 3, 6 and 10 dimensions; each (task, seed)
is run by every variant. Prints median final best values, and the mean rank of each variant
over all (task, seed) pairs (1 = best, ties share).
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
from optuna_hypera._features import rank_quantiles
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate


VARIANTS: dict[str, tuple[str, str, float]] = {
    "independent g0": ("independent", "value", 0.0),
    "independent g0.99": ("independent", "value", 0.99),
    "sequential g0": ("sequential", "value", 0.0),
    "coop-value g0": ("cooperative", "value", 0.0),
    "coop-thompson g0": ("cooperative", "thompson", 0.0),
}
DIMS = (3, 6, 10)


def run(family: str, d: int, seed: int, n_trials: int) -> list[float]:
    """Final best value of one study per variant, on the same task and seed."""
    torch.set_num_threads(1)
    task = SyntheticTask.sample(family, d, np.random.RandomState(10_000 * d + seed),
                                discrete_share=0.2)
    out = []
    for strategy, conflict, gamma in VARIANTS.values():
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(gamma=gamma),
                          strategy=strategy, conflict=conflict, seed=seed)
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
    best = dict(zip(cells, (np.array(r) for r in results), strict=True))
    names = list(VARIANTS)
    print(f"# Defaults by measurement: {args.seeds} seeds x {args.trials} trials per setting, "
          f"one core per study")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}\n")
    print("Median final best value (lower is better):\n")
    print("| family | d | " + " | ".join(names) + " |")
    print("|---|---" + "|---" * len(names) + "|")
    for family, d in itertools.product(FAMILIES, DIMS):
        b = np.array([best[(family, d, s)] for s in range(args.seeds)])
        print(f"| {family} | {d} | " + " | ".join(f"{v:.4g}" for v in np.median(b, axis=0))
              + " |")
    # Mid-rank quantile among the variants, turned back into a rank from 1.
    ranks = np.array([1 + rank_quantiles(best[c]) * (len(names) - 1) for c in cells])
    print(f"\nMean rank over {len(cells)} (task, seed) pairs (1 = best):\n")
    for k in np.argsort(ranks.mean(axis=0), kind="stable").tolist():
        print(f"- {names[k]}: {ranks[:, k].mean():.2f}")
    g0, g99 = names.index("independent g0"), names.index("independent g0.99")
    diff = np.array([best[c][g0] - best[c][g99] for c in cells])
    print(f"\ngamma 0 against 0.99 (independent): better on {(diff < 0).sum()}, worse on "
          f"{(diff > 0).sum()}, tied on {(diff == 0).sum()} of {len(cells)} pairs")


if __name__ == "__main__":
    main()
