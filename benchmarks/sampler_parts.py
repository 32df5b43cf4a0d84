"""Where HyperaSampler's time per trial goes: wall time of its parts in one study.

    .venv/bin/python -m benchmarks.sampler_parts [--trials 1000] [--dim 10] [--tpe]

The study of ``benchmarks.sampler_speed`` (a 10-d continuous space, a trivial objective, one
torch and one BLAS thread). Each part is a method or function of the package wrapped with a
timer for the run, so the parts nest (a part's time includes the parts listed under it) and
the wrappers add a little of their own; ``--tpe`` times a TPE study of the same length after
it, in the same process, for scale.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
import functools
import time
from typing import Any

import numpy as np
import optuna
import torch

from benchmarks.sampler_speed import prepare_timing
from benchmarks.sampler_speed import time_study
from optuna_hypera import HyperaSampler
import optuna_hypera._coordinator as coordinator
import optuna_hypera._core as core
import optuna_hypera._dashboard as dashboard
import optuna_hypera._decision as decision
import optuna_hypera._features as features
import optuna_hypera._learner as learner
import optuna_hypera._sac as sac
import optuna_hypera._sampler as sampler
import optuna_hypera._surrogate as surrogate


PARTS: tuple[tuple[Any, str, int, str], ...] = (
    # (owner, attribute, depth, label)
    (sampler.HyperaSampler, "infer_relative_search_space", 0, "search space"),
    (sampler.HyperaSampler, "before_trial", 0, "before_trial"),
    (dashboard.Refresher, "maybe_refresh", 1, "dashboard note and figure"),
    (sampler.HyperaSampler, "sample_relative", 0, "sample_relative"),
    (core.HyperaCore, "ask_batch", 1, "the core's ask"),
    (learner.Learner, "observe_batch", 2, "learner: new transitions"),
    (learner.Learner, "train", 2, "online SAC steps"),
    (sac.MultiAgentSAC, "update", 3, "gradient steps"),
    (core.HyperaCore, "contexts", 2, "contexts (what each decision needs)"),
    (surrogate.Surrogate, "fit", 3, "Gaussian process fit"),
    (surrogate, "fit_kernel", 4, "kernel refits"),
    (surrogate.Surrogate, "__init__", 4, "factorization"),
    (features.Evidence, "build", 3, "per-parameter evidence"),
    (core.HyperaCore, "_context", 3, "bases, Thompson statistics"),
    (learner.Learner, "outcomes", 4, "Thompson statistics"),
    (coordinator.Coordinator, "decide", 2, "decide"),
    (coordinator.Coordinator, "_joint", 3, "scoring the candidates"),
    (sac.MultiAgentSAC, "act", 4, "actors"),
    (sac.MultiAgentSAC, "value", 4, "critics"),
    (coordinator, "candidate_features", 4, "candidates' model features"),
    (coordinator, "explain", 3, "explanation"),
    (decision.Context, "acceptable", 3, "acceptability checks"),
    (surrogate.Surrogate, "predict", 2, "GP predictions (within the above)"),
)


def _timed(f: Callable[..., Any], label: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(f)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    return timed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--tpe", action="store_true")
    args = parser.parse_args(argv)
    prepare_timing()
    totals: dict[str, float] = defaultdict(float)
    saved = [(owner, name, getattr(owner, name)) for owner, name, _, _ in PARTS]
    try:
        for owner, name, _, label in PARTS:
            setattr(owner, name, _timed(getattr(owner, name), label, totals))
        times = time_study(HyperaSampler(seed=0), args.trials, args.dim)
    finally:
        for owner, name, f in saved:
            setattr(owner, name, f)
    n = args.trials
    print(f"# HyperaSampler, {n} trials, {args.dim}-d: {times.mean() * 1e3:.2f} ms per trial "
          f"(last 100: {times[-100:].mean() * 1e3:.2f})\n")
    print("| part | ms per trial |\n|---|---|")
    for _, _, depth, label in PARTS:
        print(f"| {'. ' * depth}{label} | {totals[label] / n * 1e3:.2f} |")
    if args.tpe:
        tpe = time_study(optuna.samplers.TPESampler(seed=0), n, args.dim)
        print(f"\nTPESampler in the same process: {tpe.mean() * 1e3:.2f} ms per trial "
              f"(last 100: {tpe[-100:].mean() * 1e3:.2f})")
    print(f"\nnumpy {np.__version__}, torch {torch.__version__}, optuna {optuna.__version__}")


if __name__ == "__main__":
    main()
