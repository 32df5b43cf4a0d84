"""Several worker processes on one shared study, through every storage the example supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _services import PG_URL
from _services import REDIS_URL
from _services import distributed
from _services import needs_postgres
from _services import needs_redis
from _services import run_example
from _services import temporary_study_url
from _services import unique_name
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_hypera._storage import read_proposal
from optuna_hypera.storages import make_storage


AGENTS = {"architecture", "optimization", "regularization", "data", "loss"}
N_STARTUP = 5


def _hypera_attr(trial: FrozenTrial) -> dict[str, Any]:
    record = trial.user_attrs["hypera"]
    assert isinstance(record, dict)
    return record


def _identical_pairs(trials: list[FrozenTrial]) -> list[str]:
    """Every later trial whose parameters repeat an earlier one's, described so that a rare
    failure explains itself in CI's log: numbers, start times, and which of them the agents
    proposed (from which base), which not, and which were enqueued (a retry)."""
    first: dict[tuple[Any, ...], FrozenTrial] = {}
    found = []
    for trial in trials:
        key = tuple(sorted(trial.params.items()))
        if key not in first:
            first[key] = trial
            continue
        found.append("; ".join(
            f"trial {t.number} started {t.datetime_start} by "
            + (f"the agents from base {_hypera_attr(t)['base_trial']}"
               if "hypera" in t.user_attrs else "the startup design or a fallback")
            + (" (enqueued)" if "fixed_params" in t.system_attrs else "")
            for t in (first[key], trial)) + f": {trial.params}")
    return found


def _check_shared_study(storage_url: str, study_name: str, n_expected: int) -> list[FrozenTrial]:
    study = optuna.load_study(
        study_name=study_name, storage=make_storage(storage_url, heartbeat_interval=None)
    )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == n_expected
    assert all(t.state == TrialState.COMPLETE for t in trials)
    numbers = {t.number for t in trials}
    groups = study.user_attrs["hypera_groups"]
    owners = {name for name, params in groups.items() if params}

    proposed = [t for t in trials if "hypera" in t.user_attrs]
    # Only the startup trials (a few more when workers start together) are not the agents'.
    assert len(proposed) >= n_expected - 4 * N_STARTUP
    for trial in proposed:
        proposal = read_proposal(trial)
        assert proposal is not None, trial.number
        record = _hypera_attr(trial)
        # Every agent reports its move (possibly empty; value None if it owns no parameter).
        assert set(record["agents"]) == AGENTS
        assert all(record["agents"][a]["value"] is not None for a in owners)
        assert record["base_trial"] in numbers and record["base_trial"] != trial.number
        for agent in record["agents"].values():
            for name, move in agent["params"].items():
                # What the agents say they proposed is what the trial ran.
                assert move["to"] == trial.params[name], (trial.number, name, move)

    repeated = _identical_pairs(trials)
    assert not repeated, repeated
    # Proposals made at the same time by different workers never coincide.
    assert 0.0 < distributed.nearest_pair(trials, concurrent_only=True) < float("inf")
    return trials


@pytest.mark.services
@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=needs_postgres),
        pytest.param("redis", marks=needs_redis),
    ],
)
def test_four_workers_fifty_trials_each(backend: str) -> None:
    name = unique_name()
    url = PG_URL if backend == "postgresql" else f"{REDIS_URL}?prefix={name}"
    with temporary_study_url(url, name):
        args = ["--storage", url, "--study-name", name, "--workers", "4", "--trials", "50"]
        result = run_example([*args, "--seed", "7", "--n-startup-trials", str(N_STARTUP)])
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert "COMPLETE=200" in result.stdout
        _check_shared_study(url, name, 200)


def test_two_workers_on_a_journal_file(tmp_path: Path) -> None:
    path = str(tmp_path / "study.log")
    # Trials that take a moment, so the two workers overlap however far apart they start.
    args = ["--storage", path, "--study-name", "journal", "--workers", "2", "--trials", "8",
            "--sleep", "0.25"]
    result = run_example([*args, "--seed", "3", "--n-startup-trials", str(N_STARTUP)])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    _check_shared_study(path, "journal", 16)

