"""Which parameters a candidate's trial would ask (``_conditional.Activity``) and the
candidates valued as asked (``Context.as_asked``)."""

from __future__ import annotations

import numpy as np

from optuna_hypera._conditional import IMPUTED
from optuna_hypera._conditional import Activity
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import Space


def _space() -> Space:
    # kind (3 choices), lr (always), momentum (asked under choice 0), beta (under 1)
    return Space.build(["kind", "lr", "momentum", "beta"],
                       [BINNED, CONTINUOUS, CONTINUOUS, CONTINUOUS], [3, 0, 0, 0],
                       categorical=[True, False, False, False])


def test_a_candidate_reads_the_parameters_its_branch_asked() -> None:
    x = np.array([[0.1, 0.2, 0.7, IMPUTED],     # choice 0 asked momentum
                  [0.5, 0.3, IMPUTED, 0.9],     # choice 1 asked beta
                  [0.5, 0.4, IMPUTED, 0.1]])
    present = np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 1, 0, 1]], bool)
    act = Activity(_space(), x, present)
    cand = np.array([[0.2, 0.5, 0.9, 0.9],   # choice 0: beta not asked
                     [0.4, 0.5, 0.9, 0.9],   # choice 1: momentum not asked
                     [0.9, 0.5, 0.9, 0.9]])  # choice 2: no finished trial, nothing known
    np.testing.assert_array_equal(act.inactive(cand), [[0, 0, 0, 1], [0, 0, 1, 0],
                                                       [0, 0, 0, 0]])


def test_without_conditional_parameters_nothing_is_inactive() -> None:
    x = np.random.RandomState(0).uniform(size=(5, 4))
    act = Activity(_space(), x, np.ones((5, 4), bool))
    assert not act.inactive(np.random.RandomState(1).uniform(size=(7, 4))).any()


def test_a_branch_that_asked_once_keeps_asking() -> None:
    """A parameter asked by any finished trial of a key counts as asked there (nested or
    numeric conditions the key does not see leave it in)."""
    x = np.array([[0.1, 0.2, 0.7, IMPUTED], [0.1, 0.2, IMPUTED, IMPUTED]])
    present = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    act = Activity(_space(), x, present)
    np.testing.assert_array_equal(act.inactive(np.array([[0.0, 0.5, 0.5, 0.5]])),
                                  [[0, 0, 0, 1]])


def test_as_asked_puts_unasked_parameters_at_the_imputed_value() -> None:
    from optuna_hypera._decision import Context

    x = np.array([[0.1, 0.2, 0.7, IMPUTED], [0.5, 0.3, IMPUTED, 0.9]])
    present = np.array([[1, 1, 1, 0], [1, 1, 0, 1]], bool)
    ctx = Context.__new__(Context)
    ctx.activity = Activity(_space(), x, present)
    cand = np.array([[0.2, 0.5, 0.9, 0.8], [0.4, 0.5, 0.9, 0.8]])
    np.testing.assert_array_equal(ctx.as_asked(cand), [[0.2, 0.5, 0.9, IMPUTED],
                                                       [0.4, 0.5, IMPUTED, 0.8]])
    ctx.activity = None
    assert ctx.as_asked(cand) is cand


def test_a_branch_base_is_the_best_trial_of_another_choice() -> None:
    """``Context.branch_base``: the best-ranked row whose choice of a categorical parameter
    differs from the incumbent's; ``None`` when every trial took the incumbent's choice."""
    from optuna_hypera._decision import Base
    from optuna_hypera._decision import Context

    x = np.array([[0.1, 0.5, 0.5, 0.5],   # choice 0: the incumbent
                  [0.1, 0.4, 0.5, 0.5],   # choice 0
                  [0.9, 0.3, 0.5, 0.5],   # choice 2, third best
                  [0.5, 0.2, 0.5, 0.5],   # choice 1, fourth best
                  [0.9, 0.1, 0.5, 0.5]])  # choice 2, worst
    ctx = Context.__new__(Context)
    ctx.space, ctx.rows_x = _space(), x
    ctx.ranked = np.array([0, 1, 2, 3, 4])
    ctx.incumbent = Base(0, x[0], np.zeros(0))
    picks = {ctx.branch_base(np.random.RandomState(s)) for s in range(40)}
    assert picks == {2, 3}
    ctx.ranked = np.array([0, 1])
    assert ctx.branch_base(np.random.RandomState(0)) is None


def test_asked_only_drops_the_moves_of_unasked_parameters() -> None:
    from optuna_hypera._explain import asked_only

    info = {"base_trial": 3, "agents": {
        "optimization": {"value": 0.1, "params": {"lr": {"from": 0.1, "to": 0.2, "delta": 0.1},
                                                  "momentum": {"from": None, "to": 0.9,
                                                               "delta": 0.4}}},
        "loss": {"value": None, "params": {}}}}
    trimmed = asked_only(info, {"lr": 0.2, "optimizer": "adam"})
    assert trimmed is not None
    assert trimmed["agents"]["optimization"]["params"] == {
        "lr": {"from": 0.1, "to": 0.2, "delta": 0.1}}
    assert trimmed["base_trial"] == 3 and trimmed["agents"]["loss"] == {"value": None,
                                                                        "params": {}}
    assert info["agents"]["optimization"]["params"]["momentum"]["to"] == 0.9  # not mutated
    assert asked_only(info, {"lr": 0.2, "momentum": 0.9}) is None
