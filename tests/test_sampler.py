from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
from typing import Any

from _studies import warnings_while_optimizing
import numpy as np
import optuna
from optuna.trial import TrialState
import pytest
import torch

from benchmarks.strategy_selection import mixed as six_param
from optuna_hypera import HyperaSampler
from optuna_hypera import report_stats
from optuna_hypera._explain import USER_ATTR
from optuna_hypera._storage import PROPOSAL_KEY
from optuna_hypera._storage import read_proposal
from optuna_hypera._study_cache import GROUPS_ATTR


optuna.logging.set_verbosity(optuna.logging.WARNING)


def params_of(study: optuna.Study) -> list[dict[str, Any]]:
    return [t.params for t in study.trials]


def run(sampler: HyperaSampler, n: int = 25, **kw: Any) -> optuna.Study:
    study = optuna.create_study(sampler=sampler, **kw)
    study.optimize(six_param, n_trials=n)
    return study


def test_beats_random_search_on_a_six_parameter_objective() -> None:
    hypera = [run(HyperaSampler(seed=s), 60).best_value for s in range(5)]
    rand = [run(optuna.samplers.RandomSampler(seed=s), 60).best_value  # type: ignore[arg-type]
            for s in range(5)]
    assert np.median(hypera) < np.median(rand), (hypera, rand)


def test_same_seed_same_proposals_different_seed_different() -> None:
    a = params_of(run(HyperaSampler(seed=3, n_startup_trials=5)))
    b = params_of(run(HyperaSampler(seed=3, n_startup_trials=5)))
    c = params_of(run(HyperaSampler(seed=4, n_startup_trials=5)))
    assert a == b
    assert a[5:] != c[5:]


def test_pickle_and_deepcopy_round_trip() -> None:
    sampler = HyperaSampler(seed=7, n_startup_trials=5)
    clone = pickle.loads(pickle.dumps(sampler))
    assert params_of(run(sampler)) == params_of(run(clone))
    # A used sampler pickles too (its per-process cache is dropped) and keeps working.
    used = pickle.loads(pickle.dumps(sampler))
    dup = copy.deepcopy(sampler)
    for s in (used, dup):
        assert run(s, 12).trials[-1].state == TrialState.COMPLETE


def test_proposals_and_explanations_are_stored() -> None:
    study = run(HyperaSampler(seed=0, n_startup_trials=5), 15)
    assert study.user_attrs[GROUPS_ATTR] == {
        "architecture": ["activation", "n_layers"], "optimization": ["lr"],
        "regularization": ["dropout"], "data": ["aug_prob"], "loss": ["focal_gamma"],
    }
    for t in study.trials[:5]:
        assert read_proposal(t) is None and USER_ATTR not in t.user_attrs
    for t in study.trials[5:]:
        p = read_proposal(t)
        assert p is not None and p.strategy == "cooperative"
        u = t.user_attrs[USER_ATTR]
        assert u["base_trial"] == p.base < t.number
        base = study.trials[u["base_trial"]]
        for _agent, rec in u["agents"].items():
            for name, change in rec["params"].items():
                assert change["from"] == base.params[name]
                assert change["to"] == t.params[name]
        json.dumps(u)


def test_long_proposals_are_chunked_and_survive_rdb(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'chunks.db'}"

    def wide(trial: optuna.Trial) -> float:
        return sum(trial.suggest_float(f"a_rather_long_parameter_name_{i}", -1, 1) ** 2
                   for i in range(30))

    study = optuna.create_study(storage=storage, sampler=HyperaSampler(seed=0,
                                                                       n_startup_trials=3))
    study.optimize(wide, n_trials=6)
    t = optuna.load_study(study_name=study.study_name, storage=storage).trials[-1]
    assert t.system_attrs[f"{PROPOSAL_KEY}:n"] > 1
    assert all(len(json.dumps(v)) <= 2045 for v in t.system_attrs.values())
    assert read_proposal(t) is not None


