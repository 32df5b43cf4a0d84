"""Dead workers, resumed studies, foreign history and garbage in storage."""

from __future__ import annotations

from collections.abc import Iterator
import json
import logging
import os
from pathlib import Path
import signal
import time

from _services import PG_URL
from _services import distributed
from _services import needs_postgres
from _services import run_example
from _services import spawn_blocking_worker
from _services import temporary_study_url
from _services import unique_name
from _services import wait_for
import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from optuna_hypera._storage import read_proposal
from optuna_hypera.storages import make_storage


N_STARTUP = 5


def _sampler(seed: int) -> optuna.samplers.BaseSampler:
    return distributed.make_sampler(seed, N_STARTUP)


def _random_params(rng: np.random.Generator) -> dict[str, float | int | str]:
    return {
        "x": float(rng.uniform(-5.0, 5.0)),
        "lr": float(10.0 ** rng.uniform(-5.0, -1.0)),
        "layers": int(rng.integers(1, 9)),
        "activation": str(rng.choice(list(distributed.ACTIVATION_PENALTY))),
    }


def _add_evaluated(study: optuna.Study, params: dict[str, float | int | str]) -> int:
    study.add_trial(
        optuna.trial.create_trial(
            params=params,
            distributions=distributed.search_space(),
            value=distributed.quadratic(params),
        )
    )
    return study.trials[-1].number


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("optuna.hypera")
    ]


@pytest.mark.services
@needs_postgres
def test_killed_worker_trial_fails_and_is_retried(tmp_path: Path) -> None:
    name = unique_name()
    # The grace period must cover what runs after the heartbeat thread stops: Optuna's tell and
    # the sampler's after_trial (whose first dashboard refresh imports plotly, ~1 s, more on a
    # loaded machine). With 3 s a live worker's trial was failed under `pytest -n 2`.
    grace = 6
    storage_kwargs = {"heartbeat_interval": 1, "grace_period": grace, "max_retry": 3}
    with temporary_study_url(PG_URL, name):
        optuna.create_study(study_name=name, storage=make_storage(PG_URL, **storage_kwargs))
        sentinel = tmp_path / "mid-trial.json"
        # The victim finishes 6 trials (the agents propose from the 6th on) and parks in the 7th.
        victim = spawn_blocking_worker(PG_URL, name, block_at=6, sentinel=sentinel, seed=1)
        try:
            wait_for(sentinel, timeout=120, proc=victim)
            info = json.loads(sentinel.read_text())
            stale_number = info["number"]
            storage = make_storage(PG_URL, **storage_kwargs)
            study = optuna.load_study(study_name=name, storage=storage)
            assert study.trials[stale_number].state == TrialState.RUNNING
            stale_params = study.trials[stale_number].params
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait()
        time.sleep(grace + 1.5)  # past the grace period: the next ask fails the trial

        args = ["--storage", PG_URL, "--study-name", name, "--workers", "2", "--trials", "5"]
        result = run_example(
            [*args, "--seed", "11", "--n-startup-trials", str(N_STARTUP)]
            + ["--heartbeat-interval", "1", "--grace-period", str(grace), "--max-retry", "3"]
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr

        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == 6 + 2 * 5  # the study reached its count
        assert states.count(TrialState.FAIL) == 1 and len(trials) == 17  # nothing else lost
        assert trials[stale_number].state == TrialState.FAIL
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == stale_number]
        assert len(retries) == 1
        assert retries[0].state == TrialState.COMPLETE
        assert retries[0].params == stale_params
        # The dead trial was the agents' proposal; its record travels with the retry.
        assert "hypera" in trials[stale_number].user_attrs
        assert retries[0].user_attrs["hypera"] == trials[stale_number].user_attrs["hypera"]
        assert retries[0].system_attrs["retry_history"] == [stale_number]


