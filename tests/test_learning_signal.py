"""The reward and transitions the agents learn from: one test per point of the learning-signal
review (each asserted by a number, an ordering or a raised/absent error)."""

from __future__ import annotations

import json
import math
from typing import Any

from _studies import warnings_while_optimizing
import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
import pytest

from benchmarks.strategy_selection import mixed as six_param
from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import HyperaSampler
from optuna_hypera import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._dashboard import agent_credit
from optuna_hypera._history import History
from optuna_hypera._history import curve_trend
from optuna_hypera._history import rank_quantiles
from optuna_hypera._history import spearman
from optuna_hypera._learner import Learner
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN
from optuna_hypera._schema import TOKEN_LAYOUT_1
from optuna_hypera._schema import AgentRecord
from optuna_hypera._schema import G
from optuna_hypera._schema import Proposal
from optuna_hypera._schema import T
from optuna_hypera._space import Space
from optuna_hypera._storage import PROPOSAL_KEY
from optuna_hypera._table import encode_trial


optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = Space.continuous(2)


def proposal(number: int, base: int, x: float = 0.5, marker: float = 0.0) -> Proposal:
    """A proposal of one agent ("architecture") on coordinate 0, its state marked by
    ``marker`` so a test can tell whose state a transition holds."""
    tokens = np.zeros((1, N_TOKEN))
    tokens[0, T["x"]] = 0.5
    tokens[0, T["elite_std"]] = marker
    return Proposal(
        names=SPACE.names, x=np.array([x, 0.5]), base=base, strategy="independent",
        conflict="value", glob=np.full(N_GLOBAL, marker),
        agents={"architecture": AgentRecord([0], tokens, np.array([(x - 0.5) / 0.4]), 0.0,
                                            0.0, 0.4)},
    )


def learner() -> Learner:
    cfg = SACConfig(gamma=0.99)  # with gamma 0 the next state is never stored (nor read)
    return Learner(DEFAULT_AGENTS, cfg, MultiAgentSAC(DEFAULT_AGENTS, cfg, seed=0))


def finished(n: int) -> History:
    return History.from_values(np.full((n, 2), 0.5), np.arange(n, dtype=np.float64))


def transitions(lrn: Learner) -> dict[int, tuple[float, float]]:
    """trial -> (done, marker of the next state) of the architecture agent's transitions."""
    rep = lrn.replays[0]
    return {int(rep.trial[i]): (float(rep.done[i]), float(rep.next_glob[i, 0]))
            for i in range(rep.n)}


def test_next_state_is_the_decision_the_action_led_to_not_the_next_proposal() -> None:
    # 5 from base 2; 6 from base 5 (continues 5's outcome); 7 from base 3 (unrelated to 6).
    props = {5: proposal(5, 2, marker=0.5), 6: proposal(6, 5, marker=0.6),
             7: proposal(7, 3, marker=0.7)}
    lrn = learner()
    lrn.observe(0, finished(8), props, SPACE)
    t = transitions(lrn)
    assert t[5] == (0.0, pytest.approx(0.6))  # paired with 6, made from 5's result
    assert t[6][0] == 1.0  # nothing was made from 6 yet: not paired with 7
    assert t[7][0] == 1.0


def test_with_gamma_zero_every_transition_is_terminal() -> None:
    cfg = SACConfig()  # the default: each proposal a contextual bandit
    assert cfg.gamma == 0.0
    lrn = Learner(DEFAULT_AGENTS, cfg, MultiAgentSAC(DEFAULT_AGENTS, cfg, seed=0))
    lrn.observe(0, finished(8), {5: proposal(5, 2), 6: proposal(6, 5)}, SPACE)
    assert all(done == 1.0 for done, _ in transitions(lrn).values())


