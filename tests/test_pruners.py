"""Every Optuna pruner with HyperaSampler, end to end: the pruners prune, the agents propose
from completed trials only, stay inside the search space and beat the startup trials; with
HyperbandPruner also on several threads, processes (journal file) and PostgreSQL workers."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
import json
import logging
import math
import multiprocessing
from pathlib import Path
import statistics
from typing import Any

from _services import PG_URL
from _services import needs_postgres
from _services import temporary_study_url
from _services import unique_name
import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_hypera import HyperaSampler
from optuna_hypera._explain import USER_ATTR
from optuna_hypera._storage import read_proposal
from optuna_hypera.storages import make_storage


optuna.logging.set_verbosity(optuna.logging.WARNING)
# WilcoxonPruner and PatientPruner are experimental in Optuna 5.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

N_STARTUP = 5
N_TRIALS = 35
N_STEPS = 10
BOTTOM = 5
"""The step at which a learning curve reaches the final loss (it overfits afterwards)."""
ACTIVATION = {"relu": 0.0, "tanh": 0.6, "gelu": 1.2}
INSTANCE_OFFSETS = np.linspace(0.0, 2.0, N_STEPS)
"""Per-instance difficulty of the Wilcoxon objective's problem instances."""
DIVERGENCE = 20.0
"""What a diverging training run adds to the curve objective's loss, at every step."""
FALLBACK = "is outside the relative search space"
"""What HyperaSampler logs when a parameter falls back to the independent sampler."""
SPACE: dict[str, BaseDistribution] = {
    "x": FloatDistribution(-4.0, 4.0),
    "y": FloatDistribution(-4.0, 4.0),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "layers": IntDistribution(1, 8),
    "activation": CategoricalDistribution(list(ACTIVATION)),
}


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "x": trial.suggest_float("x", -4.0, 4.0),
        "y": trial.suggest_float("y", -4.0, 4.0),
        "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
        "layers": trial.suggest_int("layers", 1, 8),
        "activation": trial.suggest_categorical("activation", list(ACTIVATION)),
    }


def final_loss(params: dict[str, Any]) -> float:
    """A separable bowl, 0.0 at x=1, y=-0.5, lr=1e-3, layers=4, relu."""
    return ((params["x"] - 1.0) ** 2 + (params["y"] + 0.5) ** 2
            + (math.log10(params["lr"]) + 3.0) ** 2 + 0.2 * (params["layers"] - 4) ** 2
            + ACTIVATION[params["activation"]])


def diverges(number: int) -> bool:
    """Every fourth training run diverges, whatever its parameters: without such runs the
    agents' proposals soon all beat the median and a median pruner has nothing to prune."""
    return number % 4 == 3


def learning_curve(loss: float, step: int) -> float:
    """Falls to ``loss`` at step ``BOTTOM``, then slowly overfits; every step ranks trials as
    their losses do."""
    if step <= BOTTOM:
        return loss + 0.1 * (BOTTOM - step) ** 2
    return loss + 0.02 * (step - BOTTOM)


