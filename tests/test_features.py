from __future__ import annotations

import datetime
import math

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_hypera._features import N_GLOBAL
from optuna_hypera._features import PENALTY
from optuna_hypera._features import RADIUS_INIT
from optuna_hypera._features import RADIUS_MIN
from optuna_hypera._features import Evidence
from optuna_hypera._features import History
from optuna_hypera._features import base_features
from optuna_hypera._features import rank_quantiles
from optuna_hypera._features import study_features
from optuna_hypera._features import trial_loss
from optuna_hypera._features import trust_radius
from optuna_hypera._replay import AgentReplay
from optuna_hypera._replay import Step


def make(number: int, state: TrialState, value: float | None = None,
         intermediate: dict[int, float] | None = None,
         constraints: dict[str, float] | None = None) -> FrozenTrial:
    finite = value is not None and math.isfinite(value)
    t = optuna.trial.create_trial(
        state=state,
        value=(value if finite else 0.0) if state == TrialState.COMPLETE else None,
        params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
        intermediate_values=intermediate or {},
        system_attrs={f"constraints:{k}": v for k, v in (constraints or {}).items()},
    )
    t.number = number
    if state == TrialState.COMPLETE and not finite:
        t._values = [value]  # storages turn NaN into FAIL; the sampler must still cope
    return t


def test_rank_quantiles_share_ties_and_put_nan_last() -> None:
    q = rank_quantiles(np.array([3.0, 1.0, np.nan, 2.0, 2.0]))
    np.testing.assert_allclose(q, [1.0, 0.0, 1.0, 0.5, 0.5])
    np.testing.assert_allclose(rank_quantiles(np.array([np.nan, 5.0])), [1.0, 0.0])


@pytest.mark.parametrize("minimize", [True, False])
def test_trial_loss_edge_cases(minimize: bool) -> None:
    sign = 1.0 if minimize else -1.0
    assert trial_loss(make(0, TrialState.COMPLETE, 2.0), minimize) == sign * 2.0
    assert trial_loss(make(0, TrialState.COMPLETE, math.nan), minimize) is None
    assert trial_loss(make(0, TrialState.COMPLETE, math.inf), minimize) is None
    assert trial_loss(make(0, TrialState.COMPLETE, -math.inf), minimize) is None
    assert trial_loss(make(0, TrialState.FAIL), minimize) is None
    # Pruned trials use their last intermediate value; without one they are penalized.
    pruned = make(0, TrialState.PRUNED, intermediate={1: 5.0, 3: 4.0, 2: 9.0})
    assert trial_loss(pruned, minimize) == sign * 4.0
    assert trial_loss(make(0, TrialState.PRUNED), minimize) is None
    # Infeasible: any constraint > 0.
    assert trial_loss(make(0, TrialState.COMPLETE, 1.0, constraints={"a": 0.0}), minimize) == sign
    assert trial_loss(make(0, TrialState.COMPLETE, 1.0, constraints={"a": 0.1}), minimize) is None


@pytest.mark.parametrize("direction", [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE])
def test_rewards_are_rank_improvements_and_penalties(direction: StudyDirection) -> None:
    good, bad = (1.0, 3.0) if direction == StudyDirection.MINIMIZE else (3.0, 1.0)
    trials = [
        make(0, TrialState.COMPLETE, 2.0),  # base
        make(1, TrialState.COMPLETE, good),
        make(2, TrialState.COMPLETE, bad),
        make(3, TrialState.COMPLETE, math.nan),
        make(4, TrialState.FAIL),
        make(5, TrialState.COMPLETE, 0.0, constraints={"c": 1.0}),
        make(6, TrialState.PRUNED, intermediate={0: good}),
    ]
    h = History.build(trials, direction)
    rep = AgentReplay(capacity=100)
    step = Step(np.zeros((1, 10), np.float32), np.zeros(N_GLOBAL, np.float32),
                np.zeros(1, np.float32))
    for n in range(1, 7):
        rep.add(step, None, trial=n, base=0)
    r = rep.rewards(np.arange(6), h.quantile_of(), set(h.numbers[~h.valid].tolist()))
    # Valid: base (mid), two "good" trials (best, tied), one bad: quantiles 2/3, 1/6, 1, 1/6.
    np.testing.assert_allclose(r, [2 / 3 - 1 / 6, 2 / 3 - 1.0, PENALTY, PENALTY, PENALTY,
                                   2 / 3 - 1 / 6], rtol=1e-6)
    # Scale-free: multiplying every value by 1000 changes no reward.
    scaled = [make(t.number, t.state, None if t.value is None else t.value * 1000,
                   {k: v * 1000 for k, v in t.intermediate_values.items()},
                   dict(t.constraints)) for t in trials]
    h2 = History.build(scaled, direction)
    np.testing.assert_allclose(
        rep.rewards(np.arange(6), h2.quantile_of(), set(h2.numbers[~h2.valid].tolist())), r)
    assert rep.successes(h.quantile_of(), set(h.numbers[~h.valid].tolist())) == (2, 4)


