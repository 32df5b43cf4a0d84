"""Transfer from past studies: ``HyperaSampler(source_studies=...)``, the ensemble weights,
hindsight experience, and ``python -m optuna_hypera pretrain --storage ...``."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import pickle
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.trial import create_trial
import pytest
import torch

from benchmarks.sampler_speed import seconds_per_trial
from benchmarks.sampler_speed import tpe_source6
from optuna_hypera import HyperaSampler
from optuna_hypera import _source_set
from optuna_hypera import pretrain_on_studies
from optuna_hypera.__main__ import main as cli
from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import SACConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._experience import REACH
from optuna_hypera._experience import adapt
from optuna_hypera._experience import hindsight
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._sources import past_study
from optuna_hypera._sources import read_sources
from optuna_hypera._surrogate import Surrogate
from optuna_hypera._transfer import Ensemble
from optuna_hypera._transfer import SourceData
from optuna_hypera._transfer import SourceModel
from optuna_hypera._transfer import TransferPrior
from optuna_hypera._transfer import ranking_weights


optuna.logging.set_verbosity(optuna.logging.WARNING)
OPT = np.array([0.8, 0.2, 0.65, 0.35])


def quadratic(sign: float = 1.0, shift: float = 0.0) -> Callable[[optuna.Trial], float]:
    def f(trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)])
        return sign * float(((x - OPT - shift) ** 2).sum())
    return f


def source_study(kind: str = "tpe", n: int = 30, name: str = "past") -> optuna.Study:
    """A past study of the quadratic made by TPE, by HyperaSampler or by hand (enqueued)."""
    if kind == "hypera":
        sampler: optuna.samplers.BaseSampler = HyperaSampler(seed=3, n_startup_trials=5)
    else:
        sampler = optuna.samplers.TPESampler(seed=3)
    study = optuna.create_study(sampler=sampler, study_name=name)
    if kind == "enqueued":
        rng = np.random.default_rng(0)
        for _ in range(n):
            study.enqueue_trial({f"x{i}": float(v) for i, v in enumerate(rng.random(4))})
    study.optimize(quadratic(), n_trials=n)
    return study


def flipped(study: optuna.Study) -> optuna.Study:
    """The same trials with the sign of every value flipped: a misleading source."""
    out = optuna.create_study(study_name=study.study_name + "-flipped")
    out.add_trials([create_trial(params=t.params, distributions=t.distributions,
                                 value=-t.value) for t in study.trials if t.value is not None])
    return out


def transfer_records(study: optuna.Study) -> list[tuple[int, dict[str, Any]]]:
    return [(t.number, t.user_attrs["hypera"]["transfer"]) for t in study.trials
            if "transfer" in t.user_attrs.get("hypera", {})]


# -- the ensemble -------------------------------------------------------------------------
def test_ranking_weights_follow_who_orders_the_trials_best() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=20)
    noisy_own = y + rng.normal(scale=1.0, size=20)
    w = ranking_weights([y.copy(), -y], noisy_own, y)
    assert w.shape == (3,) and w.sum() == pytest.approx(1.0)
    assert w[0] > 0.9  # the source that ranks the trials exactly
    assert w[1] == 0.0  # ranks them backwards: diluted away
    # Below MIN_TRIALS every model weighs the same.
    np.testing.assert_allclose(ranking_weights([y[:2]], noisy_own[:2], y[:2]), [0.5, 0.5])
    # Deterministic: the resamples depend on the data only (every worker agrees).
    np.testing.assert_array_equal(w, ranking_weights([y.copy(), -y], noisy_own, y))


def test_a_predicted_tie_is_half_a_misordering_whichever_trial_came_first() -> None:
    # A source that predicts a constant (it matches only a parameter the study never varies)
    # against an own model that orders the trials exactly: the own model wins, whether the
    # study's values fall or rise over time (it used to get weight 1/2 when they fell).
    y = np.arange(12.0)[::-1]
    for order in (y, y[::-1]):
        np.testing.assert_array_equal(ranking_weights([np.zeros(12)], order.copy(), order),
                                      [0.0, 1.0])
    from optuna_hypera._transfer import misorderings

    # Trials 0, 1, 2 score 2, 1, 0; the model ranks 0 worst and ties 1 and 2.
    np.testing.assert_array_equal(misorderings(np.array([3.0, 1.0, 1.0]), np.array([2.0, 1, 0])),
                                  [[0, 0, 0], [0, 0, 0.5], [0, 0.5, 0]])
    # Right, backwards, and equal scores (nothing to order).
    for pred, y, wrong in (([0, 1], [0, 1], 0.0), ([1, 0], [0, 1], 1.0), ([1, 0], [1, 1], 0.0)):
        np.testing.assert_array_equal(misorderings(np.array(pred, float), np.array(y, float)),
                                      [[0, wrong], [wrong, 0]])


def test_ranking_weights_depend_on_the_set_of_trials_not_their_order() -> None:
    rng = np.random.default_rng(4)
    n = 25
    y = rng.normal(size=n)
    sources = [y + rng.normal(scale=0.8, size=n),  # a fair source
               np.round(y + rng.normal(scale=0.5, size=n)),  # binned: many ties
               np.zeros(n)]  # constant: all ties
    own = y + rng.normal(scale=0.8, size=n)
    w = ranking_weights(sources, own, y)
    assert 0.05 < w[0] < 0.95 and 0.05 < w[-1] < 0.95  # the resamples decide: not all-or-none
    for _ in range(5):
        perm = rng.permutation(n)
        np.testing.assert_array_equal(
            ranking_weights([s[perm] for s in sources], own[perm], y[perm]), w)


def test_the_ensemble_is_its_members_weighted() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((15, 3))
    loss = ((x - 0.3) ** 2).sum(1)
    source = SourceModel(SourceData("s", np.array([0, 2]), x[:, [0, 2]], loss), 3)
    own = Surrogate.fit(x, loss, x[np.argmin(loss)])
    assert own is not None
    xq = rng.random((7, 3))
    only_source = Ensemble([source, own], np.array([1.0, 0.0]), x)
    np.testing.assert_allclose(only_source.predict(xq)[0], source.predict(xq)[0])
    np.testing.assert_allclose(only_source.slope(xq)[:, 1], 0.0)  # a coordinate it lacks
    only_own = Ensemble([source, own], np.array([0.0, 1.0]), x)
    for a, b in zip(only_own.predict(xq), own.predict(xq), strict=True):
        np.testing.assert_allclose(a, b)
    half = Ensemble([source, own], np.array([0.5, 0.5]), x)
    mu, sd = half.predict(xq)
    np.testing.assert_allclose(mu, 0.5 * source.predict(xq)[0] + 0.5 * own.predict(xq)[0])
    np.testing.assert_allclose(
        sd**2, 0.25 * source.predict(xq)[1] ** 2 + 0.25 * own.predict(xq)[1] ** 2, rtol=1e-6)
    prior = TransferPrior([source.data], 3)
    assert prior.combine(None, x[:1], loss[:1]).weights.tolist() == [1.0, 0.0]


# -- sources of every kind ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tpe", "hypera", "enqueued"])
def test_sources_made_by_any_sampler_inform_the_new_study(kind: str) -> None:
    past = source_study(kind, n=25)
    study = optuna.create_study(sampler=HyperaSampler(seed=0, source_studies=[past]))
    study.optimize(quadratic(shift=0.03), n_trials=9)
    # The first trials are the source's best configurations.
    best = sorted((t for t in past.trials if t.value is not None), key=lambda t: t.value)
    assert study.trials[0].params == best[0].params
    info = study.user_attrs["hypera_sources"]
    assert info[0]["study"] == "past" and info[0]["matched_trials"] == 25
    assert info[0]["params"] == ["x0", "x1", "x2", "x3"] and info[0]["ignored"] == []
    records = transfer_records(study)
    assert len(records) == 4  # every agent proposal (trials 5-8) says what each model weighs
    for _, r in records:
        assert set(r["sources"]) == {"past"}
        assert r["sources"]["past"] + r["own_model"] == pytest.approx(1.0, abs=1e-3)


def test_a_partly_matching_source_warns_once_and_uses_what_matches() -> None:
    past = optuna.create_study(study_name="partial")
    for k in range(12):
        past.add_trial(create_trial(
            params={"x0": k / 12, "x1": 0.5, "extra": 3, "c": "a", "x2": 0.1 * k + 0.01},
            distributions={"x0": optuna.distributions.FloatDistribution(0, 1),
                           "x1": optuna.distributions.FloatDistribution(0, 1),
                           "extra": optuna.distributions.IntDistribution(1, 5),
                           "c": optuna.distributions.CategoricalDistribution(["a", "b"]),
                           "x2": optuna.distributions.FloatDistribution(1e-3, 2, log=True)},
            value=(k / 12 - 0.3) ** 2))

    def objective(trial: optuna.Trial) -> float:
        x0 = trial.suggest_float("x0", 0, 1)
        x1 = trial.suggest_float("x1", 0, 1)
        x2 = trial.suggest_float("x2", 0, 1)  # not log: another kind of parameter
        c = trial.suggest_categorical("c", ["a", "b", "z"])  # other choices
        return (x0 - 0.3) ** 2 + x1 + x2 + (c == "z")

    study = optuna.create_study(sampler=HyperaSampler(seed=0, source_studies=[past]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(objective, n_trials=10)
    ours = [w for w in caught if "does not match the parameters" in str(w.message)]
    assert len(ours) == 1
    assert "['c', 'extra', 'x2']" in str(ours[0].message)
    info = study.user_attrs["hypera_sources"][0]
    assert info["params"] == ["x0", "x1"] and info["matched_trials"] == 12
    assert transfer_records(study)


def test_a_source_with_nothing_in_common_is_an_error() -> None:
    past = optuna.create_study(study_name="other")
    past.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=5)
    study = optuna.create_study(sampler=HyperaSampler(seed=0, source_studies=[past]))
    with pytest.raises(ValueError, match="shares no parameter"):
        study.optimize(lambda t: t.suggest_float("b", 0, 1), n_trials=4)
    with pytest.raises(TypeError):
        HyperaSampler(source_studies=["not a study"])  # type: ignore[list-item]
    multi = optuna.create_study(directions=["minimize", "minimize"])
    with pytest.raises(ValueError, match="single-objective"):
        HyperaSampler(source_studies=[multi])


# -- what transfer buys, and what it costs when the source misleads -----------------------
def first_agent_distances(sources: list[optuna.Study] | None, seed: int) -> np.ndarray:
    study = optuna.create_study(sampler=HyperaSampler(
        seed=seed, source_studies=sources, n_startup_trials=5, source_steps=20))
    study.optimize(quadratic(shift=0.02), n_trials=8)
    x = np.array([[t.params[f"x{i}"] for i in range(4)] for t in study.trials[5:8]])
    return np.sqrt(((x - OPT - 0.02) ** 2).sum(1))


def test_a_helpful_source_puts_the_first_agent_proposals_near_its_optimum() -> None:
    past = source_study("tpe", n=40)
    with_source = np.concatenate([first_agent_distances([past], s) for s in range(3)])
    without = np.concatenate([first_agent_distances(None, s) for s in range(3)])
    assert np.median(with_source) < 0.7 * np.median(without)
    assert with_source.mean() < without.mean()


def test_a_sign_flipped_source_loses_its_weight_as_the_study_runs() -> None:
    past = flipped(source_study("tpe", n=30))
    study = optuna.create_study(sampler=HyperaSampler(
        seed=0, source_studies=[past], n_startup_trials=2, source_steps=20))
    study.optimize(quadratic(), n_trials=14)
    weights = [r["sources"][past.study_name] for _, r in transfer_records(study)]
    assert weights[0] == pytest.approx(0.5)  # two trials: no evidence yet, equal weights
    assert max(weights[-5:]) <= 0.05


# -- experience and weights ---------------------------------------------------------------
def test_trials_of_other_samplers_become_hindsight_moves_from_earlier_trials() -> None:
    past = source_study("tpe", n=15)
    [source] = read_sources([past])
    ps = past_study(source, 0)
    assert ps is not None and not ps.proposals
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="thompson")
    moves = hindsight(core, ps)
    assert set(moves) <= set(range(1, 15)) and len(moves) >= 7
    h = ps.history
    # No agent proposal in the source: the trust radius, and so each agent's step, is the same
    # at every trial; read it from the records.
    steps = {name: r.step for p in moves.values() for name, r in p.agents.items()}
    scale = np.zeros(4)
    for name, r in next(iter(moves.values())).agents.items():
        scale[r.params] = 1.0 / steps[name]
    for number in range(1, 15):
        reach = (np.abs(h.x[number] - h.x[:number]) * scale).max(axis=1)
        if number not in moves:  # left out: no earlier trial reaches it in one move
            assert reach.min() >= REACH
            continue
        p = moves[number]
        assert p.base < number and reach[p.base] < REACH
        np.testing.assert_allclose(p.x, h.x[number])


def test_hindsight_moves_of_a_random_search_are_moves_the_agents_could_have_made() -> None:
    def f(trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(5)])
        return float(((x - 0.3) ** 2).sum())

    past = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    past.optimize(f, n_trials=40)
    ps = past_study(read_sources([past])[0], 0)
    assert ps is not None
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="thompson")
    moves = hindsight(core, ps)
    assert len(moves) >= 12  # about half of the trials are reachable in 5 dimensions
    actions = np.concatenate([r.action for p in moves.values() for r in p.agents.values()])
    # Clipped at the action limit they used to be a quarter of all hindsight actions.
    assert np.mean(np.abs(actions) >= 0.99 * ACTION_LIMIT) == 0.0
    rows = {int(k): i for i, k in enumerate(ps.history.numbers)}
    for number, p in moves.items():
        assert p.base < number
        base_x = ps.history.x[rows[p.base]]
        for r in p.agents.values():
            np.testing.assert_allclose(p.x[r.params], base_x[r.params] + r.step * r.action,
                                       rtol=0, atol=1e-9)


def test_adaptation_runs_once_per_sampler_and_changes_the_agents(
        monkeypatch: pytest.MonkeyPatch) -> None:
    past = source_study("tpe", n=15, name="adapt-me")
    calls = []
    real = _source_set.adapt

    def counting(*args: object, **kwargs: object) -> int:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_source_set, "adapt", counting)
    a = HyperaSampler(seed=0, source_studies=[past], source_steps=30)
    s1 = optuna.create_study(sampler=a)
    s1.optimize(quadratic(), n_trials=6)
    s2 = optuna.create_study(sampler=a)
    s2.optimize(quadratic(), n_trials=6)
    assert len(calls) == 1  # the second study of the same sampler reuses the adaptation
    adapted = a._caches[a._key(s1)].core.sac.state_dict()
    fresh = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                       conflict="thompson")
    from optuna_hypera._weights import pretrained_path

    fresh.sac.load(pretrained_path())
    before = fresh.sac.state_dict()
    assert any(not np.allclose(before[k].numpy(), adapted[k].numpy()) for k in before)
    # Reused exactly (6 trials make one agent proposal, too few for an online update).
    second = a._caches[a._key(s2)].core.sac.state_dict()
    assert all(np.array_equal(adapted[k].numpy(), second[k].numpy()) for k in adapted)


def test_the_samplers_adaptation_stops_after_some_passes_over_the_experience() -> None:
    past = source_study("tpe", n=15, name="passes")
    ps = past_study(read_sources([past])[0], 0)
    assert ps is not None
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="thompson")

    def steps_taken(steps: int, max_passes: float | None) -> int:
        done: list[int] = []
        adapt(core, [ps], steps, np.random.RandomState(0), torch.Generator().manual_seed(0),
              on_step=done.append, max_passes=max_passes)
        assert done == list(range(1, len(done) + 1))
        return len(done)

    assert steps_taken(12, None) == 12  # the team command: every step asked for
    # Fewer than a batch of transitions: every draw goes over all of them once.
    assert steps_taken(12, 5) == 5
    assert steps_taken(3, 5) == 3
    assert _source_set.PASSES == 50


def test_a_source_adds_little_to_the_cost_of_a_study() -> None:
    # 0.08 to 0.26 s per trial before the adaptation was capped at PASSES (under 0.02 without
    # a source); the target is 0.05, and 3x that leaves room for a busy machine.
    assert seconds_per_trial([tpe_source6()]) < 0.15


def test_identical_samplers_with_sources_give_identical_trials() -> None:
    past = source_study("tpe", n=15, name="same-twice")
    runs = []
    for _ in range(2):
        study = optuna.create_study(
            sampler=HyperaSampler(seed=3, source_studies=[past], source_steps=20))
        study.optimize(quadratic(), n_trials=12)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_the_team_pretrain_command_round_trips_without_unpickling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    for name in ("mlp-a", "mlp-b"):
        study = optuna.create_study(storage=url, study_name=name)
        study.optimize(quadratic(shift=0.05 if name == "mlp-b" else 0.0), n_trials=15)
    out = tmp_path / "team.pt"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something was unpickled")

    with monkeypatch.context() as m:
        m.setattr(pickle, "loads", refuse)
        m.setattr(pickle, "load", refuse)
        assert cli(["pretrain", "--storage", url, "--study", "mlp-a", "--study", "mlp-b",
                    "--out", str(out), "--steps", "40", "--no-progress"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["command"].startswith("python -m optuna_hypera pretrain --storage")
    assert [s["study"] for s in record["studies"]] == ["mlp-a", "mlp-b"]
    # Learned from: every trial after each study's first that an earlier trial reaches.
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=SACConfig(), strategy="cooperative",
                      conflict="thompson")
    sources = read_sources([optuna.load_study(study_name=n, storage=url)
                            for n in ("mlp-a", "mlp-b")])
    reachable = sum(len(hindsight(core, ps)) for k, s in enumerate(sources)
                    if (ps := past_study(s, k)) is not None)
    assert 0 < reachable <= 28
    assert record["trials_learned_from"] == reachable and record["versions"]["torch"]

    def first_proposals(weights: Any) -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=HyperaSampler(seed=5, weights=weights,
                                                          n_startup_trials=3))
        study.optimize(quadratic(), n_trials=6)
        return [t.params for t in study.trials[3:]]

    team = first_proposals(str(out))
    assert team == first_proposals(str(out))  # loads, deterministically
    assert team != first_proposals("pretrained")  # and changes what the agents propose
    with pytest.raises(ValueError, match="at least one study"):
        pretrain_on_studies(url, [], tmp_path / "x.pt")


def test_the_dashboard_note_names_the_sources_and_their_weight() -> None:
    from optuna_dashboard import get_note

    from optuna_hypera import publish_dashboard

    past = source_study("tpe", n=20)
    study = optuna.create_study(sampler=HyperaSampler(seed=0, source_studies=[past],
                                                      source_steps=10, dashboard_every=0))
    study.optimize(quadratic(), n_trials=8)
    publish_dashboard(study)
    note = get_note(study)
    assert "## Transfer from past studies" in note
    row = next(line for line in note.splitlines() if line.startswith("| past |"))
    weight = transfer_records(study)[-1][1]["sources"]["past"]
    assert row.split("|")[2].strip() == "20" and row.split("|")[-2].strip() == f"{weight:.2f}"


def test_a_conditional_source_enters_with_its_branch_parameters_imputed() -> None:
    """With ``impute`` (``conditional="model"``), a parameter one source trial has is
    matched and the trials of other branches enter at ``IMPUTED``; without it, a parameter
    fewer than half of the trials have is ignored and its trials are left out."""
    from optuna.distributions import CategoricalDistribution
    from optuna.distributions import FloatDistribution

    from optuna_hypera._conditional import IMPUTED
    from optuna_hypera._encoding import SpaceEncoder
    from optuna_hypera._sources import align

    kind, u = CategoricalDistribution(["a", "b"]), FloatDistribution(0.0, 1.0)
    study = optuna.create_study()
    study.add_trials([
        create_trial(params={"kind": "a", "x": 0.1, "only_a": 0.9}, value=1.0,
                     distributions={"kind": kind, "x": u, "only_a": u}),
        create_trial(params={"kind": "b", "x": 0.2}, value=2.0,
                     distributions={"kind": kind, "x": u}),
        create_trial(params={"kind": "b", "x": 0.3}, value=3.0,
                     distributions={"kind": kind, "x": u}),
    ])
    (source,) = read_sources([study])
    enc = SpaceEncoder({"kind": kind, "only_a": u, "x": u})
    imputed = align(source, enc, impute=True)
    assert imputed.matched == ["kind", "only_a", "x"]
    np.testing.assert_allclose(imputed.data.x[:, 1], [0.9, IMPUTED, IMPUTED])
    np.testing.assert_allclose(imputed.data.loss, [1.0, 2.0, 3.0])
    plain = align(source, enc)
    assert plain.matched == ["kind", "x"] and len(plain.data.loss) == 3