def test_malformed_and_foreign_attributes_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = run(HyperaSampler(seed=0, n_startup_trials=5), 10)
    dists = study.trials[0].distributions
    for attrs in (
        {f"{PROPOSAL_KEY}:n": 1, f"{PROPOSAL_KEY}:0": "{not json"},
        {f"{PROPOSAL_KEY}:n": 1, f"{PROPOSAL_KEY}:0": json.dumps({"v": 99})},
        {f"{PROPOSAL_KEY}:n": 3, f"{PROPOSAL_KEY}:0": "{}"},
    ):
        study.add_trial(optuna.trial.create_trial(
            params=study.trials[0].params, distributions=dists, value=1.0, system_attrs=attrs))
    text = warnings_while_optimizing(study, HyperaSampler(seed=1, n_startup_trials=5), 3, caplog)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert "trial 10" in text and "unsupported format version 99" in text
    assert "trial 12" in text


def test_failed_nan_pruned_and_infeasible_trials_are_handled() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        y = trial.suggest_int("batch_size", 8, 64, log=True)
        k = trial.number % 5
        trial.set_constraint("c", 1.0 if k == 3 else -1.0)
        if k == 1:
            raise RuntimeError("boom")
        if k == 2:
            return float("nan")
        if k == 4:
            trial.report(x**2, 0)
            raise optuna.TrialPruned()
        return x**2 + y / 64

    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=3))
    study.optimize(objective, n_trials=30, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 12  # exceptions and NaN
    assert states.count(TrialState.PRUNED) == 6
    assert any(read_proposal(t) is not None for t in study.trials)


def test_pruners_and_threads() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -2, 2)
        for step in range(5):
            trial.report((x - 1) ** 2 + 1 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (x - 1) ** 2

    study = optuna.create_study(
        sampler=HyperaSampler(seed=0, n_startup_trials=4),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=30, n_jobs=2)
    assert len(study.trials) == 30
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    keys = [tuple(t.params.values()) for t in study.trials]
    assert len(set(keys)) == len(keys)


def test_running_trials_of_other_workers_steer_proposals() -> None:
    study = run(HyperaSampler(seed=0, n_startup_trials=5), 10)
    asked = [study.ask() for _ in range(8)]
    for t in asked:
        six_param(t)  # suggests every parameter; none is told yet
    keys = [tuple(t.params.values()) for t in study.trials]
    assert len(set(keys)) == len(keys)
    running = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert all(read_proposal(t) is not None for t in running)


def test_conditional_parameters_use_the_independent_sampler() -> None:
    calls: list[str] = []

    class Spy(optuna.samplers.RandomSampler):
        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            calls.append(name)
            return super().sample_independent(study, trial, name, dist)

    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        x = trial.suggest_float("x", 0, 1)
        extra = trial.suggest_float(f"only_{kind}", 0, 1)
        return x + extra

    study = optuna.create_study(sampler=HyperaSampler(
        seed=0, n_startup_trials=4, independent_sampler=Spy(seed=0),
        warn_independent_sampling=False, conditional="independent"))
    study.optimize(objective, n_trials=15)
    assert calls and set(calls) <= {"only_a", "only_b"}


def _branches(trial: optuna.Trial) -> float:
    kind = trial.suggest_categorical("kind", ["a", "b"])
    x = trial.suggest_float("x", 0, 1)
    if kind == "a":
        return (x - 0.3) ** 2 + (trial.suggest_float("only_a", 0, 1) - 0.7) ** 2
    return 0.5 + (x - 0.6) ** 2 + trial.suggest_int("only_b", 1, 9) / 10


def test_conditional_model_puts_branch_parameters_in_the_agents_space() -> None:
    """With ``conditional="model"`` the branch parameters come from the agents once a
    finished trial has them (the independent sampler only gets a name no finished trial has
    yet), and a trial of the other branch enters the model at the centre of the range."""
    calls: list[tuple[int, str]] = []

    class Spy(optuna.samplers.RandomSampler):
        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            calls.append((trial.number, name))
            return super().sample_independent(study, trial, name, dist)

    sampler = HyperaSampler(seed=0, n_startup_trials=4, independent_sampler=Spy(seed=0),
                            warn_independent_sampling=False, conditional="model")
    study = optuna.create_study(sampler=sampler)
    study.optimize(_branches, n_trials=20)
    assert {t.params["kind"] for t in study.trials} == {"a", "b"}
    seen: set[str] = set()
    for t in study.trials:
        if t.number >= 4:
            asked = {n for (k, n) in calls if k == t.number}
            assert asked <= {"only_a", "only_b"} - seen, (t.number, asked, seen)
        seen |= set(t.params)
    (cache,) = sampler._caches.values()
    assert cache.encoder is not None
    assert cache.encoder.names == ("kind", "only_a", "only_b", "x")
    history = cache.table.view()
    col = cache.encoder.names.index("only_a")
    rows = dict(zip(history.numbers.tolist(), history.x, strict=True))
    imputed = [t.number for t in study.trials if "only_a" not in t.params and t.number in rows]
    assert imputed and all(rows[k][col] == 0.5 for k in imputed)
    assert not np.isnan(np.stack(list(rows.values()))).any()
    recorded = [t for t in study.trials if USER_ATTR in t.user_attrs]
    assert recorded
    for t in recorded:  # the record names only what the trial asked
        for agent in t.user_attrs[USER_ATTR]["agents"].values():
            assert set(agent["params"]) <= set(t.params), (t.number, agent)
            for name, move in agent["params"].items():
                assert move["to"] == t.params[name]
    act = cache.activity(cache.encoder, history)
    assert act is not None
    enc = cache.encoder
    a = enc.encode({"kind": "a", "only_a": 0.1, "only_b": 5, "x": 0.5})
    b = enc.encode({"kind": "b", "only_a": 0.1, "only_b": 5, "x": 0.5})
    np.testing.assert_array_equal(act.inactive(np.stack([a, b])),
                                  [[False, False, True, False], [False, True, False, False]])
    with pytest.raises(ValueError, match="conditional"):
        HyperaSampler(conditional="union")


def test_a_running_trial_is_compared_as_its_branch_will_ask() -> None:
    """Another worker's running trial enters the repeat check with the parameters its
    branch never asked at the imputed value, as the candidates do."""
    from optuna_hypera._conditional import IMPUTED

    sampler = HyperaSampler(seed=2, n_startup_trials=4, warn_independent_sampling=False)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_branches, n_trials=12)
    running = study.ask()
    running.suggest_categorical("kind", ["a", "b"])  # proposed (all four), one asked yet
    (cache,) = sampler._caches.values()
    enc = cache.encoder
    assert enc is not None
    proposal = cache.read(study.trials[running.number])
    assert proposal is not None
    inp = cache.study_input(study.get_trials(deepcopy=False), -1, enc)
    assert inp.pending is not None and inp.activity is not None
    (row,) = inp.pending
    off = inp.activity.inactive(proposal.x[None])[0]
    assert off.any()  # the proposal's branch leaves one branch parameter unasked
    np.testing.assert_array_equal(row[off], IMPUTED)
    np.testing.assert_allclose(row[~off], enc.snap(proposal.x)[~off])