def test_pairing_does_not_depend_on_the_order_proposals_arrive_in() -> None:
    props = {5: proposal(5, 2, marker=0.5), 6: proposal(6, 5, marker=0.6),
             7: proposal(7, 5, marker=0.7), 9: proposal(9, 6, marker=0.9)}
    at_once = learner()
    at_once.observe(0, finished(10), props, SPACE)
    late = learner()  # 7 and 9 are written last (another worker), 6 only after that
    late.observe(0, finished(6), {5: props[5]}, SPACE)
    late.observe(0, finished(8), {k: props[k] for k in (5, 7)}, SPACE)
    late.observe(0, finished(10), {k: props[k] for k in (5, 7, 9)}, SPACE)
    assert transitions(late)[5] == (0.0, pytest.approx(0.7))  # 7 is the successor so far
    late.observe(0, finished(10), props, SPACE)
    assert transitions(late) == transitions(at_once)
    assert transitions(at_once)[5] == (0.0, pytest.approx(0.6))  # the first made from 5
    assert transitions(at_once)[6] == (0.0, pytest.approx(0.9))


def test_pruned_trials_rank_after_completed_ones_and_are_never_a_base() -> None:
    # Trial 2 was pruned early at a far better intermediate value than any final value.
    loss = np.array([3.0, 2.0, 0.1, 2.5, 0.2])
    step = np.array([np.nan, np.nan, 1.0, np.nan, 5.0])
    q = rank_quantiles(loss, step)
    assert list(np.argsort(q)) == [1, 3, 0, 4, 2]  # completed by value, then further-trained
    h = History.from_values(np.random.RandomState(0).uniform(size=(5, 2)), loss)
    h.pruned = ~np.isnan(step)
    h.step = step
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="independent",
                      conflict="value", seed=0)
    ctx = core.context(StudyInput(SPACE, h))
    assert ctx is not None
    assert ctx.incumbent.number == 1
    assert all(int(h.numbers[r]) not in (2, 4) for r in ctx.elites)
    assert (ctx.n_trials, ctx.n_trainings) == (5, 3)  # the staged scorer may count either


def test_pruned_trials_through_optuna_are_ranked_after_completed_ones() -> None:
    study = optuna.create_study()
    dist = {"x": FloatDistribution(0, 1)}
    study.add_trial(optuna.trial.create_trial(params={"x": 0.1}, distributions=dist, value=2.0))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.2}, distributions=dist,
                                              state=TrialState.PRUNED,
                                              intermediate_values={0: 5.0, 1: 0.5}))
    rows = np.array([encode_trial(t, True) for t in study.trials])
    q = rank_quantiles(rows[:, 0], rows[:, 2])
    assert q[0] == 0.0 and q[1] == 1.0


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_learning_curve_trend_reads_improvement_in_either_direction(direction: str) -> None:
    study = optuna.create_study(direction=direction)
    good = [0.9, 0.5, 0.2] if direction == "minimize" else [0.2, 0.5, 0.9]
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.1}, distributions={"x": FloatDistribution(0, 1)}, value=good[-1],
        intermediate_values=dict(enumerate(good))))
    trend = encode_trial(study.trials[0], direction == "minimize")[3]
    assert trend == pytest.approx(1.0)  # improving at every report, whatever the direction


def test_learning_curve_trend_depends_on_the_curve_s_order_only() -> None:
    curve = [5.0, 3.0, 4.0, 1.0, 1.5]
    base = curve_trend(curve)
    assert 0.0 < base < 1.0
    assert curve_trend([1e3 + 7 * v for v in curve]) == pytest.approx(base)
    assert curve_trend([math.exp(v) for v in curve]) == pytest.approx(base)
    assert curve_trend(curve[::-1]) == pytest.approx(-base)
    assert curve_trend([2.0, 2.0]) == 0.0 and math.isnan(curve_trend([1.0]))


def test_rank_correlation_of_tied_values_does_not_follow_trial_order() -> None:
    y = np.arange(12, dtype=np.float64)  # later trials better or worse: order matters to y
    x = np.zeros((12, 2))
    x[:, 1] = np.tile([0.25, 0.75], 6)  # a two-valued categorical, unrelated to y's trend
    c = spearman(x, y)
    assert c[0] == 0.0  # a constant column carries no evidence
    # Swapping rows inside a tie group of x must not change the correlation.
    perm = np.arange(12)
    perm[[0, 2]] = perm[[2, 0]]
    np.testing.assert_allclose(spearman(x[perm], y), c)
    assert abs(c[1]) < 0.2


