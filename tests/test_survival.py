"""The chance of completing under a pruner, and what it does to the acquisition."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._curves import early_values
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._encoding import trial_row
from optuna_hypera._gp_maths import log_ei
from optuna_hypera._kernel_inputs import KernelInputs
from optuna_hypera._pruned_inputs import early_inputs
from optuna_hypera._survival import FLOOR
from optuna_hypera._survival import MIN_EARLY_COMPLETE
from optuna_hypera._survival import EarlySurvival
from optuna_hypera._survival import Survival
from optuna_hypera._table import build_history


def test_no_pruned_trial_means_no_estimate() -> None:
    x = np.random.RandomState(0).rand(10, 2)
    inputs = KernelInputs.of(None, 2)
    assert Survival.fit(x, np.ones(10, bool), x[0], np.full(2, 0.2), inputs, 150) is None
    assert Survival.fit(x[:0], np.ones(0, bool), x[0], np.full(2, 0.2), inputs, 150) is None


def test_the_chance_follows_where_trials_were_pruned() -> None:
    """Low among pruned trials, high among completed ones, the study's smoothed rate far
    from both, always inside (0, 1)."""
    rng = np.random.RandomState(1)
    left = 0.2 * rng.rand(15, 2)          # every trial here pruned
    right = 0.8 + 0.2 * rng.rand(15, 2)   # every trial here completed
    x = np.concatenate([left, right])
    done = np.r_[np.zeros(15, bool), np.ones(15, bool)]
    s = Survival.fit(x, done, x[-1], np.full(2, 0.1), KernelInputs.of(None, 2), 150)
    assert s is not None
    p = s.p(np.array([[0.1, 0.1], [0.9, 0.9], [0.1, 0.9]]))
    assert p[0] < 0.1 < 0.9 < p[1]
    assert abs(p[2] - s.rate) < 0.05 and s.rate == (15 + 1) / (30 + 2)
    assert ((p > 0) & (p < 1)).all()
    np.testing.assert_allclose(s.log_p(np.array([[0.1, 0.1]])), np.log(p[:1]))


def test_it_keeps_the_points_nearest_the_incumbent() -> None:
    x = np.linspace(0, 1, 40)[:, None]
    done = np.arange(40) % 2 == 0
    s = Survival.fit(x, done, np.array([0.0]), np.array([0.1]), KernelInputs.of(None, 1), 10)
    assert s is not None and len(s.xe) == 10
    assert float(s.xe.max()) < 0.25


def _trials(prune: bool) -> tuple[SpaceEncoder, list[FrozenTrial]]:
    """Thirty trials of a bowl at 0.5; with ``prune`` those with x0 < 0.3 were pruned at
    their second step (their curves above the completed ones')."""
    dists = {f"x{j}": FloatDistribution(0.0, 1.0) for j in range(2)}
    gen = np.random.RandomState(2)
    out = []
    for i in range(30):
        params = {n: float(gen.rand()) for n in dists}
        v = sum((p - 0.5) ** 2 for p in params.values())
        curve = {s: v + 1.0 / (s + 1) for s in range(4)}
        pruned = prune and params["x0"] < 0.3
        out.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE, params=params,
            distributions=dists, value=None if pruned else v,
            intermediate_values={0: curve[0] + 0.5, 1: curve[1] + 0.5} if pruned else curve))
        out[-1].number = i
    return SpaceEncoder(dists), out


def _context_model(prune: bool, survival: bool = True,  # type: ignore[no-untyped-def]
                   early: bool = True):
    enc, trials = _trials(prune)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="value", seed=0)
    core.survival = survival
    core.survival_early = early
    ctx = core.context(StudyInput(enc.space, h))
    assert ctx is not None and ctx.surrogate is not None
    return ctx.surrogate