def test_conditional_model_changes_nothing_without_conditional_parameters() -> None:
    a = run(HyperaSampler(seed=3, n_startup_trials=5, conditional="independent"), 16)
    b = run(HyperaSampler(seed=3, n_startup_trials=5), 16)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    (cache,) = b.sampler._caches.values()  # type: ignore[attr-defined]
    assert cache.encoder is not None
    assert cache.activity(cache.encoder, cache.table.view()) is None


def test_nested_conditionals_under_a_pruner_and_two_threads() -> None:
    """Parameters under a layer count (an integer key) and one nested under them, asked
    define-by-run, with Hyperband and two threads: every parameter joins the space, and a
    candidate's unasked ones are read from the layer count."""

    def objective(trial: optuna.Trial) -> float:
        n = trial.suggest_int("n_layers", 1, 3)
        v = (math.log10(trial.suggest_float("lr", 1e-4, 1e-1, log=True)) + 2.5) ** 2
        for i in range(n):
            v += (trial.suggest_float(f"units_{i}", 0, 1) - 0.3 * (i + 1)) ** 2
            if i == 1:
                v += {"relu": 0.0, "tanh": 0.1}[trial.suggest_categorical("act_1",
                                                                          ["relu", "tanh"])]
        for step in range(3):
            trial.report(v + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return v

    sampler = HyperaSampler(seed=0, n_startup_trials=5, warn_independent_sampling=False)
    study = optuna.create_study(sampler=sampler,
                                pruner=optuna.pruners.HyperbandPruner(max_resource=3))
    # Every branch finishes at least once whatever the threads' order: the startup's Sobol
    # points may skip a layer count (``_startup``), and one fresh-run pass asked no
    # three-layer trial at all.
    for n in (1, 2, 3):
        study.enqueue_trial({"n_layers": n})
    study.optimize(objective, n_trials=30, n_jobs=2)
    assert len(study.trials) == 30
    (cache,) = sampler._caches.values()
    assert cache.encoder is not None
    assert set(cache.encoder.names) == {"n_layers", "lr", "units_0", "units_1", "units_2",
                                        "act_1"}
    act = cache.activity(cache.encoder, cache.table.view())
    assert act is not None
    enc = cache.encoder
    one = enc.encode({"n_layers": 1, "lr": 1e-2, "units_0": 0.5, "units_1": 0.5,
                      "units_2": 0.5, "act_1": "relu"})
    three = enc.encode({"n_layers": 3, "lr": 1e-2, "units_0": 0.5, "units_1": 0.5,
                        "units_2": 0.5, "act_1": "relu"})
    off = dict(zip(enc.names, act.inactive(np.stack([one, three])).T.tolist(), strict=True))
    if any(t.params.get("n_layers") == 1 for t in study.trials if t.state.is_finished()):
        assert off["units_1"][0] and off["units_2"][0] and off["act_1"][0]
    assert not off["units_0"][0] and not off["lr"][0]
    if any(t.params.get("n_layers") == 3 for t in study.trials if t.state.is_finished()):
        assert not any(v[1] for v in off.values())


def test_multi_objective_raises() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=HyperaSampler())
    with pytest.raises(ValueError, match="multi-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_no_global_seeding_and_thread_count_restored() -> None:
    torch.set_num_threads(2)
    np_state = np.random.get_state()[1].copy()  # type: ignore[index]
    torch_state = torch.random.get_rng_state().clone()
    run(HyperaSampler(seed=0, n_startup_trials=3), 12)
    assert torch.get_num_threads() == 2
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # type: ignore[index]
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_a_new_sampler_catches_up_from_storage(tmp_path: Any) -> None:
    study = run(HyperaSampler(seed=0, n_startup_trials=5), 30)
    fresh = HyperaSampler(seed=1, n_startup_trials=5)
    study.sampler = fresh
    study.optimize(six_param, n_trials=1)
    (cache,) = fresh._caches.values()
    # Every finished proposal is replayed, by each of the five agents.
    assert sum(len(r) for r in cache.core.learner.replays) == 5 * 25
    assert int(cache.core.sac.updates.sum()) > 0
    # Weights round trip through the safe format, value for value.
    path = tmp_path / "agents.pt"
    fresh.save_weights(path)
    saved = cache.core.sac.state_dict()
    loaded = HyperaSampler(seed=2, weights=path, n_startup_trials=5)
    restored = loaded._cache_for(study).core.sac.state_dict()
    assert saved.keys() == restored.keys()
    for k, v in saved.items():
        assert torch.equal(v, restored[k]), k
    fresh_init = HyperaSampler(seed=2)._cache_for(study).core.sac.state_dict()
    assert not torch.equal(fresh_init["actor.enc1.weight"], saved["actor.enc1.weight"])


def test_report_stats_validates_and_merges() -> None:
    study = optuna.create_study()
    trial = study.ask()
    report_stats(trial, grad_norm=1.5, val_loss=0.3)
    report_stats(trial, val_loss=0.2, gpu_mem=1e9)
    assert trial.user_attrs["hypera_stats"] == {"grad_norm": 1.5, "val_loss": 0.2,
                                                "gpu_mem": 1e9}
    with pytest.raises(ValueError):
        report_stats(trial, grad_norm=float("inf"))
    with pytest.raises(TypeError):
        report_stats(trial, grad_norm="big")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"strategy": "greedy"}, "strategy"),
        ({"conflict": "vote"}, "conflict"),
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"groups": {"optimiser": ["lr"]}}, "'optimiser'"),
        ({"torch_threads": 0}, "torch_threads"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        HyperaSampler(**kwargs)


def test_reseed_rng_reseeds_everything_the_sampler_owns() -> None:
    reseeded = HyperaSampler(seed=5, n_startup_trials=5)
    reseeded.reseed_rng()
    a = params_of(run(HyperaSampler(seed=5, n_startup_trials=5), 12))
    b = params_of(run(reseeded, 12))
    assert a[0] != b[0]  # startup sampler reseeded
    assert a[5:] != b[5:]  # agents (their torch generators derive from the sampler's RNG)


def test_a_proposal_as_the_writer_keeps_it_equals_what_every_worker_reads() -> None:
    from optuna_hypera._schema import Proposal

    study = optuna.create_study(sampler=HyperaSampler(seed=1, n_startup_trials=4))
    study.optimize(lambda t: (t.suggest_float("u", -1, 1) - 0.2) ** 2
                   + t.suggest_int("k", 0, 4), n_trials=8)
    read = [p for t in study.trials if (p := read_proposal(t)) is not None]
    assert len(read) >= 3
    rng = np.random.RandomState(0)
    for stored in read:  # made full-precision again, as the writer holds it
        p = dataclasses.replace(
            stored, x=np.clip(stored.x + rng.randn(len(stored.x)) * 1e-3, 0, 1),
            glob=stored.glob + rng.randn(len(stored.glob)) * 1e-3,
            cand=stored.cand + rng.randn(len(stored.cand)) * 1e-3,
            agents={n: dataclasses.replace(r, tokens=r.tokens + rng.randn(*r.tokens.shape),
                                           action=r.action * 0.3337, value=r.value + 1e-7)
                    for n, r in stored.agents.items()},
            prediction={k: v + 1e-6 for k, v in stored.prediction.items()})
        again = Proposal.from_json(p.to_json())
        kept = p.stored()
        for field in ("names", "base", "strategy", "conflict", "prediction"):
            assert getattr(kept, field) == getattr(again, field)
        for field in ("x", "glob", "cand"):
            np.testing.assert_array_equal(getattr(kept, field), getattr(again, field))
        for name, rec in again.agents.items():
            mine = kept.agents[name]
            assert (mine.params, mine.value, mine.moved, mine.step) == (
                rec.params, rec.value, rec.moved, rec.step)
            np.testing.assert_array_equal(mine.tokens, rec.tokens)
            np.testing.assert_array_equal(mine.action, rec.action)


def test_the_log_ei_scorer_picks_by_the_teacher_rule_among_the_same_candidates() -> None:
    with pytest.raises(ValueError, match="scorer"):
        HyperaSampler(scorer="ucb")

    def objective(t: optuna.Trial) -> float:
        return sum((t.suggest_float(f"x{j}", 0, 1) - 0.3) ** 2 for j in range(4))

    runs = {}
    for scorer in ("critics", "log-ei", "staged", "auto"):
        sampler = HyperaSampler(seed=2, n_startup_trials=5, scorer=scorer)
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=14)
        core = next(iter(sampler._caches.values())).core
        assert core.coordinator.chooser == {"log-ei": "teacher", "critics": "critic",
                                            "staged": "staged", "auto": "staged"}[scorer]
        if scorer in ("staged", "auto"):  # where the critics take over
            assert core.coordinator.stage_trials == {"staged": 50, "auto": 150}[scorer]
        runs[scorer] = [t.params for t in study.trials]
        picked = {t.user_attrs["hypera"]["prediction"]["picked_by"] for t in study.trials[7:]}
        assert picked == {"critics" if scorer == "critics" else "log-ei"}
    assert runs["critics"][:5] == runs["log-ei"][:5]  # the same startup design
    assert runs["critics"][5:] != runs["log-ei"][5:]
    # Staged and auto: the teacher's picks while the study is short (50 or 150 trainings).
    assert runs["staged"] == runs["log-ei"] == runs["auto"]
    assert HyperaSampler()._scorer == "auto"


