"""How well the partial-curve model (``optuna_hypera._curves``) predicts final values.

    python -m benchmarks.curve_model [--tasks 40 --configs 60 --dim 5]

On generated learning-curve tasks from the evaluation seeds (``_curve_tasks``, seeds from
``EVALUATION_SEEDS_START``; nothing here is trained or tuned on them): per task, random
configurations outside the divergence region train with noise; half complete, and the other
half stop at each rung in turn. Per rung it prints the coverage of the central 50%, 80%, 90%
and 95% intervals of the predicted final normal score, the median predictive sd, and the rank
correlation of predicted with true final values, over all tasks.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from optuna_hypera._curve_tasks import EVALUATION_SEEDS_START
from optuna_hypera._curve_tasks import CurveTask
from optuna_hypera._curves import _scores_against
from optuna_hypera._curves import coverage
from optuna_hypera._curves import predict_finals


LEVELS = (0.5, 0.8, 0.9, 0.95)


def measure(n_tasks: int, n_configs: int, dim: int, rungs: tuple[int, ...],
            ) -> dict[int, dict[str, float]]:
    rows: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {
        s: [] for s in rungs}
    for k in range(n_tasks):
        seed = EVALUATION_SEEDS_START + k
        task = CurveTask.sample(dim, seed)
        rng = np.random.default_rng(seed)
        x = rng.uniform(size=(4 * n_configs, dim))
        x = x[~task.diverges(x)][:n_configs]
        curves = task.curves(x, rng)
        pruned = np.arange(len(x)) % 2 == 1
        at = np.stack([curves[:, s - 1] for s in rungs], axis=1)
        final = curves[:, -1]
        truth = _scores_against(final[~pruned], final[pruned])
        for r, s in enumerate(rungs):
            loss = np.where(pruned, at[:, r], final)
            step = np.where(pruned, float(s), np.nan)
            pred = predict_finals(loss, pruned, step, np.array(rungs, float), at)
            rows[s].append((pred.score[pruned], pred.sd[pruned], truth, final[pruned]))
    out: dict[int, dict[str, float]] = {}
    for s, parts in rows.items():
        score, sd, truth = (np.concatenate([p[i] for p in parts]) for i in range(3))
        rho = [spearmanr(p[0], p[3]).statistic for p in parts]
        out[s] = {f"coverage_{int(100 * lv)}": coverage(score, sd, truth, lv) for lv in LEVELS}
        out[s]["median_sd"] = float(np.median(sd))
        out[s]["spearman_median"] = float(np.median(rho))
        out[s]["n"] = float(len(score))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=40)
    p.add_argument("--configs", type=int, default=60)
    p.add_argument("--dim", type=int, default=5)
    p.add_argument("--rungs", default="1,3,9")
    a = p.parse_args(argv)
    rungs = tuple(int(s) for s in a.rungs.split(","))
    res = measure(a.tasks, a.configs, a.dim, rungs)
    cols = [f"coverage_{int(100 * lv)}" for lv in LEVELS] + ["median_sd", "spearman_median"]
    print("| rung | " + " | ".join(cols) + " | pruned trials |")
    print("|---" * (len(cols) + 2) + "|")
    for s, r in res.items():
        print(f"| {s} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + f" | {int(r['n'])} |")


if __name__ == "__main__":
    main()