def test_the_acquisition_counts_the_chance_only_where_trials_were_pruned() -> None:
    query = np.array([[0.1, 0.5], [0.6, 0.5], [0.9, 0.9]])
    plain = _context_model(prune=False)
    assert plain.log_survival is None
    mu, sd = plain.predict(query)
    np.testing.assert_allclose(plain.acquisition(query), log_ei((plain.best - mu) / sd, sd))

    for early in (True, False):
        model = _context_model(prune=True, early=early)
        assert model.log_survival is not None
        mu, sd = model.predict(query)
        gap = log_ei((model.best - mu) / sd, sd) - model.acquisition(query)
        # The early model can be sure a trial completes (log p = 0 to the last bit).
        assert (gap >= 0).all() if early else (gap > 0).all()
        assert gap[0] > gap[1] + 1.0  # pruned side: a much smaller chance of completing
    off = _context_model(prune=True, survival=False)
    assert off.log_survival is None


def test_rung_based_pruners_leave_the_chance_out() -> None:
    """Successive halving and Hyperband prune most trials by design: no chance of
    completing for them; the comparing pruners (Median, Percentile, Wilcoxon, Threshold,
    Patient around one of them) get it."""
    from optuna_hypera._sampler import _prunes_at_rungs

    p = optuna.pruners
    rung = [p.SuccessiveHalvingPruner(), p.HyperbandPruner(),
            p.PatientPruner(p.HyperbandPruner(), patience=1)]
    other = [p.MedianPruner(), p.PercentilePruner(25.0), p.WilcoxonPruner(),
             p.ThresholdPruner(upper=1.0), p.PatientPruner(p.MedianPruner(), patience=1),
             p.PatientPruner(None, patience=1), p.NopPruner()]
    assert all(_prunes_at_rungs(q) for q in rung)
    assert not any(_prunes_at_rungs(q) for q in other)

    enc, trials = _trials(prune=True)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="value", seed=0)
    ctx = core.context(StudyInput(enc.space, h, rungs=True))
    assert ctx is not None and ctx.surrogate is not None
    assert ctx.surrogate.log_survival is None


@pytest.mark.parametrize("pruner, counted", [
    (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1), True),
    (optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8), False),
])
def test_a_pruned_study_proposes_with_the_chance_unless_it_prunes_at_rungs(
        pruner: optuna.pruners.BasePruner, counted: bool) -> None:
    """End to end: under ``MedianPruner``, once trials were pruned, the sampler's model
    carries the chance of completing; under ``HyperbandPruner`` (whose bracket view the
    sampler gets) it never does; both studies run on."""
    from optuna_hypera import HyperaSampler

    seen: list[bool] = []
    sampler = HyperaSampler(seed=0)
    core_ask = HyperaCore.ask

    def spy(self: HyperaCore, study: StudyInput):  # type: ignore[no-untyped-def]
        ctx = self.context(study)
        seen.append(ctx is not None and ctx.surrogate is not None
                    and ctx.surrogate.log_survival is not None)
        return core_ask(self, study)

    def objective(trial: optuna.Trial) -> float:
        u = trial.suggest_float("u", 0, 1)
        w = trial.suggest_float("w", 0, 1)
        for step in range(8):
            trial.report((u - 0.7) ** 2 + w + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (u - 0.7) ** 2 + w

    study = optuna.create_study(sampler=sampler, pruner=pruner)
    HyperaCore.ask = spy  # type: ignore[method-assign]
    try:
        study.optimize(objective, n_trials=30)
    finally:
        HyperaCore.ask = core_ask  # type: ignore[method-assign]
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and len(states) == 30
    # The startup design prunes some trials before the agents' first decision.
    assert seen
    assert all(seen) if counted else not any(seen)


def test_survival_recent_reads_only_the_latest_finished_trials() -> None:
    """With ``survival_recent`` the chance comes from the latest trials alone: where none of
    them was pruned there is no chance term, although earlier trials were pruned."""
    enc, trials = _trials(prune=True)
    pruned = [t.number for t in trials if t.state == TrialState.PRUNED]
    latest = len(trials) - 1 - max(pruned)  # trials after the last pruned one
    assert latest >= 1
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    for recent, expected in ((latest, False), (latest + 1, True), (None, True)):
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                          conflict="value", seed=0)
        core.survival_recent = recent
        core.survival_early = False  # an option of the share (the early model reads all)
        ctx = core.context(StudyInput(enc.space, h))
        assert ctx is not None and ctx.surrogate is not None
        assert (ctx.surrogate.log_survival is not None) == expected


