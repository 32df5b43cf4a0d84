"""The surrogate model: its maths, its invariances and its place in the sampler."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest
from scipy.stats import norm

from optuna_hypera import HyperaSampler
from optuna_hypera._schema import C
from optuna_hypera._surrogate import KernelParams
from optuna_hypera._surrogate import Surrogate
from optuna_hypera._surrogate import _neg_log_posterior
from optuna_hypera._surrogate import log_ei
from optuna_hypera._surrogate import normal_scores


optuna.logging.set_verbosity(optuna.logging.WARNING)


def _data(n: int = 30, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    x = rng.rand(n, d)
    loss = ((x - 0.3) ** 2).sum(1) + 0.1 * np.sin(9 * x[:, 0])
    return x, loss


def test_the_kernel_gradient_matches_finite_differences() -> None:
    x, loss = _data(12, 3)
    y = normal_scores(loss)
    theta = np.array([-1.0, -0.5, 0.2, 0.3, math.log(1e-2)])
    _, grad = _neg_log_posterior(theta, x, y)
    eps = 1e-6
    for k in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[k] += eps
        down[k] -= eps
        fd = (_neg_log_posterior(up, x, y)[0] - _neg_log_posterior(down, x, y)[0]) / (2 * eps)
        assert grad[k] == pytest.approx(fd, rel=1e-4, abs=1e-5)


def test_the_slope_is_the_gradient_of_the_posterior_mean() -> None:
    x, loss = _data()
    model = Surrogate.fit(x, loss, x[np.argmin(loss)])
    assert model is not None
    x0 = np.array([[0.4, 0.6, 0.2]])
    g = model.slope(x0)[0]
    eps = 1e-6
    for k in range(3):
        up, down = x0.copy(), x0.copy()
        up[0, k] += eps
        down[0, k] -= eps
        fd = (model.predict(up)[0][0] - model.predict(down)[0][0]) / (2 * eps)
        assert g[k] == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_log_ei_is_exact_where_the_naive_formula_is_and_finite_far_below() -> None:
    z = np.array([-0.9, -0.5, 0.0, 0.7, 2.5])
    sd = np.array([0.3, 1.0, 2.0, 0.5, 1.0])
    naive = np.log(sd * (z * norm.cdf(z) + norm.pdf(z)))
    np.testing.assert_allclose(log_ei(z, sd), naive, rtol=1e-10)
    # Continuous across the switch at z = -1 and finite where EI underflows to 0.
    assert log_ei(np.array([-1.0 - 1e-9]), np.ones(1))[0] == pytest.approx(
        log_ei(np.array([-1.0 + 1e-9]), np.ones(1))[0], abs=1e-6)
    far = log_ei(np.array([-40.0, -200.0]), np.ones(2))
    assert np.isfinite(far).all() and far[1] < far[0] < -700


def test_features_are_unchanged_by_shifting_or_scaling_the_objective() -> None:
    x, loss = _data()
    center = x[np.argmin(loss)]
    cand = np.random.RandomState(1).rand(16, 3)
    feats = []
    for transformed in (loss, 3.0 * loss + 7.0, 1e-6 * loss - 1e4, np.exp(loss)):
        model = Surrogate.fit(x, transformed, center)
        assert model is not None
        f = np.concatenate([model.candidate_features(cand, center, 0.1).ravel(),
                            model.token_features(center, 0.1).ravel()])
        assert np.isfinite(f).all()
        feats.append(f)
    for f in feats[1:]:
        np.testing.assert_allclose(f, feats[0], atol=1e-8)


def test_no_model_with_one_trial_and_a_model_with_ties() -> None:
    x, loss = _data(1)
    assert Surrogate.fit(x, loss, x[0]) is None
    x, _ = _data(10)
    flat = np.zeros(10)  # every value tied
    model = Surrogate.fit(x, flat, x[0])
    assert model is not None
    f = model.candidate_features(x[:3] + 0.01, x[0], 0.1)
    assert np.isfinite(f).all() and (f[:, C["has_model"]] == 1).all()
    assert np.all(normal_scores(np.array([1.0, 1.0, 2.0]))[:2] == normal_scores(
        np.array([1.0, 1.0, 2.0]))[0])


def test_kernel_refits_happen_at_data_determined_points() -> None:
    """Two processes that see the same trials fit the same kernel, whatever they saw before."""
    x, loss = _data(37)
    warm: dict[int, tuple[bytes, KernelParams]] = {}
    for n in range(10, 38):  # one process followed the study trial by trial
        a = Surrogate.fit(x[:n], loss[:n], x[0], warm)
    b = Surrogate.fit(x, loss, x[0], {})  # a fresh process
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.params.vector(), b.params.vector())


def test_the_model_serves_studies_with_failed_and_pruned_trials() -> None:
    def objective(trial: optuna.Trial) -> float:
        u = trial.suggest_float("u", -2, 2)
        v = trial.suggest_float("v", 1e-3, 1.0, log=True)
        trial.report(u * u, 0)
        if trial.number % 7 == 3:
            raise ValueError("fails")
        if trial.number % 7 == 5:
            raise optuna.TrialPruned()
        return u * u + v

    study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=4))
    study.optimize(objective, n_trials=22, catch=(ValueError,))
    assert {TrialState.FAIL, TrialState.PRUNED} <= {t.state for t in study.trials}
    predicted = [t.user_attrs["hypera"]["prediction"] for t in study.trials
                 if "prediction" in t.user_attrs.get("hypera", {})]
    assert len(predicted) >= 10
    for p in predicted:
        assert 0.0 <= p["rank_quantile"] <= 1.0
        assert math.isfinite(p["sd"]) and math.isfinite(p["log_ei"])
