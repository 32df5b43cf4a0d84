from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import pytest

from optuna_hypera._encoding import SpaceEncoder


@st.composite
def distribution_and_value(draw: st.DrawFn) -> tuple[BaseDistribution, Any]:
    kind = draw(st.sampled_from(["float", "float_log", "float_step", "int", "int_log",
                                 "int_step", "categorical"]))
    if kind == "categorical":
        choices = draw(st.lists(
            st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                      st.floats(-10, 10, allow_nan=False), st.text(max_size=3)),
            # Unique by equality: Optuna finds a choice by ==, so False and 0, or 1 and 1.0,
            # are one choice to it whatever their types.
            min_size=1, max_size=6, unique_by=lambda v: v,
        ))
        dist: BaseDistribution = CategoricalDistribution(choices)
        return dist, draw(st.sampled_from(choices))
    if kind.startswith("int"):
        low = draw(st.integers(1 if kind == "int_log" else -50, 50))
        high = draw(st.integers(low, low + 200))
        step = draw(st.integers(1, 7)) if kind == "int_step" else 1
        idist = IntDistribution(low, high, log=kind == "int_log", step=step)
        k = draw(st.integers(0, (idist.high - idist.low) // idist.step))
        return idist, idist.low + k * idist.step
    if kind == "float_log":
        low = draw(st.floats(1e-8, 1e3))
        high = draw(st.floats(low, low * 1e6))
        fdist = FloatDistribution(low, high, log=True)
        return fdist, min(max(draw(st.floats(low, high)), low), high)
    low = draw(st.floats(-1e3, 1e3))
    if kind == "float_step":
        step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0]))
        fdist = FloatDistribution(low, low + step * draw(st.integers(0, 60)), step=step)
        k = draw(st.integers(0, int(round((fdist.high - fdist.low) / step))))
        return fdist, fdist.low + k * step
    high = draw(st.floats(low, low + 1e3))
    fdist = FloatDistribution(low, high)
    return fdist, draw(st.floats(low, high))


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None)
@given(distribution_and_value())
def test_round_trip(dv: tuple[BaseDistribution, Any]) -> None:
    dist, value = dv
    enc = SpaceEncoder({"p": dist})
    u = enc.encode({"p": value})
    assert u.shape == (1,) and 0.0 <= u[0] <= 1.0
    back = enc.decode(u)["p"]
    assert dist._contains(dist.to_internal_repr(back))
    if isinstance(dist, FloatDistribution) and dist.step is None:
        assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(value)))
        assert isinstance(back, float)
    elif isinstance(dist, FloatDistribution):
        assert math.isclose(back, value, abs_tol=1e-9 * max(1.0, abs(value)))
    elif isinstance(dist, IntDistribution):
        assert back == value and isinstance(back, int)
    else:
        assert dist.to_internal_repr(back) == dist.to_internal_repr(value)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=200, deadline=None)
@given(distribution_and_value(), st.floats(-0.5, 1.5))
def test_any_coordinate_decodes_to_a_valid_value(
    dv: tuple[BaseDistribution, Any], u: float
) -> None:
    dist, _ = dv
    enc = SpaceEncoder({"p": dist})
    value = enc.decode(np.array([u]))["p"]
    assert dist._contains(dist.to_internal_repr(value))
    # Snapping is idempotent and lands on the value's own coordinate.
    s = enc.snap(np.array([u]))
    np.testing.assert_allclose(enc.snap(s), s)
    np.testing.assert_allclose(enc.encode({"p": value}), s, atol=1e-9)


def test_discrete_values_own_equal_bins_and_log_scale() -> None:
    enc = SpaceEncoder({
        "c": CategoricalDistribution(["a", "b", "c", "d"]),
        "i": IntDistribution(0, 10, step=5),
        "lr": FloatDistribution(1e-4, 1e-0, log=True),
    })
    np.testing.assert_allclose(enc.encode({"c": "b", "i": 5, "lr": 1e-2}),
                               [0.375, 0.5, 0.5])
    assert enc.decode(np.array([0.99, 0.0, 0.25])) == {"c": "d", "i": 0, "lr": pytest.approx(1e-3)}
    np.testing.assert_array_equal(enc.is_categorical, [1, 0, 0])
    np.testing.assert_array_equal(enc.is_log, [0, 0, 1])
    np.testing.assert_allclose(enc.granularity, [0.25, 1 / 3, 0.0])


