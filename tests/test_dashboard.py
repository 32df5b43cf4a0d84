from __future__ import annotations

import json
import math
from typing import Any

from _services import distributed
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
import pytest

from optuna_hypera._dashboard import GRAPH_OBJECT_ID
from optuna_hypera._dashboard import agent_credit
from optuna_hypera._dashboard import publish_dashboard


AGENTS = ("architecture", "optimization", "regularization", "data", "loss")
PLOT_PREFIX = f"dashboard:plot_data:{GRAPH_OBJECT_ID}:"


def _record(
    base: int | None, changed: dict[str, int], delta: dict[str, float] | None = None
) -> dict[str, Any]:
    """A ``hypera`` attribute where agent ``name`` changed ``changed[name]`` parameters, each by
    ``delta[name]`` (default 0.1)."""
    return {
        "base_trial": base,
        "strategy": "independent",
        "conflict": "value",
        "value_estimate": 0.0,
        "agents": {
            name: {
                "value": 0.1,
                "params": {
                    f"p{i}": {"from": 0.0, "to": 1.0, "delta": (delta or {}).get(name, 0.1)}
                    for i in range(changed.get(name, 0))
                },
            }
            for name in AGENTS
        },
    }


def _handmade_study(sign: float = 1.0) -> optuna.Study:
    """Nine trials whose credit is worked out by hand in ``test_agent_credit_exact_counts``."""
    direction = "minimize" if sign > 0 else "maximize"
    study = optuna.create_study(direction=direction)
    rows: list[tuple[float | None, object]] = [
        (10.0, None),  # 0: startup trial
        (8.0, None),  # 1: startup trial
        (9.0, _record(1, {"optimization": 1, "regularization": 2})),  # 2: worse than 1
        (5.0, _record(1, {"optimization": 1})),  # 3: beats 1, new best
        (7.0, _record(3, {"architecture": 1})),  # 4: worse than 3
        (None, _record(3, {"data": 4})),  # 5: FAIL: reward -1, as the agents are paid
        (4.0, _record(99, {"data": 1})),  # 6: unknown base, new best
        (6.0, "{not json"),  # 7: malformed, skipped
        (3.0, json.dumps(_record(6, {"loss": 3}))),  # 8: JSON text, beats 6, new best
    ]
    for value, record in rows:
        user_attrs = {} if record is None else {"hypera": record}
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE if value is not None else TrialState.FAIL,
                value=None if value is None else sign * value,
                params={"x": 0.5},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                user_attrs=user_attrs,
            )
        )
    return study


# Finished scores ranked best first: 8, 6, 3, 7, 4, 1, 2, 0 -> rank(n) = position / 7.
EXPECTED = {
    "architecture": {  # trial 4: rank 4/7 vs base 3 at 2/7
        "proposals": 1,
        "params_changed": 1,
        "improvements": 0,
        "improvement_rate": 0.0,
        "new_bests": 0,
        "mean_rank_improvement": -2 / 7,
        "credit": 0.0,
    },
    "optimization": {  # trials 2 (-1/7) and 3 (+3/7), both against base 1 at 5/7
        "proposals": 2,
        "params_changed": 2,
        "improvements": 1,
        "improvement_rate": 0.5,
        "new_bests": 1,
        "mean_rank_improvement": 1 / 7,
        "credit": 3 / 7,  # only trial 3 climbed
    },
    "regularization": {
        "proposals": 1,
        "params_changed": 2,
        "improvements": 0,
        "improvement_rate": 0.0,
        "new_bests": 0,
        "mean_rank_improvement": -1 / 7,
        "credit": 0.0,
    },
    "data": {  # trial 5 failed (reward -1); trial 6's base is unknown: never compared
        "proposals": 2,
        "params_changed": 5,
        "improvements": 0,
        "improvement_rate": 0.0,
        "new_bests": 1,
        "mean_rank_improvement": -1.0,
        "credit": 0.0,
    },
    "loss": {  # trial 8 at rank 0 vs base 6 at 1/7
        "proposals": 1,
        "params_changed": 3,
        "improvements": 1,
        "improvement_rate": 1.0,
        "new_bests": 1,
        "mean_rank_improvement": 1 / 7,
        "credit": 1 / 7,
    },
}


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["minimize", "maximize"])
def test_agent_credit_exact_counts(sign: float) -> None:
    study = _handmade_study(sign)
    credit = agent_credit(study.get_trials(), study.direction)
    assert set(credit) == set(AGENTS)
    for name, expected in EXPECTED.items():
        for key, value in expected.items():
            assert credit[name][key] == pytest.approx(value, abs=1e-12), (name, key)


def test_agent_credit_accepts_direction_names_and_empty_input() -> None:
    study = _handmade_study()
    assert agent_credit(study.get_trials(), "minimize") == agent_credit(
        study.get_trials(), optuna.study.StudyDirection.MINIMIZE
    )
    assert agent_credit([], "maximize") == {}


