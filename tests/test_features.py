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

from optuna_hypera._features import RADIUS_INIT
from optuna_hypera._features import RADIUS_MAX
from optuna_hypera._features import RADIUS_MIN
from optuna_hypera._features import Evidence
from optuna_hypera._features import Medians
from optuna_hypera._features import base_features
from optuna_hypera._features import study_features
from optuna_hypera._features import trust_radius
from optuna_hypera._history import PENALTY
from optuna_hypera._history import History
from optuna_hypera._history import rank_quantiles
from optuna_hypera._history import rewards
from optuna_hypera._schema import G
from optuna_hypera._table import build_history
from optuna_hypera._table import trial_loss


def history(trials: list[FrozenTrial], direction: StudyDirection) -> History:
    return build_history(trials, direction == StudyDirection.MINIMIZE, lambda t: None, 0)


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
    h = history(trials, direction)
    trial, base = np.arange(1, 7), np.zeros(6, dtype=np.int64)
    r = rewards(h.quantiles, h.valid, trial, base)
    # Completed before pruned: base (mid), good (best), bad (worst of the completed), then the
    # pruned trial after every completed one: quantiles 1/3, 0, 2/3, 1.
    np.testing.assert_allclose(r, [1 / 3, 1 / 3 - 2 / 3, PENALTY, PENALTY, PENALTY,
                                   1 / 3 - 1.0], rtol=1e-6)
    # Scale-free: multiplying every value by 1000 changes no reward.
    scaled = [make(t.number, t.state, None if t.value is None else t.value * 1000,
                   {k: v * 1000 for k, v in t.intermediate_values.items()},
                   dict(t.constraints)) for t in trials]
    h2 = history(scaled, direction)
    np.testing.assert_allclose(rewards(h2.quantiles, h2.valid, trial, base), r)


def test_trust_radius_shrinks_on_failures_and_grows_on_successes() -> None:
    def radius(values: list[float], agents: bool = True) -> float:
        proposed = (np.arange(len(values)) >= 1) & agents
        return float(trust_radius(np.array([values]), proposed[None], 2)[0])

    assert radius([1.0]) == RADIUS_INIT
    # 4 failures (d=2 -> tolerance 4) halve the radius; 12 failures reach 0.5.
    assert radius([0.0] + [1.0] * 4) == RADIUS_INIT / 2
    assert radius([0.0] + [1.0] * 40) == RADIUS_MIN
    # 3 consecutive new bests double it again.
    assert radius([0.0] + [1.0] * 4 + [-1, -2, -3]) == RADIUS_INIT
    # Trials not proposed by the agents (startup, other samplers) do not count.
    assert radius([0.0] + [1.0] * 40, agents=False) == RADIUS_INIT
    # A lower floor (``HyperaCore.radius_min``) lets it halve further, in the batch too.
    loss, proposed = np.array([[0.0] + [1.0] * 40] * 2), np.arange(41)[None].repeat(2, 0) >= 1
    assert trust_radius(loss[:1], proposed[:1], 2, low=RADIUS_MIN / 4)[0] == RADIUS_MIN / 4
    assert (trust_radius(loss, proposed, 2, low=RADIUS_MIN / 4) == RADIUS_MIN / 4).all()
    # A lower ceiling (``HyperaCore.radius_max``) stops the doubling there.
    better = np.array([[0.0] + [-1.0 - k for k in range(12)]])
    assert radius([0.0] + [-1.0 - k for k in range(12)]) == RADIUS_MAX
    assert trust_radius(better, np.arange(13)[None] >= 1, 2, high=RADIUS_INIT)[0] == RADIUS_INIT


def features_of(h: History, radius: float) -> np.ndarray:
    return study_features(h.loss[None], h.valid[None], h.complete[None], h.pruned[None],
                          np.array([radius]))[0]


def test_state_features_are_bounded_and_scale_free() -> None:
    trials = [make(i, TrialState.COMPLETE, v) for i, v in enumerate([5.0, 3.0, 4.0, 1.0, 2.0])]
    trials[1].intermediate_values = {0: 9.0, 1: 6.0, 2: 3.0}
    trials[1].user_attrs = {"hypera_stats": {"grad_norm": 2.0, "train_loss": 1.0,
                                             "val_loss": 1.5}}
    start = datetime.datetime(2026, 1, 1)
    for t in trials:
        t.datetime_start = start
        t.datetime_complete = start + datetime.timedelta(seconds=2.0)
    trials[3].user_attrs = {"hypera_stats": {"grad_norm": 1.0, "train_loss": 1.0}}
    h = history(trials, StudyDirection.MINIMIZE)
    g = features_of(h, 2.0)
    full = base_features(g, h, 1, Medians.of(h))
    assert np.all(np.abs(full) <= 1.0)
    assert full[G["base_quantile"]] == pytest.approx(0.5)  # the base is the median trial
    assert full[G["base_trend"]] == pytest.approx(1.0)  # improving at every report
    assert full[G["base_has_curve"]] == 1.0
    # grad norm 2 against a median of 1.5 (of 2 and 1)
    assert full[G["base_grad_norm"]] == pytest.approx(math.tanh(math.log(2.0 / 1.5)))
    assert full[G["base_overfit"]] == pytest.approx(math.tanh(0.5))  # val - train gap
    assert g[G["radius"]] == pytest.approx(1 / 3)  # log2(radius) / 3
    scaled = [make(t.number, t.state, t.value * 1e6) for t in trials]  # type: ignore[operator]
    np.testing.assert_allclose(features_of(history(scaled, StudyDirection.MINIMIZE), 2.0), g)


