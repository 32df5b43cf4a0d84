"""Run HyperaSampler in several worker processes that share one study.

Every worker builds its own sampler and calls ``study.optimize`` on the same study; the agents'
experience is whatever the storage holds, so workers on other machines can join by running this
script with the same ``--storage`` URL and ``--study-name``::

    python examples/distributed.py --storage postgresql://postgres@127.0.0.1:5432/test \\
        --workers 4 --trials 50 --study-name demo

``--storage`` accepts ``postgresql://`` / ``mysql://`` / ``sqlite:///`` (RDBStorage with
heartbeat and retry of dead workers' trials), ``redis://host:port[?prefix=name]`` (Redis journal)
and a ``*.log`` path (journal file, e.g. on a shared filesystem), through
:func:`optuna_hypera.storages.make_storage`. ``--trials`` is per worker.

The tests and ``benchmarks/scale.py`` import this module as ``examples.distributed`` for its
workload (search space, objective, worker) and its distance measures.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import functools
import itertools
import math
import multiprocessing
import sys
import time

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_hypera.storages import make_storage


ACTIVATION_PENALTY = {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}


def search_space() -> dict[str, BaseDistribution]:
    """Float, log-float, int and categorical parameters (what :func:`suggest` asks for)."""
    return {
        "x": FloatDistribution(-5.0, 5.0),
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "layers": IntDistribution(1, 8),
        "activation": CategoricalDistribution(list(ACTIVATION_PENALTY)),
    }


def suggest(trial: optuna.Trial) -> dict[str, float | int | str]:
    """Suggest every parameter of :func:`search_space`."""
    return {
        "x": trial.suggest_float("x", -5.0, 5.0),
        "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
        "layers": trial.suggest_int("layers", 1, 8),
        "activation": trial.suggest_categorical("activation", list(ACTIVATION_PENALTY)),
    }


def quadratic(params: dict[str, float | int | str]) -> float:
    """A cheap separable bowl; the optimum 0.0 is at x=1.5, lr=1e-3, layers=5, relu."""
    x = float(params["x"])
    lr = float(params["lr"])
    layers = int(params["layers"])
    return (
        (x - 1.5) ** 2
        + (math.log10(lr) + 3.0) ** 2
        + 0.25 * (layers - 5) ** 2
        + ACTIVATION_PENALTY[str(params["activation"])]
    )


def objective(trial: optuna.Trial) -> float:
    return quadratic(suggest(trial))


def slow_objective(trial: optuna.Trial, sleep: float) -> float:
    """``objective`` after ``sleep`` seconds, standing in for training: workers overlap."""
    time.sleep(sleep)
    return objective(trial)


def make_sampler(seed: int | None, n_startup_trials: int | None = None) -> BaseSampler:
    """One sampler per worker; distinct seeds keep the workers' random draws apart
    (``n_startup_trials=None``: the sampler's default)."""
    from optuna_hypera import HyperaSampler

    return HyperaSampler(seed=seed, n_startup_trials=n_startup_trials)


def run_worker(
    storage_url: str,
    study_name: str,
    n_trials: int,
    *,
    seed: int | None = None,
    n_startup_trials: int | None = None,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = 120,
    max_retry: int | None = 3,
    objective: Callable[[optuna.Trial], float] = objective,
    sleep: float = 0.0,
    sampler: BaseSampler | None = None,
    verbose: bool = False,
) -> None:
    """Join ``study_name`` (creating it if needed) and run ``n_trials`` trials in this process."""
    if not verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(
        storage_url,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
    )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler if sampler is not None else make_sampler(seed, n_startup_trials),
        direction="minimize",
        load_if_exists=True,
    )
    if sleep:
        objective = functools.partial(slow_objective, sleep=sleep)
    study.optimize(objective, n_trials=n_trials)


def _unit(value: object, dist: BaseDistribution) -> list[float]:
    """Map one parameter value to [0, 1] coordinates (one-hot for categoricals)."""
    if isinstance(dist, CategoricalDistribution):
        return [1.0 if value == choice else 0.0 for choice in dist.choices]
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    low, high, v = float(dist.low), float(dist.high), float(value)  # type: ignore[arg-type]
    if dist.log:
        low, high, v = math.log(low), math.log(high), math.log(v)
    return [0.0 if high == low else (v - low) / (high - low)]