def test_a_proposal_without_a_valid_base_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=5))
    study.optimize(six_param, n_trials=8)
    good = study.trials[-1]
    n = good.system_attrs[f"{PROPOSAL_KEY}:n"]
    payload = json.loads("".join(good.system_attrs[f"{PROPOSAL_KEY}:{i}"] for i in range(n)))
    no_base = {k: v for k, v in payload.items() if k != "base"}
    unknown_base = {**payload, "base": 999}
    for p in (no_base, unknown_base):
        study.add_trial(optuna.trial.create_trial(
            params=good.params, distributions=good.distributions, value=1.0,
            system_attrs={f"{PROPOSAL_KEY}:n": 1, f"{PROPOSAL_KEY}:0": json.dumps(p)}))
    text = warnings_while_optimizing(study, HyperaSampler(seed=1, n_startup_trials=5), 2, caplog)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert "base missing" in text and "base trial 999" in text


def test_enqueued_values_are_credited_as_the_action_that_ran() -> None:
    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=5))
    study.optimize(six_param, n_trials=8)
    study.enqueue_trial({"lr": 0.09})  # the optimization agent will propose something else
    study.optimize(six_param, n_trials=1)
    fixed = study.trials[-1]
    assert fixed.params["lr"] == 0.09
    sampler = HyperaSampler(seed=1, n_startup_trials=5)
    study.sampler = sampler
    study.optimize(six_param, n_trials=1)
    (cache,) = sampler._caches.values()
    enc = cache.encoder
    assert enc is not None
    j = enc.names.index("lr")
    rec = cache.proposals[fixed.number].agents["optimization"]
    k = rec.params.index(j)
    ran = enc.encode(fixed.params)[j]
    expected = np.clip((ran - rec.tokens[k, T["x"]]) / rec.step, -0.999, 0.999)
    assert abs(expected - rec.action[k]) > 0.05  # what it proposed is not what ran
    rep = cache.core.learner.replays[1]
    (i,) = np.flatnonzero(rep.trial[: rep.n] == fixed.number)
    assert rep.action[i, k] == pytest.approx(expected, abs=1e-6)
    # Parameters that ran as proposed keep their stored action.
    other = cache.proposals[fixed.number].agents["regularization"]
    (i2,) = np.flatnonzero(cache.core.learner.replays[2].trial[: cache.core.learner.replays[2].n]
                           == fixed.number)
    np.testing.assert_allclose(cache.core.learner.replays[2].action[i2, : len(other.action)],
                               other.action, atol=1e-6)


def test_dashboard_credit_is_the_reward_the_agents_are_paid() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = six_param(trial)
        if trial.number % 5 == 4:  # some pruned trials, with reports
            trial.report(value / 10, 0)
            raise optuna.TrialPruned()
        return round(value, 1)  # ties

    sampler = HyperaSampler(seed=0, n_startup_trials=5, dashboard_every=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=30)
    study.sampler = fresh = HyperaSampler(seed=1, n_startup_trials=5, dashboard_every=0)
    study.optimize(objective, n_trials=1)
    (cache,) = fresh._caches.values()
    lrn = cache.core.learner
    credit = agent_credit(study.trials[:-1], study.direction)
    trials = study.trials
    for a, agent in enumerate(DEFAULT_AGENTS):
        rep = lrn.replays[a]
        reward = dict(zip(rep.trial[: rep.n].tolist(),
                          lrn.rewards(a, np.arange(rep.n)).tolist(), strict=True))
        moved = [t.number for t in trials[:-1] if t.state.is_finished()
                 and t.user_attrs.get("hypera", {}).get("agents", {}).get(agent.name, {})
                 .get("params")]
        if not moved:
            continue
        mean = float(np.mean([reward[n] for n in moved]))
        assert credit[agent.name]["mean_rank_improvement"] == pytest.approx(mean, abs=1e-6)
        succ, fail = lrn.outcomes(0)
        assert succ[a] == sum(r > 0 for r in reward.values())
    assert any(t.state == TrialState.PRUNED for t in trials)


