"""The prior over landscapes (``_families``): each family's structure asserted by behaviour
(values, invariances, shares), the seed split, and ``simulate`` on a mixed batch."""

from __future__ import annotations

import numpy as np
import pytest

from optuna_hypera._families import BUDGET
from optuna_hypera._families import FAIL_SHARE
from optuna_hypera._families import FAMILIES
from optuna_hypera._families import SPLITS
from optuna_hypera._families import Landscape
from optuna_hypera._families import card
from optuna_hypera._families import draw
from optuna_hypera._families import sample
from optuna_hypera._families import split_of
from optuna_hypera._simulate import Objective
from optuna_hypera._simulate import SyntheticTask
from optuna_hypera._simulate import simulate
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import LOG
from optuna_hypera._space import LOG_INT
from optuna_hypera.pretrain import PretrainConfig
from optuna_hypera.pretrain import make_core


CONTINUOUS_ONLY = {"separable_bowl", "rotated_bowl", "plateau", "peaks", "low_dim", "noisy",
                   "failing", "gp"}


def _points(d: int, n: int = 400, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).rand(n, d)


def _with(x: np.ndarray, j: int, value: float | np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, j] = value
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_has_its_dimension_kinds_budget_and_card(family: str) -> None:
    kinds: set[int] = set()
    budgets = []
    for seed in range(12):
        for d in (2, 7):
            task = sample(family, d, seed)
            assert len(task.space) == d and task.family == family and task.seed == seed
            kinds |= set(task.space.kind.tolist())
            budgets.append(task.n_trials)
            cat = task.space.categorical
            assert (task.space.kind[cat] == BINNED).all()
            if family == "categorical":
                assert 1 <= cat.sum() <= min(3, d - 1)
                assert ((task.space.n_bins[cat] >= 2) & (task.space.n_bins[cat] <= 8)).all()
            elif family == "conditional":
                assert cat.sum() == 1 and 2 <= task.space.n_bins[cat][0] <= 4
            else:
                assert not cat.any()
    expected = {"log_scale": {CONTINUOUS, LOG}, "integer": {CONTINUOUS, BINNED, LOG_INT},
                "categorical": {CONTINUOUS, BINNED}, "conditional": {CONTINUOUS, BINNED}}
    assert kinds == expected.get(family, {CONTINUOUS})
    assert BUDGET[0] <= min(budgets) and max(budgets) <= BUDGET[1]
    assert max(budgets) / min(budgets) > 3  # drawn, not fixed
    assert len(card(family)) > 80