@pytest.mark.parametrize(("scorer", "stage"), [("auto", 150), ("staged", 50)])
def test_a_staged_scorer_hands_over_to_the_critics_at_its_stage_in_trainings(
        scorer: str, stage: int) -> None:
    dists = {f"x{j}": optuna.distributions.FloatDistribution(0, 1) for j in range(3)}
    rng = np.random.default_rng(0)

    def picked_after(n_complete: int, n_pruned: int) -> str:
        study = optuna.create_study(sampler=HyperaSampler(seed=0, scorer=scorer))
        for i in range(n_complete + n_pruned):
            params = {k: float(rng.uniform()) for k in dists}
            pruned = i % 2 == 1 and i < 2 * n_pruned
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=dists,
                value=None if pruned else sum((v - 0.3) ** 2 for v in params.values()),
                intermediate_values={0: 1.0} if pruned else None,
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE))
        study.optimize(lambda t: sum((t.suggest_float(k, 0, 1) - 0.3) ** 2 for k in dists),
                       n_trials=1)
        return str(study.trials[-1].user_attrs["hypera"]["prediction"]["picked_by"])

    assert picked_after(stage - 1, 0) == "log-ei"
    assert picked_after(stage - 1, 5) == "log-ei"  # pruned trials are not trainings
    assert picked_after(stage, 0) == "critics"