def test_study_features_are_read_by_name_from_older_layouts() -> None:
    p = proposal(5, 2, marker=0.3)
    text = json.loads(p.to_json())
    assert text["layout"] == 2
    back = Proposal.from_json(json.dumps(text))
    np.testing.assert_allclose(back.glob, p.glob)
    np.testing.assert_allclose(back.cand, p.cand)
    # Format 2 (token layout 1: no surrogate slots; no candidate features) reads with zeros.
    n_old = len(TOKEN_LAYOUT_1)
    v2 = json.loads(p.to_json())
    v2.update(v=2, layout=1)
    v2.pop("c")
    for rec in v2["agents"].values():
        rec["f"] = [row[:n_old] for row in rec["f"]]
    old2 = Proposal.from_json(json.dumps(v2))
    rec2 = old2.agents["architecture"]
    assert (rec2.tokens[:, T["gp_slope"]] == 0).all() and not old2.cand.any()
    np.testing.assert_allclose(rec2.tokens[:, :n_old],
                               p.agents["architecture"].tokens[:, :n_old], atol=1e-5)
    # Format 1 (no layout, no step field) still reads; its step comes from the state.
    v1 = {**v2, "v": 1}
    v1.pop("layout")
    v1["glob"][G["radius"]] = 1.0  # radius 8
    v1["agents"]["architecture"].pop("s")
    v1["agents"]["architecture"]["f"][0][T["action_scale"]] = 0.1
    old = Proposal.from_json(json.dumps(v1))
    assert old.agents["architecture"].step == pytest.approx(0.8)


def test_a_global_jump_is_learned_from_but_not_cloned() -> None:
    """A proposal whose candidate came from the whole space (``origin="global"``) joins the
    replay with its reward; its stored action is the clipped move towards it, so the actors
    do not clone it (``clone`` 0); it survives the JSON round trip storage makes."""
    jump = proposal(6, 2, x=0.95)
    jump.origin = "global"
    back = Proposal.from_json(jump.to_json())
    assert back.origin == "global" and jump.stored().origin == "global"
    assert '"o"' not in proposal(5, 2).to_json()  # the default stays as it was stored before
    with pytest.raises(ValueError, match="origin"):
        Proposal.from_dict({**json.loads(jump.to_json()), "o": "elsewhere"})
    lrn = learner()
    lrn.observe(0, finished(8), {5: proposal(5, 2), 6: back}, SPACE)
    rep = lrn.replays[0]
    clone = {int(rep.trial[i]): float(rep.clone[i]) for i in range(rep.n)}
    assert clone == {5: 1.0, 6: 0.0}
    batch, _ = lrn.draw(np.ones(len(DEFAULT_AGENTS), bool), np.random.RandomState(0))
    drawn = batch["clone"][0].numpy()
    assert set(drawn.tolist()) <= {0.0, 1.0} and 0.0 < drawn.mean() < 1.0


def test_frozen_rewards_are_the_ranks_at_the_time_of_freezing() -> None:
    """Pre-training freezes a round's rewards once its studies are over: a draw then reads
    them; without ``freeze`` they follow the study's current ranks."""
    props = {5: proposal(5, 2), 6: proposal(6, 2)}
    live, frozen = learner(), learner()
    y = np.array([5.0, 4, 3, 2, 1, 0.5, 6, 7])  # trial 5 beats its base 2; 6 does not
    for lrn in (live, frozen):
        lrn.observe(0, History.from_values(np.full((8, 2), 0.5), y), props, SPACE)
    idx = np.arange(live.replays[0].n)
    before = live.rewards(0, idx)
    frozen.freeze()
    np.testing.assert_array_equal(frozen.rewards(0, idx), before)
    later = np.append(y, [-1.0, -2.0, -3.0])  # three better trials move every quantile
    for lrn in (live, frozen):
        lrn.observe(0, History.from_values(np.full((11, 2), 0.5), later), props, SPACE)
    assert not np.allclose(live.rewards(0, idx), before)
    np.testing.assert_array_equal(frozen.rewards(0, idx), before)


