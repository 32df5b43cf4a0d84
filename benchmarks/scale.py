"""How HyperaSampler scales with workers and with history, on a shared PostgreSQL study.

Measures in one run:

1. trials/second and sampler seconds per trial with 1, 2 and 4 worker processes sharing one
   study (same total number of trials each time), plus how close the nearest pair of proposals
   comes (normalized distance in [0, 1]);
2. sampler seconds per trial on a study that already holds ``--history`` trials: the next
   ``--batch`` proposals in a fresh process (the first one trains the agents), then the next
   ``--batch`` in the same process (the per-process cache should keep these cheap).

Usage, from the repository root (the workload is ``examples.distributed``'s)::

    python -m benchmarks.scale --storage postgresql://postgres@127.0.0.1:5432/test

The objective is a cheap quadratic plus ``--objective-seconds`` of sleep standing in for training
(default: 0, which leaves the sampler's and the storage's overhead alone, and 0.25 s).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import functools
import itertools
import math
import multiprocessing
from multiprocessing.queues import Queue
import os
import shlex
import sys
import time
from typing import Any
import uuid

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from examples import distributed
from optuna_hypera.storages import make_storage


_TIMED = (
    "infer_relative_search_space",
    "sample_relative",
    "sample_independent",
    "before_trial",
    "after_trial",
)


def time_sampler(sampler: BaseSampler) -> dict[int, float]:
    """Wrap the sampler's hooks in place; the returned dict fills with seconds per trial."""
    seconds: dict[int, float] = {}

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(study: optuna.Study, trial: FrozenTrial, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(study, trial, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                seconds[trial.number] = seconds.get(trial.number, 0.0) + elapsed

        return timed

    for name in _TIMED:
        setattr(sampler, name, wrap(getattr(sampler, name)))
    return seconds


def _slow_objective(trial: optuna.Trial, seconds: float) -> float:
    value = distributed.objective(trial)
    time.sleep(seconds)  # stands in for training
    return value


def _worker(
    url: str,
    study_name: str,
    n_trials: int,
    seed: int,
    n_startup: int,
    objective_s: float,
    out: Queue[Any],
) -> None:
    sampler = distributed.make_sampler(seed, n_startup)
    seconds = time_sampler(sampler)
    distributed.run_worker(
        url,
        study_name,
        n_trials,
        sampler=sampler,
        heartbeat_interval=None,
        objective=functools.partial(_slow_objective, seconds=objective_s),
    )
    out.put(seconds)


def _history_worker(
    url: str, study_name: str, batch: int, n_startup: int, out: Queue[Any]
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = distributed.make_sampler(0, n_startup)
    seconds = time_sampler(sampler)
    study = optuna.load_study(
        study_name=study_name, storage=make_storage(url, heartbeat_interval=None), sampler=sampler
    )
    batches = []
    for _ in range(2):
        start = len(seconds)
        study.optimize(distributed.objective, n_trials=batch)
        batches.append([seconds[n] for n in sorted(seconds)[start:]])
    out.put(batches)


def _pair_distances(trials: Sequence[FrozenTrial], window: int) -> float:
    """Nearest pair among trials at most ``window - 1`` trial numbers apart."""
    points = distributed.normalized_points(trials)
    best = math.inf
    for i, j in itertools.combinations(range(len(trials)), 2):
        if abs(trials[i].number - trials[j].number) < window:
            best = min(best, float(np.linalg.norm(points[i] - points[j])))
    return best


def run_workers(
    url: str, n_workers: int, total: int, n_startup: int, objective_s: float
) -> dict[str, float]:
    name = f"hypera-scale-{uuid.uuid4().hex[:8]}"
    storage = make_storage(url, heartbeat_interval=None)
    optuna.create_study(study_name=name, storage=storage)
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(url, name, total // n_workers, 100 + i, n_startup, objective_s, out),
        )
        for i in range(n_workers)
    ]
    for p in procs:
        p.start()
    seconds: dict[int, float] = {}
    for _ in procs:
        seconds.update(out.get(timeout=1800))
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a worker exited with code {p.exitcode}")

    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    span = (max(ends) - min(starts)).total_seconds()
    agent = [seconds[t.number] for t in trials if "hypera" in t.user_attrs]
    startup = [seconds[t.number] for t in trials if "hypera" not in t.user_attrs]
    optuna.delete_study(study_name=name, storage=storage)
    return {
        "workers": n_workers,
        "trials": len(trials),
        "span": span,
        "rate": len(trials) / span,
        "agent_mean": float(np.mean(agent)) if agent else math.nan,
        "agent_median": float(np.median(agent)) if agent else math.nan,
        "startup_mean": float(np.mean(startup)) if startup else math.nan,
        "concurrent": distributed.nearest_pair(trials, concurrent_only=True),
        "window": _pair_distances(trials, 4),
        "overall": distributed.nearest_pair(trials, concurrent_only=False),
    }


def _proposal_templates(n_startup: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(system attrs, user attrs) of real proposals from a short in-memory study."""
    sampler = distributed.make_sampler(0, n_startup)
    study = optuna.create_study(sampler=sampler)
    study.optimize(distributed.objective, n_trials=n_startup + 20)
    templates = []
    for t in study.trials:
        system = {k: v for k, v in t.system_attrs.items() if k.startswith("hypera:")}
        if system and "hypera" in t.user_attrs:
            templates.append((system, {"hypera": t.user_attrs["hypera"]}))
    return templates


def run_history(url: str, n_history: int, batch: int, n_startup: int) -> dict[str, Any]:
    """Time proposals on a study holding ``n_history`` trials, most carrying agent proposals.

    The stored proposals are copies of real ones, so a fresh process has ``n_history``
    transitions to parse and learn from, as it would when joining a long-running study.
    """
    name = f"hypera-scale-history-{uuid.uuid4().hex[:8]}"
    storage = make_storage(url, heartbeat_interval=None)
    study = optuna.create_study(study_name=name, storage=storage)
    templates = _proposal_templates(n_startup)
    rng = np.random.default_rng(0)
    choices = list(distributed.ACTIVATION_PENALTY)
    start = time.perf_counter()
    trials = []
    for i in range(n_history):
        params: dict[str, float | int | str] = {
            "x": float(rng.uniform(-5.0, 5.0)),
            "lr": float(10.0 ** rng.uniform(-5.0, -1.0)),
            "layers": int(rng.integers(1, 9)),
            "activation": choices[int(rng.integers(len(choices)))],
        }
        system, user = templates[i % len(templates)] if i >= n_startup else ({}, {})
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributed.search_space(),
                value=distributed.quadratic(params),
                system_attrs=system,
                user_attrs=user,
            )
        )
    study.add_trials(trials)
    insert_s = time.perf_counter() - start

    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=_history_worker, args=(url, name, batch, n_startup, out))
    proc.start()
    batches = out.get(timeout=1800)
    proc.join()
    optuna.delete_study(study_name=name, storage=storage)
    return {"insert_s": insert_s, "batches": batches}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--trials", type=int, default=48, help="total trials per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--objective-seconds",
        type=float,
        nargs="+",
        default=[0.0, 0.25],
        help="sleep added to the objective (0 = sampler and storage overhead only)",
    )
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--n-startup-trials", type=int, default=10)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    command = shlex.join(["python", "-m", "benchmarks.scale", *sys.argv[1:]])
    load = os.getloadavg()[0]
    print(f"Command: `{command}` ({os.cpu_count()} CPU cores, load average {load:.1f})\n")
    print(
        "| objective s | workers | trials | wall s | trials/s | sampler s/trial, agents: mean "
        "| median | startup trials: mean | nearest concurrent pair | nearest pair <=3 apart |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for objective_s, n_workers in itertools.product(args.objective_seconds, args.workers):
        r = run_workers(args.storage, n_workers, args.trials, args.n_startup_trials, objective_s)
        concurrent = "-" if math.isinf(r["concurrent"]) else f"{r['concurrent']:.4f}"
        print(
            f"| {objective_s:g} | {r['workers']} | {r['trials']} | {r['span']:.1f} "
            f"| {r['rate']:.2f} "
            f"| {r['agent_mean']:.3f} | {r['agent_median']:.3f} | {r['startup_mean']:.3f} "
            f"| {concurrent} | {r['window']:.4f} |",
            flush=True,
        )

    h = run_history(args.storage, args.history, args.batch, args.n_startup_trials)
    first, second = h["batches"]
    print(
        f"\nStudy with {args.history} stored trials, all but {args.n_startup_trials} carrying an "
        f"agent proposal (inserted in {h['insert_s']:.1f} s):\n"
    )
    print("| proposals | mean sampler s/trial | first | max | median |")
    print("|---|---:|---:|---:|---:|")
    for label, batch in (
        (f"next {len(first)}, fresh process", first),
        (f"next {len(second)}, same process", second),
    ):
        print(
            f"| {label} | {np.mean(batch):.3f} | {batch[0]:.3f} | {np.max(batch):.3f} "
            f"| {np.median(batch):.3f} |"
        )


if __name__ == "__main__":
    main()
