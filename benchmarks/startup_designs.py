"""The startup designs of ``optuna_hypera._startup.DESIGNS`` on real training on generated
data, with a design seed per run.

    PYTHONPATH=. .venv/bin/python -m benchmarks.startup_designs torch_training 20 \
        results/design-torch.json [--runs 2] [--jobs 2]

A suite's seed k is every task's sampler seed, and the startup design is a function of the
seed and the parameter names, so all tasks of one family share a suite's few designs. Here
run k of task seed s (validation seeds 9000-9031) gives the sampler seed 1000 + 10 s + k and
the objective seed k, so each pair of designs shares the objective's noise and weight
initialization and every run has its own design. Prints, for each pair of designs, how often
a's best value is lower than b's, and writes every run's values to the JSON file.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import json
import time
from typing import Any


ROWS = {"balanced": "hypera-balanced", "sobol": "hypera-sobol", "sobol-skip": "hypera"}
"""Each design's benchmark sampler row (``benchmarks.samplers``; ``hypera`` is the default)."""
TASK_SEEDS = range(9000, 9032)


def one(args: tuple[str, int, int, str, int]) -> tuple[Any, ...]:
    family, task_seed, k, design, n_trials = args
    import optuna
    import torch

    from benchmarks.objectives import make_objective
    from benchmarks.samplers import make_sampler

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    objective = make_objective(family, seed=k, task_seed=task_seed)
    sampler = make_sampler(ROWS[design], 1000 + 10 * task_seed + k)
    study = optuna.create_study(sampler=sampler)  # both families report a loss
    study.optimize(objective, n_trials=n_trials)
    values = [float(t.value) for t in study.trials if t.value is not None]
    return family, task_seed, k, design, min(values), values


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("family", choices=("torch_training", "training"))
    p.add_argument("n_trials", type=int)
    p.add_argument("out")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    jobs = [(a.family, s, k, d, a.n_trials) for s in TASK_SEEDS for k in range(a.runs)
            for d in ROWS]
    rows: list[tuple[Any, ...]] = []
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs) as ex:
        for r in ex.map(one, jobs):
            rows.append(r)
            if len(rows) % 24 == 0:
                print(f"{len(rows)} of {len(jobs)}, {time.time() - t0:.0f} s", flush=True)
    with open(a.out, "w") as f:
        json.dump(rows, f)
    best = {(s, k, d): b for _, s, k, d, b, _ in rows}
    for x, y in (("balanced", "sobol-skip"), ("sobol", "sobol-skip"), ("balanced", "sobol")):
        pairs = [(best[(s, k, x)], best[(s, k, y)]) for s in TASK_SEEDS for k in range(a.runs)]
        better = sum(u < v for u, v in pairs)
        worse = sum(u > v for u, v in pairs)
        print(f"{a.family}: {x} vs {y}: better {better}, worse {worse}, of {len(pairs)}")


if __name__ == "__main__":
    main()