def test_a_trial_row_reads_each_value_in_the_current_distribution() -> None:
    """A categorical whose choices were reordered maps to the same choice, not the same
    index; a value outside the current choices or range leaves the trial out."""
    from optuna.trial import create_trial

    from optuna_hypera._encoding import trial_row

    old = CategoricalDistribution(["a", "b", "c"])
    new = CategoricalDistribution(["c", "b", "a"])
    trial = create_trial(params={"k": "c", "u": 0.25}, value=1.0,
                         distributions={"k": old, "u": FloatDistribution(0.0, 1.0)})
    enc = SpaceEncoder({"k": new, "u": FloatDistribution(0.0, 1.0)})
    row = trial_row(enc, trial)
    assert row is not None
    assert enc.decode(row)["k"] == "c"
    np.testing.assert_allclose(row, [0.5 / 3, 0.25])
    assert trial_row(SpaceEncoder({"k": CategoricalDistribution(["a", "b"]),
                                   "u": FloatDistribution(0.0, 1.0)}), trial) is None
    assert trial_row(SpaceEncoder({"k": new, "u": FloatDistribution(0.5, 1.0)}), trial) is None


def test_a_missing_parameter_is_imputed_only_when_asked() -> None:
    """A conditional parameter of another branch is at ``IMPUTED`` with ``impute``; a value
    outside its distribution still leaves the trial out."""
    from optuna.trial import create_trial

    from optuna_hypera._conditional import IMPUTED
    from optuna_hypera._encoding import trial_row

    u = FloatDistribution(0.0, 1.0)
    enc = SpaceEncoder({"only_a": FloatDistribution(1e-3, 1.0, log=True), "u": u})
    trial = create_trial(params={"u": 0.25}, value=1.0, distributions={"u": u})
    assert trial_row(enc, trial) is None
    np.testing.assert_allclose(trial_row(enc, trial, impute=True), [IMPUTED, 0.25])
    outside = create_trial(params={"u": 0.25, "only_a": 1e-5}, value=1.0,
                           distributions={"u": u, "only_a": FloatDistribution(1e-6, 1.0)})
    assert trial_row(enc, outside, impute=True) is None


def test_the_union_space_keeps_conditional_parameters_and_drops_changed_ones() -> None:
    """``Intersection(union=True)``: every parameter of the completed and pruned trials,
    except one whose distribution changed (left out for good) and single-valued ones; the
    intersection of the same trials keeps only what every trial has."""
    from optuna.trial import TrialState
    from optuna.trial import create_trial

    from optuna_hypera._table import Intersection

    u, v = FloatDistribution(0.0, 1.0), FloatDistribution(0.0, 2.0)
    kind = CategoricalDistribution(["a", "b"])
    one = CategoricalDistribution(["only"])

    def trial(number: int, params: dict[str, Any], dists: dict[str, BaseDistribution],
              state: TrialState = TrialState.COMPLETE) -> Any:
        t = create_trial(params=params, distributions=dists, state=state,
                         value=None if state != TrialState.COMPLETE else 1.0)
        t.number = number
        return t

    trials = [
        trial(0, {"kind": "a", "x": 0.1, "only_a": 0.5, "w": 0.1, "c": "only"},
              {"kind": kind, "x": u, "only_a": u, "w": u, "c": one}),
        trial(1, {"kind": "b", "x": 0.2, "only_b": 0.5, "w": 1.5},
              {"kind": kind, "x": u, "only_b": u, "w": v}),
        trial(2, {"kind": "b", "x": 0.3, "late": 0.5},
              {"kind": kind, "x": u, "late": u}, TrialState.FAIL),
    ]
    union, inter = Intersection(union=True), Intersection()
    assert list(union.update(trials)) == ["kind", "only_a", "only_b", "x"]
    assert list(inter.update(trials)) == ["kind", "x"]
    trials.append(trial(3, {"kind": "a", "x": 0.4, "w": 0.2}, {"kind": kind, "x": u, "w": u},
                        TrialState.PRUNED))
    assert list(union.update(trials)) == ["kind", "only_a", "only_b", "x"]


@pytest.mark.parametrize(("low", "high", "log"), [
    (1.00000001, 1.0000000100000002, False), (1.00000001, 1.0000000100000002, True),
    (1e-08, 1.0000000000000002e-08, True)])
def test_a_float_range_a_few_ulps_wide_is_one_value(low: float, high: float, log: bool) -> None:
    """Hypothesis found FloatDistribution(1.00000001, 1.0000000100000002): not single() to
    Optuna, but every coordinate decodes to an end of it, so it must sit at 0.5 like a
    single-valued parameter (else a value encodes to 0 while its coordinate snaps to 0.5).
    Then (1e-08, 1.0000000000000002e-08, log): one ulp wide, its logarithms a few ulps of
    theirs apart, so decoding through the logarithm cannot tell its values apart either."""
    dist = FloatDistribution(low, high, log=log)
    enc = SpaceEncoder({"p": dist})
    assert enc.space.single[0]
    for u in (0.0, 0.3, 1.0):
        value = enc.decode(np.array([u]))["p"]
        assert dist._contains(value)
        np.testing.assert_array_equal(enc.encode({"p": value}), enc.snap(np.array([u])))
