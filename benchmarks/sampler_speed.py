"""Sampler time per trial, HyperaSampler against TPESampler and GPSampler, in one run.

    .venv/bin/python -m benchmarks.sampler_speed [--trials 100 200 300 1000] [--gp-max 300]
        [--repeats 1]
    .venv/bin/python -m benchmarks.sampler_speed --sources   # the cost of source_studies

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
from threadpoolctl import threadpool_limits
import torch

from benchmarks.run_meta import package_version
from optuna_hypera import HyperaSampler
from optuna_hypera import SACConfig


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


def prepare_timing() -> None:
    """One torch and one BLAS thread for every sampler alike, Optuna's logs muted, and the
    lazily imported modules imported (a once-per-process cost, not a per-trial one)."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(1)
    for module in ("scipy.stats", "plotly.graph_objects", "optuna_dashboard", "greenlet"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    threadpool_limits(1)


def sphere6(trial: optuna.Trial) -> float:
    x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)])
    return float(((x - np.linspace(0.2, 0.8, 6)) ** 2).sum())


def tpe_source6() -> optuna.Study:
    """A 60-trial TPE study of ``sphere6``: the past study of the ``--sources`` measurement."""
    past = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3), study_name="six")
    past.optimize(sphere6, n_trials=60)
    return past


def seconds_per_trial(sources: list[optuna.Study] | None, n_trials: int = 30) -> float:
    """Mean wall time per trial of a ``sphere6`` study with the default sampler settings
    (``source_steps=200``, ``torch_threads=1``), the one-off adaptation on the sources
    included."""
    study = optuna.create_study(sampler=HyperaSampler(seed=0, source_studies=sources))
    start = time.perf_counter()
    study.optimize(sphere6, n_trials=n_trials)
    return (time.perf_counter() - start) / n_trials


def sources_cost(repeats: int = 3) -> None:
    past = tpe_source6()
    seconds_per_trial(None, 12)  # imports outside the measurement
    print("# A 30-trial study (6-d), with one 60-trial TPE source and without\n")
    print("| run | with the source s/trial | without s/trial |\n|---|---|---|")
    for k in range(repeats):
        print(f"| {k + 1} | {seconds_per_trial([past]):.4f} | {seconds_per_trial(None):.4f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 200, 300, 1000])
    parser.add_argument("--gp-max", type=int, default=300,
                        help="run GPSampler only up to this many trials (its cost is cubic)")
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="run each length this many times, TPE first and last in turn")
    parser.add_argument("--sources", action="store_true",
                        help="measure the cost of source_studies instead")
    parser.add_argument("--frozen", action="store_true",
                        help="also time HyperaSampler without online updates "
                             "(SACConfig(gradient_steps=0), the hypera-frozen row)")
    args = parser.parse_args()
    prepare_timing()
    if args.sources:
        sources_cost()
        return
    print(f"# Sampler time per trial ({args.dim}-d continuous, trivial objective)")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"optuna {optuna.__version__}, "
          f"greenlet {package_version('greenlet') or 'not installed'}, 1 torch thread, "
          "1 BLAS thread\n")
    frozen_cols = " | frozen ms | frozen/TPE" if args.frozen else ""
    print("| trials | TPE ms | GP ms | Hypera ms | Hypera/TPE | Hypera/GP "
          f"| TPE last-10 ms | GP last-10 ms | Hypera last-10 ms{frozen_cols} |")
    print("|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.frozen else ""))
    ratios: dict[int, list[float]] = {}
    frozen_ratios: dict[int, list[float]] = {}
    for n in args.trials:
        for r in range(args.repeats):
            # Alternate the order, so drift in a shared machine's speed hits both alike.
            first_tpe = r % 2 == 0
            if first_tpe:
                tpe = time_study(optuna.samplers.TPESampler(seed=args.seed), n, args.dim)
            gp = (time_study(optuna.samplers.GPSampler(seed=args.seed), n, args.dim)
                  if n <= args.gp_max else None)
            hyp = time_study(HyperaSampler(seed=args.seed), n, args.dim)
            frozen = (time_study(HyperaSampler(seed=args.seed, sac=SACConfig(gradient_steps=0)),
                                 n, args.dim) if args.frozen else None)
            if not first_tpe:
                tpe = time_study(optuna.samplers.TPESampler(seed=args.seed), n, args.dim)
            ratios.setdefault(n, []).append(hyp.mean() / tpe.mean())
            g = f"{gp.mean() * 1e3:.1f}" if gp is not None else "not run"
            g10 = f"{gp[-10:].mean() * 1e3:.1f}" if gp is not None else "-"
            ratio_gp = f"{hyp.mean() / gp.mean():.3f}" if gp is not None else "-"
            f_cols = ""
            if frozen is not None:
                frozen_ratios.setdefault(n, []).append(frozen.mean() / tpe.mean())
                f_cols = f" {frozen.mean() * 1e3:.1f} | {frozen.mean() / tpe.mean():.2f} |"
            print(f"| {n} | {tpe.mean() * 1e3:.1f} | {g} | {hyp.mean() * 1e3:.1f} | "
                  f"{hyp.mean() / tpe.mean():.2f} | {ratio_gp} | {tpe[-10:].mean() * 1e3:.1f} | "
                  f"{g10} | {hyp[-10:].mean() * 1e3:.1f} |{f_cols}", flush=True)
    if args.repeats > 1:
        print("\nMedian Hypera/TPE over the repeats: " + ", ".join(
            f"{n} trials {float(np.median(v)):.2f} ({len(v)} runs)" for n, v in ratios.items()))
        if frozen_ratios:
            print("Median frozen/TPE over the repeats: " + ", ".join(
                f"{n} trials {float(np.median(v)):.2f} ({len(v)} runs)"
                for n, v in frozen_ratios.items()))


if __name__ == "__main__":
    main()