def test_the_early_values_are_the_reports_at_the_step_most_trials_were_pruned_at() -> None:
    steps = np.array([1.0, 3.0])
    at = np.array([[0.5, 0.4], [0.9, np.nan], [0.6, 0.45], [0.95, np.nan], [0.7, 0.8]])
    early, step = early_values(np.array([1.0, 1.0, 3.0]), steps, at)
    assert step == 1.0 and early is not None
    np.testing.assert_array_equal(early, at[:, 0])
    early, step = early_values(np.array([1.0, 3.0]), steps, at)  # a tie: the earlier step
    assert step == 1.0
    none, step = early_values(np.zeros(0), steps, at)  # nothing pruned after a report
    assert none is None and math.isnan(step)
    # Through the study's table: the completed trials' values at step 1 and the pruned
    # trials' last reports there.
    enc, trials = _trials(prune=True)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    assert h.early is not None and h.early_step == 1.0
    np.testing.assert_allclose(h.early, [t.intermediate_values[1] for t in trials])
    head = h.head(10)
    assert head.early is not None and len(head.early) == 10 and head.early_step == 1.0
    plain = build_history(_trials(prune=False)[1], True, lambda t: trial_row(enc, t), 2)
    assert plain.early is None


def _early_study() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trials at x0 < 0.4 were all pruned, starting slower the larger x1 is; those at
    x0 > 0.6 completed, starting at 0.5; every early value with noise of sd 0.02."""
    rng = np.random.RandomState(3)
    slow = np.c_[0.4 * rng.rand(30), rng.rand(30)]
    fast = np.c_[0.6 + 0.4 * rng.rand(12), rng.rand(12)]
    x = np.concatenate([slow, fast])
    early = np.r_[0.52 + 0.2 * slow[:, 1], 0.5 + 0.005 * rng.randn(12)] + 0.02 * rng.randn(42)
    complete = np.r_[np.zeros(30, bool), np.ones(12, bool)]
    return x, early, complete


def test_the_early_chance_points_towards_faster_starts_where_the_share_is_flat() -> None:
    x, early, complete = _early_study()
    center = x[-1]
    model = EarlySurvival.fit(x, early, complete, center, {}, None, None, 150, weight=1.0)
    assert model is not None
    # The bar is the completed trials' median value at the early step, in model units.
    m, s = float(early.mean()), float(early.std())
    assert model.bar == pytest.approx((float(np.median(early[complete])) - m) / s)
    query = np.array([[0.2, 0.05], [0.2, 0.95], [0.8, 0.5]])
    lp = model.log_p(query)
    # Among the completed trials about even: the bar is their median.
    assert math.log(0.2) < lp[2] < math.log(0.8) and lp[2] > lp[0] + 1.0
    assert lp[0] > lp[1] + 1.0              # slower starts, a smaller chance
    assert (lp <= 0).all() and (lp >= math.log(FLOOR)).all()
    share = Survival.fit(x, complete, center, np.full(2, 0.2), KernelInputs.of(None, 2), 150)
    assert share is not None
    sp = share.p(query)
    assert abs(sp[0] - sp[1]) < 0.05       # every nearby trial pruned either way


def test_too_few_completed_trials_mean_no_early_model() -> None:
    x, early, complete = _early_study()
    few = complete.copy()
    few[np.flatnonzero(complete)[MIN_EARLY_COMPLETE - 1:]] = False
    assert EarlySurvival.fit(x, early, few, x[0], {}, None, None, 150) is None


def test_a_fresh_core_and_one_that_followed_the_study_give_the_same_early_chance() -> None:
    """The early model's kernel is refitted on its own schedule and cached per study: a core
    that asked at every size and one that asks only at the end must agree (as workers do)."""
    enc, trials = _trials(prune=True)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    query = np.random.RandomState(4).rand(16, 2)

    def core() -> HyperaCore:
        return HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                          conflict="value", seed=0)

    followed = core()
    for n in range(8, len(h) + 1):
        ctx = followed.context(StudyInput(enc.space, h.head(n)))
    fresh = core().context(StudyInput(enc.space, h))
    assert ctx is not None and fresh is not None
    assert ctx.surrogate is not None and fresh.surrogate is not None
    late, new = ctx.surrogate.log_survival, fresh.surrogate.log_survival
    assert late is not None and new is not None
    assert isinstance(getattr(new, "__self__", None), EarlySurvival)  # not the share
    np.testing.assert_array_equal(late(query), new(query))
    assert np.ptp(new(query)) > 0.5  # the chance differs across the space


def test_the_bar_follows_the_pruners_percentile() -> None:
    """A ``PercentilePruner`` passes trials below its percentile of the completed trials'
    values (``MedianPruner``: the 50th), also inside ``PatientPruner``; other pruners get the
    median. A stricter bar lowers the chance everywhere."""
    from optuna_hypera._sampler import _bar_quantile

    p = optuna.pruners
    assert _bar_quantile(p.MedianPruner()) == 0.5
    assert _bar_quantile(p.PercentilePruner(25.0)) == 0.25
    assert _bar_quantile(p.PercentilePruner(10)) == 0.1
    assert _bar_quantile(p.PatientPruner(p.PercentilePruner(75.0), patience=1)) == 0.75
    assert _bar_quantile(p.ThresholdPruner(upper=1.0)) == 0.5
    assert _bar_quantile(p.WilcoxonPruner()) == 0.5

    x, early, complete = _early_study()
    m, s = float(early.mean()), float(early.std())
    models = {q: EarlySurvival.fit(x, early, complete, x[-1], {}, None, None, 150, 1.0, q)
              for q in (0.25, 0.5)}
    strict, median = models[0.25], models[0.5]
    assert strict is not None and median is not None
    assert strict.bar == pytest.approx((float(np.percentile(early[complete], 25)) - m) / s)
    assert strict.bar < median.bar
    query = np.random.RandomState(5).rand(20, 2)
    assert (strict.log_p(query) <= median.log_p(query)).all()
    assert (strict.log_p(query) < median.log_p(query)).any()


def test_the_largest_reported_step_and_a_pruned_trials_share_of_a_training() -> None:
    """Pruned trials stopped at step 1 of steps 0-3: half a training (2 of 4 epochs)."""
    enc, trials = _trials(prune=True)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    assert h.last_step == 3.0
    assert h.head(5).last_step == 3.0
    early = early_inputs(h, np.ones(len(h), bool), per_epoch=True)
    assert early is not None and early.cut == pytest.approx(2 / 4)
    plain = early_inputs(h, np.ones(len(h), bool))
    assert plain is not None and plain.cut is None  # not computed unless asked for


def test_the_chance_per_expected_epoch() -> None:
    """With ``cut`` the log chance becomes the log of gain per epoch: w log p - log(p + (1 -
    p) cut); a likely-pruned trial is cheap, so it loses less than by w log p alone."""
    x, early, complete = _early_study()
    plain = EarlySurvival.fit(x, early, complete, x[-1], {}, None, None, 150, weight=1.0)
    cheap = EarlySurvival.fit(x, early, complete, x[-1], {}, None, None, 150, weight=1.0,
                              cut=0.2)
    full = EarlySurvival.fit(x, early, complete, x[-1], {}, None, None, 150, weight=1.0,
                             cut=1.0)
    assert plain is not None and cheap is not None and full is not None
    query = np.array([[0.2, 0.05], [0.2, 0.95], [0.8, 0.5]])
    lp = plain.log_p(query)
    p = np.exp(lp)
    np.testing.assert_allclose(cheap.log_p(query), lp - np.log(p + (1 - p) * 0.2))
    np.testing.assert_allclose(full.log_p(query), lp)  # a pruned trial costs a training
    assert np.ptp(cheap.log_p(query)) < np.ptp(lp)


def test_the_per_epoch_switch_reaches_the_acquisition() -> None:
    enc, trials = _trials(prune=True)
    h = build_history(trials, True, lambda t: trial_row(enc, t), len(enc))
    query = np.random.RandomState(5).rand(8, 2)
    scores = []
    for per_epoch in (False, True):
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                          conflict="value", seed=0)
        core.survival_per_epoch = per_epoch
        ctx = core.context(StudyInput(enc.space, h))
        assert ctx is not None and ctx.surrogate is not None
        assert ctx.surrogate.log_survival is not None
        scores.append(ctx.surrogate.acquisition(query))
    assert not np.allclose(scores[0], scores[1])