def test_credit_is_shared_in_proportion_to_the_moves() -> None:
    study = optuna.create_study()
    dist = {"x": FloatDistribution(0.0, 1.0)}
    moves = {"optimization": 1, "regularization": 2, "loss": 0}
    deltas = {"optimization": -0.3, "regularization": 0.05}  # |moves|: 0.3 vs 2 * 0.05
    for value, record in [
        (10.0, None),
        (5.0, _record(0, moves, deltas)),  # climbs from rank 1 to rank 0
        (20.0, _record(1, moves, deltas)),  # falls: no credit
    ]:
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params={"x": 0.5},
                distributions=dist,
                user_attrs={} if record is None else {"hypera": record},
            )
        )
    credit = agent_credit(study.trials, "minimize")
    assert credit["optimization"]["credit"] == pytest.approx(0.5 * 0.75)
    assert credit["regularization"]["credit"] == pytest.approx(0.5 * 0.25)
    assert credit["loss"]["credit"] == 0.0 and credit["loss"]["proposals"] == 0
    assert credit["optimization"]["mean_rank_improvement"] == pytest.approx((0.5 - 1.0) / 2)


def _stored_figure(study: optuna.Study) -> dict[str, Any]:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    chunks = {k: v for k, v in attrs.items() if k.startswith(PLOT_PREFIX) and v}
    assert chunks, "the credit figure is not stored"
    return json.loads("".join(chunks[f"{PLOT_PREFIX}{i}"] for i in range(len(chunks))))


def test_publish_dashboard_writes_table_and_figure() -> None:
    from optuna_dashboard import get_note

    study = _handmade_study()
    study.set_user_attr("hypera_groups", {name: [f"{name}_param"] for name in AGENTS})
    publish_dashboard(study)

    note = get_note(study)
    rows = {line.split("|")[1].strip(): line for line in note.splitlines() if line.count("|") > 7}
    assert set(AGENTS) <= set(rows)
    cells = [c.strip() for c in rows["optimization"].split("|")[1:-1]]
    assert cells == [
        "optimization", "optimization_param", "2", "2", "1 (50%)", "1", "+0.143", "0.429"
    ]
    assert "9 finished trials, 6 proposed" in note  # the failed trial 5 counts (reward -1)

    figure = _stored_figure(study)
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert list(traces) == list(AGENTS)  # the order of ``hypera_groups``
    # Steps at the agent's compared proposals, carried flat to the newest trial (8).
    assert traces["optimization"]["x"] == [2, 3, 8]
    assert traces["optimization"]["y"] == pytest.approx([0.0, 3 / 7, 3 / 7], abs=1e-4)
    assert traces["data"]["x"] == [5, 8]  # its failed trial 5 was compared (credit stays 0)


def test_publish_dashboard_is_bounded_and_overwrites() -> None:
    study = optuna.create_study()
    dist = {"x": FloatDistribution(0.0, 1.0)}
    trials = [
        optuna.trial.create_trial(
            value=float(1000 - i),
            params={"x": i / 1000},
            distributions=dist,
            user_attrs={"hypera": _record(i - 1, {"loss": 1})} if i else {},
        )
        for i in range(1000)
    ]
    study.add_trials(trials)
    publish_dashboard(study)
    publish_dashboard(study)  # a second publish replaces the first
    figure = _stored_figure(study)
    loss = next(trace for trace in figure["data"] if trace["name"] == "loss")
    assert len(loss["x"]) == 200
    assert loss["x"][0] == 1 and loss["x"][-1] == 999
    # Each trial beats its base by one rank step of 1/999, so the curve ends at 999/999.
    assert loss["y"][-1] == pytest.approx(1.0, abs=1e-3)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert sum(k.startswith(PLOT_PREFIX) for k in attrs) <= 12
    assert agent_credit(study.get_trials(), "minimize")["loss"]["new_bests"] == 999


def test_sampler_publishes_dashboard_during_a_short_study() -> None:
    from optuna_dashboard import get_note

    from optuna_hypera import HyperaSampler

    # The agents start at trial 2, so the first refresh (at 5 finished trials; later ones are
    # throttled by time) already has their parameter groups and moves.
    sampler = HyperaSampler(seed=0, n_startup_trials=2, dashboard_every=5)
    study = optuna.create_study(sampler=sampler)
    study.optimize(distributed.objective, n_trials=15)

    note = get_note(study)
    assert note.strip()
    for name in AGENTS:
        assert name in note
    figure = _stored_figure(study)
    assert {trace["name"] for trace in figure["data"]} == set(AGENTS)
    credit = agent_credit(study.get_trials(), study.direction)
    proposed = [t for t in study.trials if "hypera" in t.user_attrs]
    assert proposed, "no trial was proposed by the agents"
    # Every proposed trial counts for at least one agent unless no agent changed anything.
    assert sum(int(c["proposals"]) for c in credit.values()) >= len(proposed) - sum(
        all(not a["params"] for a in t.user_attrs["hypera"]["agents"].values()) for t in proposed
    )
    assert all(math.isfinite(c["mean_rank_improvement"]) for c in credit.values())


def test_the_note_holds_predictions_against_outcomes() -> None:
    from optuna_dashboard import get_note

    from optuna_hypera import HyperaSampler
    from optuna_hypera import publish_dashboard

    study = optuna.create_study(sampler=HyperaSampler(seed=1, n_startup_trials=4,
                                                      dashboard_every=0))
    study.optimize(distributed.objective, n_trials=20)
    publish_dashboard(study)
    note = get_note(study)
    assert "## Predictions against outcomes" in note
    lines = [ln for ln in note.splitlines() if "rank correlation" in ln]
    assert len(lines) == 2
    for ln in lines:  # a finite correlation in [-1, 1]
        assert -1.0 <= float(ln.rstrip(" |").rsplit("|", 1)[1]) <= 1.0
    predicted = [t for t in study.trials if "prediction" in t.user_attrs.get("hypera", {})]
    assert f"{len(predicted)} completed trials" in note