def test_trust_radius_shrinks_on_failures_and_grows_on_successes() -> None:
    def hist(values: list[float]) -> History:
        return History.build(
            [make(i, TrialState.COMPLETE, v) for i, v in enumerate(values)],
            StudyDirection.MINIMIZE,
        )

    proposed = set(range(1, 100))
    assert trust_radius(hist([1.0]), proposed, 2) == RADIUS_INIT
    # 4 failures (d=2 -> tolerance 4) halve the radius; 12 failures reach 0.5.
    assert trust_radius(hist([0.0] + [1.0] * 4), proposed, 2) == RADIUS_INIT / 2
    assert trust_radius(hist([0.0] + [1.0] * 40), proposed, 2) == RADIUS_MIN
    # 3 consecutive new bests double it again.
    assert trust_radius(hist([0.0] + [1.0] * 4 + [-1, -2, -3]), proposed, 2) == RADIUS_INIT
    # Trials not proposed by the agents (startup, other samplers) do not count.
    assert trust_radius(hist([0.0] + [1.0] * 40), set(), 2) == RADIUS_INIT


def test_state_features_are_bounded_and_scale_free() -> None:
    trials = [make(i, TrialState.COMPLETE, v) for i, v in enumerate([5.0, 3.0, 4.0, 1.0, 2.0])]
    trials[1].intermediate_values = {0: 9.0, 1: 6.0, 2: 3.0}
    trials[1].user_attrs = {"hypera_stats": {"grad_norm": 2.0, "train_loss": 1.0,
                                             "val_loss": 1.5}}
    start = datetime.datetime(2026, 1, 1)
    for t in trials:
        t.datetime_start = start
        t.datetime_complete = start + datetime.timedelta(seconds=2.0)
    h = History.build(trials, StudyDirection.MINIMIZE)
    g = study_features(h, radius=2.0)
    full = base_features(g, float(h.quantiles[1]), float(h.durations[1]), trials[1],
                         {"grad_norm": 1.0, "train_loss": 1.0}, 2.0)
    assert np.all(np.abs(full) <= 1.0)
    assert full[6] == pytest.approx(0.5)  # the base is the median trial
    assert full[7] == pytest.approx(math.tanh(6 / 12)) and full[8] == 1.0  # improving curve
    assert full[10] == pytest.approx(math.tanh(math.log(2.0)))  # grad norm twice the median
    assert full[15] == pytest.approx(math.tanh(0.5))  # val - train gap
    assert g[16] == pytest.approx(1 / 3)  # log2(radius) / 3
    scaled = [make(t.number, t.state, t.value * 1e6) for t in trials]  # type: ignore[operator]
    np.testing.assert_allclose(study_features(History.build(scaled, StudyDirection.MINIMIZE),
                                              2.0), g)


def test_evidence_points_at_the_better_end() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 2))
    losses = (x[:, 0] - 1.0) ** 2  # larger x0 is better, x1 irrelevant
    ev = Evidence.build(x, losses)
    assert ev.correlation[0] > 0.9 and abs(ev.correlation[1]) < 0.4
    assert ev.best_x[0] == x[:, 0].max()
    assert ev.elite_mean[0] > 0.7