def test_a_full_replay_drops_its_oldest_transitions_a_tenth_at_a_time() -> None:
    from optuna_hypera._replay import AgentReplay

    rep = AgentReplay(capacity=100)
    tok = np.zeros((1, N_TOKEN))
    ids = [int(rep.add([tok], np.zeros((1, N_GLOBAL)), [np.array([0.1])], [0], [t], [0])[0])
           for t in range(250)]
    assert ids == list(range(250))  # absolute ids survive the drops
    assert 90 <= rep.n <= 100 and rep.dropped + rep.n == 250
    kept = rep.trial[: rep.n]
    np.testing.assert_array_equal(kept, np.arange(250 - rep.n, 250))  # the newest, in order


def test_pruned_agent_trials_shrink_the_trust_region_unless_told_not_to() -> None:
    # One completed startup trial, then 12 agent trials that were all pruned (more than
    # max(4, d) misses in a row: the radius halves when they count).
    n = 13
    rng = np.random.RandomState(0)
    loss = np.concatenate([[1.0], rng.uniform(2.0, 3.0, n - 1)])
    h = History.from_values(rng.uniform(size=(n, 2)), loss)
    h.pruned = np.arange(n) > 0
    h.step = np.where(h.pruned, 3.0, np.nan)
    proposals: dict[int, Any] = {k: object() for k in range(1, n)}
    radius = {}
    for counted in (True, False):
        core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="independent",
                          conflict="value", seed=0)
        core.pruned_in_radius = counted
        ctx = core.context(StudyInput(SPACE, h, proposals))
        assert ctx is not None
        radius[counted] = ctx.radius
    assert radius[True] < radius[False]


def test_pruned_trials_shift_worse_by_their_predictive_sd_and_scale_their_variance() -> None:
    from optuna_hypera._pruned_inputs import pseudo_inputs

    h = History.from_values(np.random.RandomState(1).uniform(size=(5, 2)),
                            np.array([1.0, 2.0, 3.0, 0.5, 4.0]))
    h.pruned = np.array([False, False, False, True, False])
    h.final_score = np.array([np.nan, np.nan, np.nan, 0.2, np.nan])
    h.final_sd = np.array([np.nan, np.nan, np.nan, 0.5, np.nan])
    h.final_loss = np.array([np.nan, np.nan, np.nan, 2.2, np.nan])
    covers = np.ones(5, bool)
    at, worse = pseudo_inputs(h, covers), pseudo_inputs(h, covers, shift=1.0)
    assert at is not None and worse is not None
    np.testing.assert_allclose(worse.y - at.y, 0.5)
    np.testing.assert_allclose(worse.loss - at.loss, np.sqrt(at.loss_var))  # slope x sd
    assert float(at.loss_var[0]) > 0
    np.testing.assert_array_equal(worse.var, at.var)
    sure = pseudo_inputs(h, covers, var_scale=0.25)
    assert sure is not None
    np.testing.assert_allclose(sure.var, 0.25 * at.var)
    np.testing.assert_allclose(sure.loss_var, 0.25 * at.loss_var)
    np.testing.assert_array_equal(sure.y, at.y)


