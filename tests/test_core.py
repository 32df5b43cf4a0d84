"""The array-level core without Optuna: same decisions as the sampler, whole simulated studies,
the incremental trial table."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.search_space import intersection_search_space
from optuna.trial import TrialState
import pytest

from benchmarks.strategy_selection import mixed as six_param
from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import HyperaSampler
from optuna_hypera import SACConfig
from optuna_hypera import report_stats
from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._encoding import trial_row as _row
from optuna_hypera._history import History
from optuna_hypera._sampler import SCORERS
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate
from optuna_hypera._storage import read_proposal
from optuna_hypera._table import TrialTable
from optuna_hypera._table import build_history
from optuna_hypera._threads import torch_threads


optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(("strategy", "scorer"), [
    ("independent", "staged"), ("sequential", "staged"), ("cooperative", "staged"),
    ("cooperative", "critics"), ("cooperative", "auto")])
def test_core_alone_makes_the_samplers_proposals(strategy: str, scorer: str) -> None:
    seed, n_startup = 3, 5
    study = optuna.create_study(sampler=HyperaSampler(seed=seed, strategy=strategy,
                                                      n_startup_trials=n_startup, weights=None,
                                                      scorer=scorer))
    study.optimize(six_param, n_trials=24)
    trials = study.trials
    enc = SpaceEncoder(intersection_search_space(trials[:n_startup]))
    # The sampler seeds its core with the first draw of its own RandomState(seed).
    chooser, stage = SCORERS[scorer]
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy=strategy,
                      conflict="thompson", chooser=chooser,
                      seed=int(np.random.RandomState(seed).randint(2**31 - 1)))
    if stage is not None:
        core.coordinator.stage_trials = stage
    for k in range(n_startup, len(trials)):
        history = build_history(trials[:k], True, lambda t: _row(enc, t), len(enc))
        proposals = {t.number: p for t in trials[:k] if (p := read_proposal(t)) is not None}
        # One BLAS thread, as the sampler runs: the stretched box follows the fitted
        # lengthscales to their last bits, which a multi-threaded BLAS changes.
        with torch_threads(1):
            decision = core.ask(StudyInput(enc.space, history, proposals)).decisions[0]
        assert decision is not None
        assert enc.decode(decision.x) == trials[k].params, k


def test_core_drives_whole_studies_on_arrays_and_trains_on_them() -> None:
    rng = np.random.RandomState(0)
    tasks = [SyntheticTask.sample(f, 4, rng, discrete_share=0.25) for f in FAMILIES * 2]
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(batch_size=64), strategy="independent",
                      conflict="value", seed=0)
    sim = simulate(core, tasks, 40, n_startup=8, seed=1)
    best = sim.best_so_far()
    assert best.shape == (6, 40)
    # The agents' trials improve on the Sobol start in most studies.
    assert (best[:, -1] < best[:, 7]).sum() >= 4
    # Learning ran on the pooled experience of the six studies, with finite losses.
    assert sim.losses and all(np.isfinite(v[~np.isnan(v)]).all()
                              for loss in sim.losses for v in loss.values())
    # Every agent trial but the last (its result arrives after the final decision) is replayed.
    assert len(core.learner.replays[0]) == 6 * (40 - 8 - 1)
    for x, task in zip(sim.x, tasks, strict=True):  # every point is a valid value
        np.testing.assert_allclose(task.space.snap(x), x)


def test_simulation_is_reproducible_for_a_seed() -> None:
    def run(seed: int) -> np.ndarray:
        rng = np.random.RandomState(0)
        tasks = [SyntheticTask.sample("gp", 3, rng) for _ in range(2)]
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(batch_size=32),
                          strategy="independent", conflict="value", seed=seed)
        return np.stack(simulate(core, tasks, 20, n_startup=5, seed=seed).x)

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


def test_incremental_trial_table_matches_a_from_scratch_build() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = six_param(trial)
        trial.report(value * 2, 0)
        trial.report(value, 1)
        report_stats(trial, grad_norm=1.0 + trial.number, val_loss=value)
        if trial.number % 7 == 3:
            raise optuna.TrialPruned()
        if trial.number % 11 == 5:
            raise ValueError("a failing trial")
        return value

    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=30, catch=(ValueError,))
    trials = study.trials
    enc = SpaceEncoder(intersection_search_space(trials[:1]))
    table = TrialTable(minimize=False)
    table.set_rows(lambda t: _row(enc, t), len(enc))
    for k in (3, 10, 10, 22, 30):  # in steps, as a sampler sees the study grow
        table.update(trials[:k])
    scratch = build_history(trials, False, lambda t: _row(enc, t), len(enc))
    incremental = table.view()
    for field in ("numbers", "x", "loss", "pruned", "step", "trend", "duration", "stats",
                  "has_stats", "quantiles"):
        np.testing.assert_array_equal(getattr(incremental, field), getattr(scratch, field),
                                      err_msg=field)
    assert {TrialState.PRUNED, TrialState.FAIL} <= {t.state for t in trials}


def test_history_index_of_finds_rows_and_flags_unknown_numbers() -> None:
    h = History.from_values(np.zeros((3, 1)), np.zeros(3), numbers=np.array([2, 5, 9]))
    np.testing.assert_array_equal(h.index_of(np.array([9, 2, 3, 10])), [2, 0, -1, -1])