def test_trial_durations_do_not_change_what_a_seeded_sampler_proposes() -> None:
    """Wall-clock time varies from run to run on real training; a seeded study must not."""
    import datetime

    dists = {"x": optuna.distributions.FloatDistribution(-3, 3),
             "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
             "k": optuna.distributions.CategoricalDistribution(["a", "b", "c"])}
    rng = np.random.default_rng(0)
    history = [{"x": float(rng.uniform(-3, 3)), "lr": float(10 ** rng.uniform(-4, 0)),
                "k": str(rng.choice(["a", "b", "c"]))} for _ in range(14)]

    def loss(p: dict[str, Any]) -> float:
        return (p["x"] - 1) ** 2 + abs(np.log10(p["lr"]) + 2) + (p["k"] == "b")

    def proposals(seconds: list[float]) -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=5))
        start = datetime.datetime(2026, 1, 1)
        for i, (p, s) in enumerate(zip(history, seconds, strict=True)):
            # Trials finish in the order they started, whatever they last.
            t = optuna.trial.create_trial(params=p, distributions=dists, value=loss(p))
            t.datetime_start = start + datetime.timedelta(seconds=300 * i)
            t.datetime_complete = t.datetime_start + datetime.timedelta(seconds=s)
            study.add_trial(t)
        out = []
        for _ in range(4):
            trial = study.ask(dists)
            out.append(trial.params)
            study.tell(trial, loss(trial.params))
        return out

    assert proposals([5.0] * 14) == proposals(rng.uniform(1.0, 200.0, 14).tolist())


@pytest.mark.parametrize(("n_params", "startup"), [(3, 7), (9, 7), (14, 7)])
def test_the_default_startup_is_7_trials_whatever_the_size(
        n_params: int, startup: int) -> None:
    from optuna_hypera._startup import STARTUP_TRIALS

    def bowl(trial: optuna.Trial) -> float:
        return sum((trial.suggest_float(f"x{i}", 0, 1) - 0.3) ** 2 for i in range(n_params))

    assert startup == STARTUP_TRIALS
    study = optuna.create_study(sampler=HyperaSampler(seed=0))
    study.optimize(bowl, n_trials=12)
    agents = [read_proposal(t) is not None for t in study.trials]
    assert agents == [False] * startup + [True] * (12 - startup)
    # an explicit count still wins over the rule
    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=4))
    study.optimize(bowl, n_trials=6)
    assert [read_proposal(t) is not None for t in study.trials] == [False] * 4 + [True] * 2