def normalized_points(trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Rows in [0, 1]^d for trials that share one search space.

    One-hot categoricals are scaled by 1/sqrt(2) so that two different choices are 1 apart, and
    the whole vector by 1/sqrt(n_params), so every distance lies in [0, 1].
    """
    if not trials:
        return np.zeros((0, 0))
    dists = trials[0].distributions
    rows = []
    for trial in trials:
        row: list[float] = []
        for name in sorted(dists):
            coords = _unit(trial.params[name], dists[name])
            scale = 1.0 / math.sqrt(2.0) if len(coords) > 1 else 1.0
            row.extend(c * scale for c in coords)
        rows.append(row)
    return np.asarray(rows) / math.sqrt(len(dists))


def nearest_pair(trials: Sequence[FrozenTrial], *, concurrent_only: bool) -> float:
    """Smallest normalized distance between two trials (``inf`` when there is no pair).

    With ``concurrent_only`` only pairs whose run times overlapped count: those are the proposals
    that could not see each other.
    """
    points = normalized_points(trials)
    best = math.inf
    for i, j in itertools.combinations(range(len(trials)), 2):
        if concurrent_only and not _overlap(trials[i], trials[j]):
            continue
        best = min(best, float(np.linalg.norm(points[i] - points[j])))
    return best


def _overlap(a: FrozenTrial, b: FrozenTrial) -> bool:
    if None in (a.datetime_start, a.datetime_complete, b.datetime_start, b.datetime_complete):
        return False
    return a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete  # type: ignore[operator]


def summarize(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: sum(t.state == state for t in trials) for state in TrialState}
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    lines = ["states: " + ", ".join(f"{k}={v}" for k, v in counts.items() if v)]
    if done:
        lines.append(f"best value: {study.best_value:.6g} params: {study.best_params}")
        lines.append(
            f"nearest pair (normalized): {nearest_pair(done, concurrent_only=False):.4g}, "
            f"among concurrent trials: {nearest_pair(done, concurrent_only=True):.4g}"
        )
    return "\n".join(lines)


def publish_final_dashboard(study: optuna.Study) -> None:
    """Workers refresh the dashboard note on their own schedules; write the final state once."""
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        return
    from optuna_hypera._dashboard import publish_dashboard

    publish_dashboard(study)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="storage URL or *.log path")
    parser.add_argument("--study-name", default="hypera-distributed")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=50, help="trials per worker")
    parser.add_argument("--seed", type=int, default=None, help="worker i uses seed + i")
    parser.add_argument("--n-startup-trials", type=int, default=None,
                        help="default: HyperaSampler's own (7)")
    parser.add_argument("--heartbeat-interval", type=int, default=60, help="RDB only; 0 = off")
    parser.add_argument("--grace-period", type=int, default=120)
    parser.add_argument("--max-retry", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0,
                        help="seconds each trial sleeps, standing in for training")
    parser.add_argument("--verbose", action="store_true", help="log every finished trial")
    args = parser.parse_args(argv)

    heartbeat = args.heartbeat_interval or None
    storage_kwargs = {
        "heartbeat_interval": heartbeat,
        "grace_period": args.grace_period,
        "max_retry": args.max_retry,
    }
    # Create the study once up front so that workers only ever load it.
    optuna.create_study(
        storage=make_storage(args.storage, **storage_kwargs),
        study_name=args.study_name,
        direction="minimize",
        load_if_exists=True,
    )
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(
            target=run_worker,
            args=(args.storage, args.study_name, args.trials),
            kwargs={
                "seed": None if args.seed is None else args.seed + i,
                "n_startup_trials": args.n_startup_trials,
                "verbose": args.verbose,
                "sleep": args.sleep,
                **storage_kwargs,
            },
        )
        for i in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    failed = [i for i, w in enumerate(workers) if w.exitcode != 0]
    for i in failed:
        print(f"worker {i} exited with code {workers[i].exitcode}", file=sys.stderr)

    study = optuna.load_study(
        study_name=args.study_name, storage=make_storage(args.storage, **storage_kwargs)
    )
    publish_final_dashboard(study)
    print(summarize(study))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