def test_stretched_updates_thin_out_in_proportion_to_the_replay() -> None:
    """``SACConfig.stretch_after``: the write-up's schedule up to ``n`` transitions, then one
    step per ``update_frequency * size / n`` trials, about ``n / f * (1 + log(size / n))``
    steps in all; the fixed schedule takes one per ``f`` trials throughout."""

    def steps_taken(cfg: SACConfig, n_trials: int) -> np.ndarray:
        lrn = Learner(DEFAULT_AGENTS, cfg, MultiAgentSAC(DEFAULT_AGENTS, cfg, seed=0))
        total = np.zeros(len(DEFAULT_AGENTS), np.int64)
        for _ in range(n_trials):  # one new transition per agent and trial
            for rep in lrn.replays:
                rep.n += 1
            lrn.new += 1
            lrn.since_tick += 1
            total += lrn.due_steps()
        return total

    freq = np.array([a.update_frequency for a in DEFAULT_AGENTS])
    fixed = steps_taken(SACConfig(stretch_after=0), 1000)
    stretched = steps_taken(SACConfig(), 1000)  # the default: stretch_after=100
    np.testing.assert_allclose(fixed, 1000 / freq, atol=1)
    np.testing.assert_array_equal(steps_taken(SACConfig(), 100),
                                  steps_taken(SACConfig(stretch_after=0), 100))
    expected = 100 / freq * (1 + math.log(10))
    assert np.all(np.abs(stretched - expected) <= 0.15 * expected + 1), (stretched, expected)
    with pytest.raises(ValueError):
        SACConfig(stretch_after=-1)


def test_thompson_statistics_kept_by_id_equal_a_full_recount(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``Learner.outcomes`` keeps the signs no later trial can change and re-ranks the rest;
    at every decision of a study with pruned and failed trials its counts equal a recount of
    every transition's reward from the current ranks."""

    def recount(lrn: Learner, key: Any) -> tuple[np.ndarray, np.ndarray]:
        log = lrn._studies[key]
        succ, fail = np.zeros(len(lrn.agents)), np.zeros(len(lrn.agents))
        for a, rep in enumerate(lrn.replays):
            idx = np.flatnonzero((rep.study[: rep.n] == log.index) & (rep.trial[: rep.n] >= 0))
            r = lrn.rewards(a, idx)
            succ[a], fail[a] = (r > 0).sum(), (r <= 0).sum()
        return succ, fail

    checked: list[float] = []
    kept = Learner.outcomes

    def outcomes(self: Learner, key: Any) -> tuple[np.ndarray, np.ndarray]:
        got = kept(self, key)
        want = recount(self, key)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        checked.append(float(got[0].sum() + got[1].sum()))
        return got

    monkeypatch.setattr(Learner, "outcomes", outcomes)

    def objective(trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(f"x{i}", 0, 1) for i in range(4)])
        if x[0] > 0.9:
            return math.nan  # a failing region
        loss = float(((x - 0.3) ** 2).sum())
        for step in range(4):
            trial.report(loss * (1 + 1.0 / (step + 1)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    # 10 startup trials: this seed's Sobol design then reaches the failing region.
    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=10),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    study.optimize(objective, n_trials=45, catch=())
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.FAIL in states
    assert len(checked) >= 30 and checked[-1] > checked[0]


def test_a_pruned_trial_s_outcome_follows_its_changing_prediction() -> None:
    """Only signs no later trial can change are kept: a pruned trial ranked by its predicted
    final loss turns from a failure into a success when the prediction improves."""
    from dataclasses import replace

    props = {5: proposal(5, 2), 6: proposal(6, 2)}
    lrn = learner()
    y = np.array([5.0, 4, 3, 2, 1, 0.5, 6, 7])  # trial 5 beats its base 2 (loss 3)

    def history(predicted: float) -> History:
        h = History.from_values(np.full((8, 2), 0.5), y)
        pruned = np.zeros(8, bool)
        pruned[6] = True
        step, final = np.full(8, np.nan), np.full(8, np.nan)
        step[6], final[6] = 2.0, predicted
        return replace(h, pruned=pruned, step=step, final_loss=final,
                       final_score=final.copy(), final_sd=np.where(pruned, 0.1, np.nan))

    lrn.observe(0, history(9.0), props, SPACE)  # trial 6 predicted worse than its base
    assert lrn.outcomes(0)[0][0] == 1 and lrn.outcomes(0)[1][0] == 1
    lrn.observe(0, history(0.1), props, SPACE)  # now predicted better than its base
    succ, fail = lrn.outcomes(0)
    assert succ[0] == 2 and fail[0] == 0