def test_evidence_points_at_the_better_end() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 2))
    losses = (x[:, 0] - 1.0) ** 2  # larger x0 is better, x1 irrelevant
    ev = Evidence.build(x, rank_quantiles(losses))
    assert ev.correlation[0] > 0.9 and abs(ev.correlation[1]) < 0.4
    assert ev.best_x[0] == x[:, 0].max()
    assert ev.elite_mean[0] > 0.7


def test_trust_radius_of_one_study_equals_its_row_in_a_batch() -> None:
    rng = np.random.default_rng(0)
    slope = rng.uniform(0, 30, size=(40, 1))  # some studies keep improving, some stall
    loss = rng.normal(size=(40, 80)) - slope * np.linspace(0, 1, 80)
    loss[rng.uniform(size=loss.shape) < 0.1] = np.inf  # failed or pruned
    proposed = rng.uniform(size=(40, 80)) < 0.85
    seen = set()
    for n in range(5, 81, 5):
        batch = trust_radius(loss[:, :n], proposed[:, :n], 3)
        single = [trust_radius(loss[b : b + 1, :n], proposed[b : b + 1, :n], 3)[0]
                  for b in range(40)]
        np.testing.assert_array_equal(batch, single)
        seen |= set(batch.tolist())
    assert len(seen) >= 4  # the comparison covered growing and shrinking radii


@pytest.mark.parametrize("scale,shift", [(1.0, 1000.0), (3.0, -50.0), (0.01, 7.0)])
def test_every_feature_is_unchanged_by_shifting_and_scaling_the_objective(
        scale: float, shift: float) -> None:
    """Study and base features, parameter tokens and the surrogate's candidate features of
    one decision: the same numbers whatever positive affine map the objective went through
    (completed and pruned trials with learning curves included)."""
    from optuna_hypera import DEFAULT_AGENTS
    from optuna_hypera import SACConfig
    from optuna_hypera._core import HyperaCore
    from optuna_hypera._core import StudyInput
    from optuna_hypera._encoding import SpaceEncoder
    from optuna_hypera._encoding import trial_row

    rng = np.random.RandomState(0)
    dists = {f"x{j}": FloatDistribution(0.0, 1.0) for j in range(4)}
    enc = SpaceEncoder(dists)

    def trials(f: float, b: float) -> list[FrozenTrial]:
        out = []
        gen = np.random.RandomState(1)
        for i in range(30):
            params = {n: float(gen.rand()) for n in dists}
            v = 2.0 + sum((p - 0.3) ** 2 for p in params.values())
            curve = {s: f * (v + 1.0 / (s + 1)) + b for s in range(4)}
            state = TrialState.PRUNED if i % 7 == 3 else TrialState.COMPLETE
            out.append(optuna.trial.create_trial(
                state=state, params=params, distributions=dists,
                value=f * v + b if state == TrialState.COMPLETE else None,
                intermediate_values=curve if state == TrialState.COMPLETE else
                {0: curve[0], 1: curve[1]}))
            out[-1].number = i
        return out

    query = rng.rand(8, 4)

    def features(f: float, b: float) -> list[np.ndarray]:
        h = build_history(trials(f, b), True, lambda t: trial_row(enc, t), len(enc))
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                          conflict="value", seed=0)
        ctx = core.context(StudyInput(enc.space, h))
        assert ctx is not None and ctx.surrogate is not None
        tok, _, glob = core.coordinator.states(
            [(ctx, ctx.incumbent.x, ctx.incumbent.glob)], range(len(DEFAULT_AGENTS)))
        return [ctx.incumbent.glob, tok, glob, ctx.candidates(query, ctx.incumbent.x)]

    plain, moved = features(1.0, 0.0), features(scale, shift)
    for name, a, b in zip(("base", "tokens", "study", "candidates"), plain, moved,
                          strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6, err_msg=name)
    g0 = plain[0]
    assert g0[G["base_has_curve"]] == 1.0 and g0[G["spread"]] > 0