@pytest.mark.parametrize("family", FAMILIES)
def test_values_are_finite_except_in_the_failing_region(family: str) -> None:
    for seed in range(6):
        task = sample(family, 5, seed)
        x = _points(5, 2000, seed)
        y = task.clean(x)
        fails = task.fails(x)
        assert np.array_equal(np.isnan(y), fails)
        assert np.isfinite(y[~fails]).all()
        if family == "failing":
            # The documented range, widened by the error of a share measured on 2000 points.
            assert FAIL_SHARE[0] - 0.03 < fails.mean() < FAIL_SHARE[1] + 0.03, fails.mean()
        else:
            assert not fails.any()
        # Normalized: median 0 and a robust spread of 1 on random points (quantized values
        # have their quartiles on a few levels, so only a spread there).
        q25, q50, q75 = np.nanquantile(y, [0.25, 0.5, 0.75])
        if family == "plateau":
            assert 0.1 < np.nanstd(y) < 10.0
        else:
            assert abs(q50) < 0.25 and 0.5 < (q75 - q25) / 1.349 < 2.0, (seed, q25, q50, q75)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_task_is_reproducible_from_family_dimension_and_seed(family: str) -> None:
    x = _points(6)
    a, b, other = sample(family, 6, 11), sample(family, 6, 11), sample(family, 6, 12)
    assert np.array_equal(a(x), b(x), equal_nan=True) and a.n_trials == b.n_trials
    assert not np.allclose(a(x), other(x), equal_nan=True)
    rng = np.random.RandomState(3)
    assert np.array_equal(a(x, np.random.RandomState(3)), b(x, rng), equal_nan=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_noise_only_when_a_generator_is_passed(family: str) -> None:
    x = _points(4, 200)
    noisy = quiet = 0
    for seed in range(8):
        task = sample(family, 4, seed)
        clean = task.clean(x)
        assert np.array_equal(task(x), clean, equal_nan=True)
        drawn = task(x, np.random.RandomState(seed))
        assert np.array_equal(np.isnan(drawn), np.isnan(clean))
        if task.noise > 0:
            noisy += 1
            assert not np.allclose(drawn, clean, equal_nan=True)
        else:
            quiet += 1
            assert np.array_equal(drawn, clean, equal_nan=True)
    assert noisy and (quiet or family == "noisy")


def test_noisy_tasks_have_heteroscedastic_and_heavy_tailed_noise() -> None:
    heavy = gaussian = 0
    for seed in range(12):
        task = sample("noisy", 3, seed)
        assert task.noise > 0 and task.noise_slope is not None
        # At the corners where the noise is largest and smallest, the robust sd matches
        # noise * exp(slope . (x - 1/2)).
        hi = (task.noise_slope > 0).astype(float)
        rng = np.random.RandomState(seed)
        sds = []
        for corner in (hi, 1.0 - hi):
            e = task(np.tile(corner, (4000, 1)), rng) - task.clean(corner[None])[0]
            q25, q75 = np.quantile(e, [0.25, 0.75])
            sds.append((q75 - q25) / 1.349 if np.isinf(task.noise_df) else (q75 - q25))
            if corner is hi:
                tail = np.quantile(np.abs(e), 0.999) / ((q75 - q25) / 1.349)
        ratio = sds[0] / sds[1]
        assert ratio == pytest.approx(np.exp(np.abs(task.noise_slope).sum()), rel=0.2)
        assert ratio > np.e ** 0.9
        if np.isinf(task.noise_df):
            gaussian += 1
            assert tail < 4.0  # a normal's: 3.29
        else:
            heavy += 1
            assert tail > 4.5, task.noise_df  # Student-t, 5 dof: 6.4
    assert heavy and gaussian


def test_bowls_separable_or_rotated_with_a_wide_range_of_conditioning() -> None:
    conds = []
    for seed in range(40):
        sep, rot = sample("separable_bowl", 4, seed), sample("rotated_bowl", 4, seed)
        a, b = _points(4, 50, seed), _points(4, 50, seed + 100)
        mixed1, mixed2 = _with(a, 0, b[:, 0]), _with(b, 0, a[:, 0])
        # Separable: swapping one coordinate between two points leaves the sum unchanged.
        np.testing.assert_allclose(sep(a) + sep(b), sep(mixed1) + sep(mixed2), atol=1e-9)
        if seed < 10:
            assert not np.allclose(rot(a) + rot(b), rot(mixed1) + rot(mixed2), atol=1e-6)
        # Curvature along each axis, by second differences at the centre.
        c, h = np.full((1, 4), 0.5), 0.1
        curv = [float((sep(c + h * e) + sep(c - h * e) - 2 * sep(c))[0]) for e in np.eye(4)]
        conds.append(max(curv) / min(curv))
    assert min(conds) < 30 and max(conds) > 1e5


@pytest.mark.parametrize("family", ["plateau", "rotated_bowl"])
def test_plateaus_leave_the_value_unchanged_under_small_moves(family: str) -> None:
    for seed in range(10):
        task = sample(family, 3, seed)
        x = _points(3, 300, seed)
        moved = x.copy()
        moved[np.arange(300), np.arange(300) % 3] += 1e-4
        unchanged = (task.clean(x) == task.clean(moved)).mean()
        assert unchanged > 0.3 if family == "plateau" else unchanged == 0.0, (seed, unchanged)


def _local_minima(task: Landscape, n: int = 60) -> int:
    g = (np.arange(n) + 0.5) / n
    y = task.clean(np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)).reshape(n, n)
    pad = np.pad(y, 1, constant_values=np.inf)
    neighbours = np.stack([pad[1 + i: 1 + i + n, 1 + j: 1 + j + n]
                           for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j])
    return int((y < neighbours.min(axis=0)).sum())