def curve_objective(trial: optuna.Trial) -> float:
    loss = final_loss(suggest(trial)) + (DIVERGENCE if diverges(trial.number) else 0.0)
    for step in range(N_STEPS):
        trial.report(learning_curve(loss, step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return loss  # the best epoch's checkpoint


def instance_objective(trial: optuna.Trial) -> float:
    """Mean over problem instances, evaluated in a shuffled order (``WilcoxonPruner``)."""
    loss = final_loss(suggest(trial))
    results = []
    for instance in np.random.RandomState(trial.number).permutation(N_STEPS):
        value = loss + float(INSTANCE_OFFSETS[instance])
        results.append(value)
        trial.report(value, int(instance))
        if trial.should_prune():
            raise optuna.TrialPruned()
    return sum(results) / len(results)


class _Messages(logging.Handler):
    """Collects what the ``optuna.hypera`` logger says, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class Run:
    study: optuna.Study
    warnings: list[str]


def optimize(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int,
             n_jobs: int = 1) -> list[str]:
    """Run ``study``; the warnings HyperaSampler logged meanwhile."""
    handler = _Messages()
    logger = logging.getLogger("optuna.hypera")
    logger.addHandler(handler)
    try:
        study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs)
    finally:
        logger.removeHandler(handler)
    return handler.messages


def run_study(pruner: BasePruner, objective: Callable[[optuna.Trial], float], seed: int,
              n_jobs: int = 1) -> Run:
    # A fixed name: Hyperband assigns brackets by a hash of the study name and trial number.
    study = optuna.create_study(
        sampler=HyperaSampler(seed=seed, n_startup_trials=N_STARTUP), pruner=pruner,
        study_name=f"pruners-{type(pruner).__name__}-{seed}")
    return Run(study, optimize(study, objective, N_TRIALS, n_jobs))


def hyperband() -> optuna.pruners.HyperbandPruner:
    # Three brackets (floor(log_3 10) + 1); bracket b checks its rungs at steps 3**b, 3**(b+1)...
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=N_STEPS,
                                          reduction_factor=3)


def rung_steps(first: int) -> set[int]:
    """Steps at which a successive-halving rung starting at ``first`` (reduction 3) prunes."""
    return {first * 3**k for k in range(4) if first * 3**k < N_STEPS}


def bracket_of(study: optuna.Study, trial: FrozenTrial) -> int:
    pruner = study.pruner
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    if not pruner._pruners:  # a pruner that has not pruned yet puts every trial in bracket 0
        pruner._try_initialization(study)
    return pruner._get_bracket_id(study, trial)


def check_finished(trials: list[FrozenTrial], n_workers: int) -> None:
    """No failure, both outcomes, pruned trials stopped early, no duplicate configuration."""
    states = [t.state for t in trials]
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}, states
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states, states
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert len(t.intermediate_values) == N_STEPS, t.number
        else:
            assert 1 <= len(t.intermediate_values) <= N_STEPS, t.number
    assert any(len(t.intermediate_values) < N_STEPS for t in trials), "no trial stopped early"
    keys = {tuple(sorted(t.params.items())) for t in trials}
    assert len(keys) == len(trials), "two trials have identical parameters"
    for t in trials:
        assert t.distributions == SPACE, t.number
        for name, value in t.params.items():
            dist = SPACE[name]
            assert dist._contains(dist.to_internal_repr(value)), (t.number, name, value)
    check_proposals(trials, n_workers)


def check_proposals(trials: list[FrozenTrial], n_workers: int) -> list[tuple[FrozenTrial,
                                                                             FrozenTrial]]:
    """Every trial but the startup ones was proposed from a completed base; the pairs
    ``(trial, base)``."""
    by_number = {t.number: t for t in trials}
    # A trial asks with fewer than N_STARTUP finished trials only while the other workers run
    # theirs: its number is below N_STARTUP + n_workers - 1.
    startup = N_STARTUP + n_workers - 1
    proposed = [t for t in trials if USER_ATTR in t.user_attrs]
    assert {t.number for t in trials if t.number >= startup} <= {t.number for t in proposed}
    assert all(read_proposal(t) is None for t in trials if t not in proposed)
    assert all(t.number >= N_STARTUP for t in proposed)
    pairs = []
    for t in proposed:
        proposal = read_proposal(t)
        assert proposal is not None, t.number
        record = t.user_attrs[USER_ATTR]
        assert record["base_trial"] == proposal.base != t.number
        base = by_number[proposal.base]
        assert base.state == TrialState.COMPLETE, (t.number, base.number, base.state)
        for agent in record["agents"].values():
            for name, move in agent["params"].items():
                assert (move["from"], move["to"]) == (base.params[name], t.params[name])
        pairs.append((t, base))
    return pairs


def check_learning(trials: list[FrozenTrial]) -> None:
    """The best completed trial beats the median startup configuration (pruned or not)."""
    startup = statistics.median(final_loss(t.params) for t in trials[:N_STARTUP])
    best = min(final_loss(t.params) for t in trials if t.state == TrialState.COMPLETE)
    assert best < startup, (best, startup)


@dataclass(frozen=True)
class Case:
    make: Callable[[], BasePruner]
    objective: Callable[[optuna.Trial], float]
    pruned_at: Callable[[optuna.Study, FrozenTrial], bool]
    """Whether a pruned trial stopped where this pruner may stop it."""
    prunes_diverged: bool = False
    """Every diverging run after the startup trials is pruned."""


PATIENCE = 2
THRESHOLD = 15.0
THRESHOLD_WARMUP = 3


def _pruned_after_warmup(warmup: int) -> Callable[[optuna.Study, FrozenTrial], bool]:
    return lambda study, t: t.last_step is not None and t.last_step >= warmup


def _over_threshold(study: optuna.Study, t: FrozenTrial) -> bool:
    assert t.last_step is not None
    return t.last_step >= THRESHOLD_WARMUP and t.intermediate_values[t.last_step] > THRESHOLD


def _worse_than_earlier_best(study: optuna.Study, t: FrozenTrial) -> bool:
    # Every instance differs from the best trial's by the same sign, that of the loss gap.
    done = [final_loss(s.params) for s in study.trials
            if s.state == TrialState.COMPLETE and s.number < t.number]
    return bool(done) and final_loss(t.params) > min(done)


def _at_own_rung(study: optuna.Study, t: FrozenTrial) -> bool:
    return t.last_step in rung_steps(3 ** bracket_of(study, t))


CASES = {
    "median": Case(lambda: optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP,
                                                       n_warmup_steps=2),
                   curve_objective, _pruned_after_warmup(2), prunes_diverged=True),
    "percentile": Case(lambda: optuna.pruners.PercentilePruner(
        25.0, n_startup_trials=N_STARTUP, n_warmup_steps=2),
        curve_objective, _pruned_after_warmup(2), prunes_diverged=True),
    "successive-halving": Case(
        lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        curve_objective, lambda study, t: t.last_step in rung_steps(1)),
    "hyperband": Case(hyperband, curve_objective, _at_own_rung),
    "wilcoxon": Case(lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2),
                     instance_objective, _worse_than_earlier_best),
    # The curve stops improving PATIENCE + 1 steps past its bottom: no earlier pruning.
    "patient-median": Case(lambda: optuna.pruners.PatientPruner(
        optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP, n_warmup_steps=2),
        patience=PATIENCE), curve_objective, _pruned_after_warmup(BOTTOM + PATIENCE + 1),
        prunes_diverged=True),
    "threshold": Case(lambda: optuna.pruners.ThresholdPruner(
        upper=THRESHOLD, n_warmup_steps=THRESHOLD_WARMUP), curve_objective, _over_threshold,
        prunes_diverged=True),
}


@pytest.fixture(scope="module")
def hyperband_run() -> Run:
    return run_study(hyperband(), curve_objective, seed=0)


@pytest.mark.parametrize("name", list(CASES))
def test_every_pruner_prunes_and_the_agents_learn(name: str, hyperband_run: Run) -> None:
    case = CASES[name]
    run = hyperband_run if name == "hyperband" else run_study(case.make(), case.objective, 0)
    trials = run.study.trials
    assert len(trials) == N_TRIALS
    check_finished(trials, n_workers=1)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    stray = [t.number for t in pruned if not case.pruned_at(run.study, t)]
    assert not stray, stray
    if case.prunes_diverged:
        kept = [t.number for t in trials if t.number >= N_STARTUP and diverges(t.number)
                and t.state != TrialState.PRUNED]
        assert not kept, kept
    assert not [m for m in run.warnings if FALLBACK in m], run.warnings
    check_learning(trials)


def test_threshold_pruner_keeps_exactly_the_trials_under_the_threshold() -> None:
    case = CASES["threshold"]
    trials = run_study(case.make(), case.objective, seed=1).study.trials
    for t in trials:
        late = [v for s, v in t.intermediate_values.items() if s >= THRESHOLD_WARMUP]
        assert (t.state == TrialState.COMPLETE) == (max(late) <= THRESHOLD), t.number


def test_hyperband_brackets_start_pruning_at_their_own_rungs(hyperband_run: Run) -> None:
    # Holds the bracket ids computed here to the ones the pruner used: bracket b's first rung
    # is at step 3**b.
    study = hyperband_run.study
    assert {bracket_of(study, t) for t in study.trials} == {0, 1, 2}
    first: dict[int, int] = {}
    for t in study.trials:
        if t.state == TrialState.PRUNED and t.last_step is not None:
            b = bracket_of(study, t)
            first[b] = min(first.get(b, N_STEPS), t.last_step)
    assert len(first) >= 2 and first == {b: 3**b for b in first}, first


@pytest.mark.xfail(strict=True, reason=(
    "HyperaSampler reads study._get_trials(), which Optuna 5's _BracketStudy does not filter "
    "(it overrides get_trials only), so bases come from every Hyperband bracket"))
def test_hyperband_bases_come_from_the_trials_own_bracket(hyperband_run: Run) -> None:
    study = hyperband_run.study
    pairs = check_proposals(study.trials, n_workers=1)
    assert pairs
    crossed = [(t.number, b.number) for t, b in pairs
               if bracket_of(study, t) != bracket_of(study, b)]
    assert not crossed, crossed


def test_hyperband_study_gets_its_dashboard_note(hyperband_run: Run) -> None:
    dashboard = pytest.importorskip("optuna_dashboard")
    failed = [m for m in hyperband_run.warnings if "could not refresh the dashboard" in m]
    assert not failed, failed
    # Without a pruner the first refresh writes the note at trial 10.
    assert dashboard.get_note(hyperband_run.study).startswith("## HYPERA agent credit")


def test_no_conditional_space_warning_while_every_finished_trial_is_pruned() -> None:
    def objective(trial: optuna.Trial) -> float:
        loss = final_loss(suggest(trial))
        trial.report(loss, 0)
        if trial.number < N_STARTUP + 2:
            raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=N_STARTUP))
    logged = optimize(study, objective, N_STARTUP + 4)
    # Trial 7 is the first to complete; trial 8 is the agents' again.
    assert USER_ATTR in study.trials[-1].user_attrs
    assert not [m for m in logged if FALLBACK in m], logged


def test_three_threads_share_a_hyperband_study() -> None:
    run = run_study(hyperband(), curve_objective, seed=2, n_jobs=3)
    trials = run.study.trials
    assert len(trials) == N_TRIALS
    check_finished(trials, n_workers=3)
    assert not [m for m in run.warnings if FALLBACK in m], run.warnings
    assert all(_at_own_rung(run.study, t) for t in trials if t.state == TrialState.PRUNED)


def _storage(url: str) -> optuna.storages.BaseStorage:
    if url.endswith(".log"):
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    return make_storage(url, heartbeat_interval=None)


def _hyperband_worker(url: str, study_name: str, seed: int, n_trials: int, report: str) -> None:
    """One process: its own sampler and pruner; writes what HyperaSampler logged to ``report``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=_storage(url), pruner=hyperband(),
                              sampler=HyperaSampler(seed=seed, n_startup_trials=N_STARTUP))
    Path(report).write_text(json.dumps(optimize(study, curve_objective, n_trials)))


@pytest.fixture(params=["journal", pytest.param("postgresql", marks=[needs_postgres,
                                                                       pytest.mark.services])])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    name = unique_name("hypera-pruners")
    if request.param == "journal":
        yield str(tmp_path / "study.log"), name
    else:
        with temporary_study_url(PG_URL, name) as url:
            yield url, name


def test_two_processes_share_a_hyperband_study(storage_url: tuple[str, str],
                                               tmp_path: Path) -> None:
    url, name = storage_url
    optuna.create_study(storage=_storage(url), study_name=name)
    ctx = multiprocessing.get_context("spawn")
    reports = [tmp_path / f"worker{i}.json" for i in range(2)]
    workers = [ctx.Process(target=_hyperband_worker, args=(url, name, 10 + i, 20, str(r)))
               for i, r in enumerate(reports)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join(timeout=120)
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    study = optuna.load_study(study_name=name, storage=_storage(url), pruner=hyperband())
    trials = study.trials
    assert len(trials) == 40
    check_finished(trials, n_workers=2)
    for r in reports:
        logged = json.loads(r.read_text())
        assert not [m for m in logged if FALLBACK in m], logged
    assert all(_at_own_rung(study, t) for t in trials if t.state == TrialState.PRUNED)


def _in_last_bracket(study: optuna.Study) -> bool:
    """``StudyInput.last_bracket`` as the sampler builds it for ``study``."""
    from optuna_hypera._core import StudyInput
    from optuna_hypera._history import History
    from optuna_hypera._sampler import _first_rung
    from optuna_hypera._space import Space

    one = History.from_values(np.zeros((1, 1)), np.zeros(1))
    return StudyInput(space=Space.continuous(1), history=one,
                      first_rung=_first_rung(study)).last_bracket


def test_the_sampler_knows_when_a_trial_is_in_hyperbands_last_bracket(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna hands the sampler the trial's bracket study (private ``_bracket_id``); the flag
    is set exactly for the trials the pruner puts in its last bracket, whose first rung is
    the largest, and reaches the coordinator's contexts; ``_first_rung`` is each bracket's
    first rung as a share of a training."""
    from optuna_hypera import _coordinator
    from optuna_hypera._sampler import _first_rung

    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=27,
                                            reduction_factor=3)
    study = optuna.create_study(pruner=pruner, study_name="last-bracket")
    pruner._try_initialization(study)
    assert pruner._n_brackets == 4
    flags = {}
    for number in range(120):
        trial = optuna.trial.create_trial(state=TrialState.RUNNING)
        trial.number = number
        bracket_study = optuna.pruners._filter_study(study, trial)
        flags[number] = _in_last_bracket(bracket_study)
        bracket = pruner._get_bracket_id(study, trial)
        assert flags[number] == (bracket == 3)
        # The first rung, as a share of a training: 1, 3, 9 or 27 epochs of 27.
        assert _first_rung(bracket_study) == pytest.approx(3.0**bracket / 27.0)
    assert 0 < sum(flags.values()) < 30  # 4 of every 49 trials, by Hyperband's allocation
    assert not _in_last_bracket(optuna.create_study(pruner=optuna.pruners.MedianPruner()))
    assert _first_rung(optuna.create_study(pruner=optuna.pruners.MedianPruner())) is None

    seen: dict[int, bool] = {}
    choose = _coordinator.Coordinator._chooser

    def spy(self: Any, ctx: Any) -> str:
        seen[len(seen)] = ctx.last_bracket
        return choose(self, ctx)

    monkeypatch.setattr(_coordinator.Coordinator, "_chooser", spy)
    sampler = HyperaSampler(seed=0, n_startup_trials=N_STARTUP)
    sampler._core_options["coordinator.last_bracket"] = "mean"
    hb = optuna.create_study(sampler=sampler, study_name="last-bracket-run",
                             pruner=optuna.pruners.HyperbandPruner(1, 27, 3))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(27):
            trial.report((x - 0.3) ** 2 + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (x - 0.3) ** 2

    hb.optimize(objective, n_trials=40)
    asked = [t for t in hb.trials if USER_ATTR in t.user_attrs]
    expected = [bracket_of(hb, t) == 3 for t in asked]
    assert list(seen.values()) == expected and any(expected)
