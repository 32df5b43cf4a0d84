"""How HyperaSampler's defaults are chosen: by measurement on the project's own synthetic
families, never on a named benchmark function (those are for evaluation only).

    .venv/bin/python -m benchmarks.defaults_choice [--seeds 6] [--trials 80] [--jobs 2]
        [--variants coop-thompson,coop-thompson-b64,...]

Variants differ in the coordination strategy and in the starting weights (the shipped
pre-trained ones or none); ``teacher`` is pre-training's imitation target, the candidate with
the highest log expected improvement, for reference. (``gamma`` was chosen the same way before
pre-training existed: 0 and 0.99 tied; see the README.) One ``HyperaCore`` per study, as
``HyperaSampler`` has, with the sampler's online updates, on
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
from optuna_hypera._history import rank_quantiles
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate
from optuna_hypera._threads import torch_threads
from optuna_hypera._weights import pretrained_path


VARIANTS: dict[str, tuple[str, str, bool, str, SACConfig]] = {
    # name: (strategy, conflict, pre-trained, chooser, online learning)
    "cooperative": ("cooperative", "value", True, "critic", SACConfig()),
    "coop-thompson": ("cooperative", "thompson", True, "critic", SACConfig()),
    "independent": ("independent", "value", True, "critic", SACConfig()),
    "sequential": ("sequential", "value", True, "critic", SACConfig()),
    "cooperative scratch": ("cooperative", "value", False, "critic", SACConfig()),
    "independent scratch": ("independent", "value", False, "critic", SACConfig()),
    "teacher": ("cooperative", "value", True, "teacher", SACConfig()),
    # The online updates' batch (the default's, 256, against 64) and none at all.
    "coop-thompson-b64": ("cooperative", "thompson", True, "critic", SACConfig(batch_size=64)),
    "coop-thompson-frozen": ("cooperative", "thompson", True, "critic",
                             SACConfig(gradient_steps=0)),
}
CANDIDATES = {"coop-thompson-c32": 32}
"""Variants scoring another number of candidates per decision than the default 64."""
VARIANTS["coop-thompson-c32"] = VARIANTS["coop-thompson"]
DEFAULT_VARIANTS = ("cooperative", "coop-thompson", "independent", "sequential",
                    "cooperative scratch", "independent scratch", "teacher")
DIMS = (3, 6, 10)


def run(family: str, d: int, seed: int, n_trials: int, names: tuple[str, ...]) -> list[float]:
    """Final best value of one study per variant, on the same task and seed."""
    torch.set_num_threads(1)
    task = SyntheticTask.sample(family, d, np.random.RandomState(10_000 * d + seed),
                                discrete_share=0.2)
    out = []
    for name in names:
        strategy, conflict, pretrained, chooser, sac = VARIANTS[name]
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=sac, strategy=strategy,
                          conflict=conflict, seed=seed, chooser=chooser,
                          n_candidates=CANDIDATES.get(name, 64))
        if pretrained:
            core.sac.load(pretrained_path())
        with torch_threads(1):
            sim = simulate(core, [task], n_trials, n_startup=10, seed=seed)
        out.append(float(sim.y[0].min()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    cells = list(itertools.product(FAMILIES, DIMS, range(args.seeds)))
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, *zip(*cells, strict=True),
                                itertools.repeat(args.trials), itertools.repeat(tuple(names))))
    best = dict(zip(cells, (np.array(r) for r in results), strict=True))
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
    for first, second in ((names[0], other) for other in names[1:]):
        i, j = names.index(first), names.index(second)
        diff = np.array([best[c][i] - best[c][j] for c in cells])
        print(f"\n{first} against {second}: better on {(diff < 0).sum()}, worse on "
              f"{(diff > 0).sum()}, tied on {(diff == 0).sum()} of {len(cells)} pairs")


if __name__ == "__main__":
    main()