def test_peaks_have_many_local_minima_and_bowls_one() -> None:
    peaks = [_local_minima(sample("peaks", 2, seed)) for seed in range(20)]
    bowls = [_local_minima(sample("separable_bowl", 2, seed)) for seed in range(20)]
    assert max(bowls) == 1
    assert np.median(peaks) >= 2 and max(peaks) >= 4, peaks


def _mattering(task: Landscape, x: np.ndarray) -> np.ndarray:
    """Coordinates whose change changes the value at some of ``x``."""
    y = task.clean(x)
    moved = np.random.RandomState(12345).rand(*x.shape)
    return np.array([not np.array_equal(task.clean(_with(x, j, moved[:, j])), y)
                     for j in range(x.shape[1])])


def test_low_dimensional_tasks_ignore_most_coordinates() -> None:
    projected = 0
    for seed in range(16):
        task = sample("low_dim", 8, seed)
        matters = _mattering(task, _points(8, 64, seed))
        assert 1 <= matters.sum() <= 4, (seed, matters)
        projected += matters.sum() > 2  # more than e <= 2 coordinates: a projection
    assert projected


def test_conditional_inactive_coordinates_do_nothing() -> None:
    differs = 0
    for seed in range(12):
        task = sample("conditional", 6, seed)
        sel = int(np.flatnonzero(task.space.categorical)[0])
        k = int(task.space.n_bins[sel])
        per_branch = np.stack([_mattering(task, _with(_points(6, 64, seed), sel, (b + 0.5) / k))
                               for b in range(k)])
        offsets = [task.clean(_with(_points(6, 8), sel, (b + 0.5) / k)) for b in range(k)]
        assert not np.allclose(offsets[0], offsets[1])
        shared = per_branch.all(axis=0)
        differs += bool((per_branch & ~shared).any())
        # Exactly the coordinates the task declares active in a branch matter there.
        active = task.shape.active  # type: ignore[attr-defined]
        others = np.arange(6) != sel
        assert np.array_equal(per_branch[:, others], active[:, others]), seed
    assert differs >= 8


def _choice_effects(task: Landscape, j: int, n: int, rng: np.random.RandomState) -> np.ndarray:
    base = rng.rand(64, len(task.space))
    return np.array([np.mean(task.clean(_with(base, j, (c + 0.5) / n))) for c in range(n)])


def _neighbour_similarity(effects: list[np.ndarray]) -> float:
    """Mean gap between the effects of neighbouring choices over that of choices two or more
    apart: about 1 for choices with no order, well below for ordinal effects."""
    adjacent, far = [], []
    for e in effects:
        gap = np.abs(np.arange(len(e))[:, None] - np.arange(len(e)))
        diff = np.abs(e[:, None] - e)
        adjacent.append(diff[gap == 1].mean())
        far.append(diff[gap >= 2].mean())
    return float(np.mean(adjacent) / np.mean(far))


def test_categorical_effects_are_random_tables_not_ordinal() -> None:
    rng = np.random.RandomState(0)
    effects, interacting = [], 0
    for seed in range(120):
        task = sample("categorical", 4, seed)
        cat = np.flatnonzero(task.space.categorical)
        j = int(cat[0])
        n = int(task.space.n_bins[j])
        if n >= 4:
            effects.append(_choice_effects(task, j, n, rng))
        # A choice moves or scales the continuous part: the gap between two choices
        # depends on the continuous coordinates.
        x = _points(4, 32, seed)
        gap = task.clean(_with(x, j, 0.5 / n)) - task.clean(_with(x, j, 1.5 / n))
        interacting += np.ptp(gap) > 1e-3
    assert len(effects) > 50 and _neighbour_similarity(effects) > 0.8
    assert interacting > 100
    # The same statistic flags the smooth, ordinal categorical effects of ``_simulate``.
    old: list[np.ndarray] = []
    draws = np.random.RandomState(1)
    while len(old) < 40:
        t = SyntheticTask.sample("quadratic", 4, draws, discrete_share=1.0)
        for j in np.flatnonzero(t.space.categorical & (t.space.n_bins >= 4)).tolist():
            n = int(t.space.n_bins[j])
            base = rng.rand(64, 4)
            old.append(np.array([t(_with(base, j, (c + 0.5) / n)).mean() for c in range(n)]))
    assert _neighbour_similarity(old) < 0.7