def test_new_process_resumes_from_stored_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    study = optuna.create_study(study_name="resume", storage=make_storage(url))
    rng = np.random.default_rng(0)
    for _ in range(100):
        _add_evaluated(study, _random_params(rng))
    incumbent = study.best_trial

    args = ["--storage", url, "--study-name", "resume", "--workers", "1", "--trials", "10"]
    result = run_example([*args, "--seed", "5", "--n-startup-trials", str(N_STARTUP)])
    assert result.returncode == 0, result.stderr

    trials = study.get_trials(deepcopy=False)
    new = [t for t in trials if t.number >= 100]
    assert len(new) == 10 and all(t.state == TrialState.COMPLETE for t in new)
    # No startup phase after 100 finished trials: the agents propose from the stored history.
    assert all("hypera" in t.user_attrs for t in new)
    assert any(t.user_attrs["hypera"]["base_trial"] < 100 for t in new)

    points = distributed.normalized_points([incumbent, *new])
    near = np.median(np.linalg.norm(points[1:] - points[0], axis=1))
    randoms = [
        optuna.trial.create_trial(
            params=_random_params(rng), distributions=distributed.search_space(), value=0.0
        )
        for _ in range(500)
    ]
    random_points = distributed.normalized_points(randoms)
    far = np.median(np.linalg.norm(random_points - points[0], axis=1))
    assert near < far, (near, far)


def test_tpe_history_with_enqueued_and_added_trials_feeds_the_agents(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=4)
    study = optuna.create_study(study_name="mixed", storage=make_storage(url), sampler=sampler)
    enqueued = {"x": -4.0, "lr": 0.05, "layers": 1, "activation": "gelu"}
    study.enqueue_trial(enqueued)
    study.optimize(distributed.objective, n_trials=10)
    best = _add_evaluated(study, {"x": 1.5, "lr": 1e-3, "layers": 5, "activation": "relu"})
    assert study.trials[0].params == enqueued

    resumed = optuna.load_study(study_name="mixed", storage=make_storage(url), sampler=_sampler(0))
    resumed.optimize(distributed.objective, n_trials=10)

    new = [t for t in resumed.get_trials(deepcopy=False) if t.number > best]
    assert len(new) == 10 and all(t.state == TrialState.COMPLETE for t in new)
    assert all("hypera" in t.user_attrs for t in new)
    bases = [t.user_attrs["hypera"]["base_trial"] for t in new]
    assert best in bases, bases  # the hand-added optimum is used as a starting point
    complete = {t.number for t in resumed.trials if t.state == TrialState.COMPLETE}
    assert set(bases) <= complete


@pytest.fixture
def propagate_optuna_logs() -> Iterator[None]:
    """Optuna's loggers do not propagate to the root logger that caplog listens on."""
    optuna.logging.enable_propagation()
    try:
        yield
    finally:
        optuna.logging.disable_propagation()


@pytest.mark.usefixtures("propagate_optuna_logs")
def test_garbage_hypera_attributes_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = optuna.create_study(sampler=_sampler(0))
    rng = np.random.default_rng(1)
    for _ in range(8):
        _add_evaluated(study, _random_params(rng))
    garbage = [
        ({"hypera:proposal:n": 2, "hypera:proposal:0": "{not json"}, {"hypera": "{not json"}),
        ({"hypera:proposal:n": "three"}, {"hypera": {"base_trial": "x", "agents": 3}}),
        ({"hypera:proposal:n": 1, "hypera:proposal:0": '{"v": 99}'}, {"hypera": [1, 2]}),
        ({"hypera:proposal:n": 1, "hypera:proposal:0": "[]"}, {}),
    ]
    for i, (system_attrs, user_attrs) in enumerate(garbage):
        params = {"x": 1.5 + 0.01 * i, "lr": 1e-3, "layers": 5, "activation": "relu"}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=distributed.search_space(),
                value=distributed.quadratic(params),
                system_attrs=system_attrs,
                user_attrs=user_attrs,
            )
        )
    caplog.set_level(logging.WARNING, logger="optuna.hypera")
    for trial in study.trials[8:]:
        assert read_proposal(trial) is None
    assert len(_warnings(caplog)) == len(garbage)

    caplog.clear()
    study.optimize(distributed.objective, n_trials=5)
    assert any("Skipping" in r.getMessage() for r in _warnings(caplog)), "skipped silently"
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 17 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(read_proposal(t) is not None for t in trials[12:])
