"""Generated learning-curve tasks: shapes, reproducibility, divergence, crossings, monotonicity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from optuna_hypera._curve_tasks import DEFAULT_STEPS
from optuna_hypera._curve_tasks import EVALUATION_SEEDS_START
from optuna_hypera._curve_tasks import CurveTask


N = 2000
TASKS = [(4, EVALUATION_SEEDS_START), (5, EVALUATION_SEEDS_START + 1), (6, 3), (2, 7)]


def _configs(d: int, n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


@pytest.mark.parametrize(("d", "seed"), TASKS)
def test_shapes_and_final_is_the_landscape_outside_divergence(d: int, seed: int) -> None:
    task = CurveTask.sample(d, seed)
    x = _configs(d)
    curves = task.curves(x)
    assert curves.shape == (N, DEFAULT_STEPS)
    assert task.final(x).shape == task.landscape(x).shape == task.diverges(x).shape == (N,)
    ok = ~task.diverges(x)
    np.testing.assert_allclose(task.final(x)[ok], task.landscape(x)[ok], rtol=0, atol=1e-12)
    f = task.landscape(x)
    assert np.all((f > task.f0) & (f < task.f0 + task.span))
    assert np.nanmax(task.curves(x, np.random.default_rng(1))) < task.diverged_value
    assert CurveTask.sample(d, seed, n_steps=9).curves(x[:5]).shape == (5, 9)


def test_reproducible_from_d_and_seed() -> None:
    x = _configs(5, 50)
    a, b = CurveTask.sample(5, 11), CurveTask.sample(5, 11)
    np.testing.assert_array_equal(a.curves(x), b.curves(x))
    np.testing.assert_array_equal(
        a.curves(x, np.random.default_rng(3)), b.curves(x, np.random.default_rng(3))
    )
    other = CurveTask.sample(5, 12).landscape(x)
    assert np.max(np.abs(other - a.landscape(x))) > 0.05
    # The landscape does not depend on the curve length.
    np.testing.assert_array_equal(CurveTask.sample(5, 11, n_steps=9).landscape(x), a.landscape(x))


def test_bad_input_is_refused() -> None:
    task = CurveTask.sample(3, 0)
    with pytest.raises(ValueError, match=r"shape \[n, 3\]"):
        task.curves(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        task.curves(np.full((1, 3), 1.5))
    with pytest.raises(ValueError, match="d must be"):
        CurveTask.sample(0, 0)
    with pytest.raises(ValueError, match="n_steps"):
        CurveTask.sample(3, 0, n_steps=1)


@pytest.mark.parametrize(("d", "seed"), TASKS)
def test_finite_except_in_the_divergence_region(d: int, seed: int) -> None:
    task = CurveTask.sample(d, seed)
    x = _configs(d)
    curves = task.curves(x, np.random.default_rng(0))
    diverges = task.diverges(x)
    has_nan = np.isnan(curves).any(1)
    assert np.isfinite(curves[~diverges]).all()
    assert has_nan.any() and not (has_nan & ~diverges).any()
    # Divergence without NaN goes up: the last step is above the curve's minimum.
    rising = diverges & ~has_nan
    clean = task.curves(x[rising])
    assert rising.sum() > 10
    assert np.mean(clean[:, -1] > clean.min(1) + 1e-9) > 0.5
    assert 0.03 < diverges.mean() < 0.4


@pytest.mark.parametrize(("d", "seed"), TASKS)
def test_noise_free_curves_are_monotone_and_saturating(d: int, seed: int) -> None:
    task = CurveTask.sample(d, seed)
    x = _configs(d)
    curves = task.curves(x[~task.diverges(x)])
    steps = np.diff(curves, axis=1)
    assert np.all(steps <= 1e-12)
    # Saturating: the second half of training gains less than the first.
    half = DEFAULT_STEPS // 2
    assert np.all(curves[:, 0] - curves[:, half] >= curves[:, half] - curves[:, -1] - 1e-12)
    # Plateaus: some curves stay flat over their first steps, then still drop.
    flat = np.abs(curves[:, 3] - curves[:, 0]) < 1e-12
    assert flat.any()
    assert np.all(curves[flat, -1] < curves[flat, 0] - 1e-3)


def test_curves_cross_slow_starters_finish_best() -> None:
    task = CurveTask.sample(4, EVALUATION_SEEDS_START)
    x = _configs(4)
    curves = task.curves(x[~task.diverges(x)])
    early, final = curves[:, DEFAULT_STEPS // 4], curves[:, -1]
    rho = spearmanr(early, final).statistic
    assert 0.0 < rho < 0.95
    # Some of the best tenth at step S are in the worse half at step S/4.
    best = final <= np.quantile(final, 0.1)
    assert np.mean(early[best] > np.median(early)) > 0.05
    # Still, early values carry information: the best tenth starts better than average.
    assert np.median(early[best]) < np.median(early)


def test_noise_shrinks_or_stays_constant() -> None:
    shrinking = next(t for t in (CurveTask.sample(6, s) for s in range(50)) if t.rho < 1.0)
    constant = next(t for t in (CurveTask.sample(6, s) for s in range(50)) if t.rho == 1.0)
    for task in (shrinking, constant):
        x = _configs(6, 4000)
        x = x[~task.diverges(x)]
        residual = task.curves(x, np.random.default_rng(0)) - task.curves(x)
        sd_start, sd_end = residual[:, 0].std(), residual[:, -1].std()
        expected_end = task.span * task.sigma0 * task.rho
        assert sd_end == pytest.approx(expected_end, rel=0.1)
        if task.rho < 1.0:
            assert sd_start > 2 * sd_end
        else:
            assert sd_start == pytest.approx(sd_end, rel=0.1)