def test_integer_and_log_scale_coordinates() -> None:
    for seed in range(8):
        task = sample("integer", 5, seed)
        x = _points(5, 200, seed)
        # Points that decode to the same integers have the same value.
        inside = task.space.snap(x) + (np.random.RandomState(seed).rand(200, 5) - 0.5) * 1e-9
        discrete = task.space.kind != CONTINUOUS
        inside[:, ~discrete] = task.space.snap(x)[:, ~discrete]
        np.testing.assert_array_equal(task.clean(inside), task.clean(x))
    warped: list[float] = []
    plain: list[float] = []
    grid = np.linspace(0.0, 1.0, 4001)
    for seed in range(12):
        task = sample("log_scale", 3, seed)
        shape = task.shape
        for j in range(3):
            eps, flip = shape.eps[j], shape.flip[j]  # type: ignore[attr-defined]
            width = np.sqrt(eps) if eps < 1 else 0.05
            t = 1.0 - grid if flip and eps < 1 else grid
            y = task.clean(_with(np.tile(_points(3, 1, seed), (len(t), 1)), j, t))
            steps = np.abs(np.diff(y))
            share = steps[grid[1:] <= width].sum() / steps.sum()
            (warped if eps < 1 else plain).append(share)
    # Declared linear but log-scaled: half of the variation within sqrt(eps) <= 0.1 of the
    # sensitive end; the other coordinates spread theirs evenly (about 5% in the first 5%).
    assert len(warped) >= 10 and np.median(warped) > 0.3, warped
    assert len(plain) >= 5 and np.median(plain) < 0.15, plain


def test_the_split_is_a_fixed_rule_on_the_seed() -> None:
    seeds = np.arange(20_000)
    splits = np.array([split_of(int(s)) for s in seeds])
    assert [split_of(int(s)) for s in seeds[:200]] == splits[:200].tolist()
    for name, share in zip(SPLITS, (0.7, 0.1, 0.2), strict=True):
        assert abs((splits == name).mean() - share) < 0.015
    test = draw("test", 24, rng_seed=5)
    assert len(test) == 24 and all(split_of(t.seed) == "test" for t in test)
    train = draw("train", 24, rng_seed=5)
    assert all(split_of(t.seed) == "train" for t in train)
    assert not {t.seed for t in test} & {t.seed for t in train}
    assert [t.family for t in test[: len(FAMILIES)]] == list(FAMILIES)
    again = draw("test", 24, rng_seed=5)
    assert [(t.family, len(t.space), t.seed) for t in again] == \
        [(t.family, len(t.space), t.seed) for t in test]
    with pytest.raises(ValueError, match="split"):
        draw("holdout", 1, 0)
    with pytest.raises(ValueError, match="family"):
        sample("rosenbrock", 3, 0)


def test_simulate_runs_a_mixed_batch_with_failed_trials() -> None:
    rng = np.random.RandomState(0)
    old = [SyntheticTask.sample("quadratic", 3, rng, noise=0.01),
           SyntheticTask.sample("gp", 4, rng, discrete_share=0.5)]
    failing = next(t for t in (sample("failing", 3, s) for s in range(50))
                   if t.fails(_points(3, 1000)).mean() > 0.25 and t.noise == 0)
    new = [failing, sample("categorical", 4, 1), sample("conditional", 3, 2),
           sample("noisy", 3, 0)]
    tasks: list[Objective] = [*old, *new]
    cfg = PretrainConfig(studies=6, candidates=8, batch_size=64)
    sim = simulate(make_core(cfg), tasks, 14, n_startup=5, seed=0)
    assert [y.shape for y in sim.y] == [(14,)] * 6
    for task, x, y in zip(tasks, sim.x, sim.y, strict=True):
        assert np.isfinite(x).all()
        fails = task.fails(x) if isinstance(task, Landscape) else np.zeros(14, bool)
        assert np.array_equal(np.isnan(y), fails)
        if isinstance(task, Landscape) and task.noise == 0:
            # One point at a time in the simulation, all at once here: the same up to the
            # rounding of a matrix product.
            np.testing.assert_allclose(y, task.clean(x), rtol=0, atol=1e-12)
    assert 0 < np.isnan(sim.y[2]).sum() < 14
    assert np.isfinite(sim.best_so_far()[:, -1]).all()
