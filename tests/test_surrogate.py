"""The surrogate model: its maths, its invariances and its place in the sampler."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest
from scipy.stats import norm

from optuna_hypera import HyperaSampler
from optuna_hypera._kernel_fit import KernelParams
from optuna_hypera._kernel_fit import _cholesky
from optuna_hypera._kernel_fit import _log_posterior
from optuna_hypera._kernel_fit import _neg_log_posterior
from optuna_hypera._kernel_fit import fit_kernel
from optuna_hypera._kernel_fit import sample_kernels
from optuna_hypera._kernel_inputs import KernelInputs
from optuna_hypera._schema import C
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import Space
from optuna_hypera._surrogate import Surrogate
from optuna_hypera._surrogate import log_ei
from optuna_hypera._surrogate import normal_scores


optuna.logging.set_verbosity(optuna.logging.WARNING)


def _data(n: int = 30, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    x = rng.rand(n, d)
    loss = ((x - 0.3) ** 2).sum(1) + 0.1 * np.sin(9 * x[:, 0])
    return x, loss


@pytest.mark.parametrize("prior", ["lognormal", "smooth"])
def test_the_kernel_gradient_matches_finite_differences(prior: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("optuna_hypera._kernel_fit.KERNEL_PRIOR", prior)
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


@pytest.mark.parametrize("kind", ["standardized", "normal-scores"])
def test_features_are_unchanged_by_shifting_or_scaling_the_objective(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Standardized targets: any shift and positive scale; normal scores: any increasing
    transform too."""
    from optuna_hypera import _surrogate

    monkeypatch.setattr(_surrogate, "TARGETS", kind)
    x, loss = _data()
    center = x[np.argmin(loss)]
    cand = np.random.RandomState(1).rand(16, 3)
    feats = []
    increasing = (np.exp(loss),) if kind == "normal-scores" else ()
    for transformed in (loss, 3.0 * loss + 7.0, 1e-3 * loss - 1e2, *increasing):
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
        assert p["picked_by"] == "log-ei"  # the default scorer before trial 50


def _mixed_space(n_choices: int = 5) -> Space:
    """A continuous coordinate, a categorical one and an integer one (7 values)."""
    return Space.build(["u", "c", "k"], [CONTINUOUS, BINNED, BINNED], [0, n_choices, 7],
                       categorical=[False, True, False])


def _mixed_data(perm: np.ndarray, n: int = 40, seed: int = 0,
                ) -> tuple[np.ndarray, np.ndarray]:
    """A random-table categorical effect; ``perm`` relabels choice c as ``perm[c]``."""
    rng = np.random.RandomState(seed)
    table = rng.randn(len(perm))
    u, c, k = rng.rand(n), rng.randint(len(perm), size=n), rng.randint(7, size=n)
    loss = (u - 0.3) ** 2 + table[c] + 0.05 * (k - 4) ** 2
    x = np.stack([u, (perm[c] + 0.5) / len(perm), (k + 0.5) / 7], axis=1)
    return x, loss


def test_the_categorical_distance_is_zero_for_equal_choices_and_one_otherwise() -> None:
    inputs = KernelInputs.of(_mixed_space(5), 3)
    choices = (np.arange(5) + 0.5) / 5
    x = np.stack([np.full(5, 0.2), choices, np.full(5, 0.5)], axis=1)
    e = inputs.embed(x)
    d2 = ((e[:, None, :] - e[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(d2, 1.0 - np.eye(5), atol=1e-15)
    # Anywhere inside a choice's bin is that choice.
    np.testing.assert_array_equal(inputs.embed(x + [0.0, 0.09, 0.0]), e)
    assert list(inputs.cols) == [0, 2, 1, 1, 1, 1, 1]


def test_the_model_is_invariant_under_reordering_the_choices() -> None:
    space = _mixed_space(5)
    ident = np.arange(5)
    perm = np.array([3, 0, 4, 1, 2])
    xa, loss = _mixed_data(ident)
    xb, loss_b = _mixed_data(perm)
    np.testing.assert_array_equal(loss, loss_b)
    a = Surrogate.fit(xa, loss, xa[np.argmin(loss)], space=space)
    b = Surrogate.fit(xb, loss, xb[np.argmin(loss)], space=space)
    assert a is not None and b is not None
    np.testing.assert_allclose(a.params.vector(), b.params.vector(), rtol=1e-6, atol=1e-8)
    rng = np.random.RandomState(3)
    c = rng.randint(5, size=20)
    q = np.stack([rng.rand(20), c, rng.randint(7, size=20)], axis=1).astype(float)
    qa = q.copy()
    qa[:, 1], qa[:, 2] = (c + 0.5) / 5, (q[:, 2] + 0.5) / 7
    qb = qa.copy()
    qb[:, 1] = (perm[c] + 0.5) / 5
    for ma, mb in zip(a.predict(qa), b.predict(qb), strict=True):
        np.testing.assert_allclose(ma, mb, rtol=1e-6, atol=1e-8)


def test_the_ordinal_kernel_was_not_invariant_under_reordering() -> None:
    """The same check on the old encoding (categorical as an ordinal coordinate) fails: the
    test above can tell the two apart."""
    perm = np.array([3, 0, 4, 1, 2])
    xa, loss = _mixed_data(np.arange(5))
    xb, _ = _mixed_data(perm)
    a = Surrogate.fit(xa, loss, xa[np.argmin(loss)])
    b = Surrogate.fit(xb, loss, xb[np.argmin(loss)])
    assert a is not None and b is not None
    assert np.abs(a.params.vector() - b.params.vector()).max() > 1e-3


def test_the_categorical_kernel_gradient_matches_finite_differences() -> None:
    inputs = KernelInputs.of(_mixed_space(4), 3)
    x, loss = _mixed_data(np.arange(4), n=15)
    e, y = inputs.embed(x), normal_scores(loss)
    theta = np.array([-1.0, -0.3, 0.4, 0.2, math.log(1e-2)])
    _, grad = _neg_log_posterior(theta, e, y, inputs.cols)
    eps = 1e-6
    for k in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[k] += eps
        down[k] -= eps
        fd = (_neg_log_posterior(up, e, y, inputs.cols)[0]
              - _neg_log_posterior(down, e, y, inputs.cols)[0]) / (2 * eps)
        assert grad[k] == pytest.approx(fd, rel=1e-4, abs=1e-5)


def test_integers_are_predicted_at_the_integer_and_categoricals_have_no_slope() -> None:
    space = _mixed_space(5)
    x, loss = _mixed_data(np.arange(5))
    model = Surrogate.fit(x, loss, x[np.argmin(loss)], space=space)
    assert model is not None
    q = np.array([[0.4, 0.5, 3.5 / 7]])
    inside = q + [0.0, 0.0, 0.06]  # still integer 3
    np.testing.assert_array_equal(model.predict(q)[0], model.predict(inside)[0])
    g = model.slope(q)[0]
    assert g[1] == 0.0 and g[0] != 0.0 and g[2] != 0.0


def test_a_continuous_space_reads_coordinates_as_they_are() -> None:
    x, loss = _data()
    a = Surrogate.fit(x, loss, x[0])
    b = Surrogate.fit(x, loss, x[0], space=Space.continuous(3))
    assert a is not None and b is not None
    q = np.random.RandomState(2).rand(8, 3)
    np.testing.assert_array_equal(a.predict(q)[0], b.predict(q)[0])


def test_jitter_escalates_instead_of_dropping_the_model() -> None:
    rng = np.random.RandomState(0)
    a = rng.randn(6, 3)
    k = a @ a.T - 1e-7 * np.eye(6)  # rank 3 and slightly indefinite
    factor = _cholesky(k, 0.0)
    assert factor is not None
    chol, jitter = factor
    assert jitter == 1e-6
    np.testing.assert_allclose(chol @ chol.T, k + 1e-6 * np.eye(6), atol=1e-10)
    assert _cholesky(k - np.eye(6), 0.0) is None  # beyond every jitter


def test_the_sampler_reads_discrete_parameters_as_its_kernel_option_says() -> None:
    with pytest.raises(ValueError, match="kernel"):
        HyperaSampler(kernel="hamming")

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_categorical("c", ["a", "b", "c", "d"])
        k = trial.suggest_int("k", 0, 6)
        u = trial.suggest_float("u", 0, 1)
        return {"a": 0.3, "b": -1.0, "c": 0.8, "d": 0.1}[c] + (k - 2) ** 2 / 9 + (u - 0.4) ** 2

    runs = {}
    for kernel in ("ordinal", "mixed"):
        sampler = HyperaSampler(seed=0, n_startup_trials=6, kernel=kernel)
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=12)
        core = next(iter(sampler._caches.values())).core
        assert (core.kernel_space(_mixed_space(4)) is None) == (kernel == "ordinal")
        runs[kernel] = [t.params for t in study.trials]
    # Same startup, then the two models see the categorical differently.
    assert runs["ordinal"][:6] == runs["mixed"][:6]
    assert runs["ordinal"][6:] != runs["mixed"][6:]


def test_the_model_is_fitted_on_standardized_losses_and_normal_scores_remain_a_choice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna_hypera import _surrogate
    from optuna_hypera._weights import pretrained_record

    loss = np.array([3.0, 1.0, 10.0, 2.0])
    assert _surrogate.TARGETS == "standardized"
    # The shipped critics read features of this model: they were trained on the same targets.
    assert pretrained_record()["config"]["targets"] == _surrogate.TARGETS
    y = _surrogate.targets(loss)
    assert abs(y.mean()) < 1e-12 and abs(y.std() - 1.0) < 1e-12
    assert np.argsort(y).tolist() == np.argsort(loss).tolist()
    np.testing.assert_allclose(_surrogate.targets(np.ones(3)), 0.0)
    monkeypatch.setattr(_surrogate, "TARGETS", "normal-scores")
    np.testing.assert_allclose(_surrogate.targets(loss), _surrogate.normal_scores(loss))


def test_pseudo_points_follow_the_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pruned trials' predictions enter the model in its own units: normal scores as
    predicted, or their loss predictions standardized by the completed trials' mean and sd
    (variance by the sd squared)."""
    from optuna_hypera import _surrogate

    loss = np.array([3.0, 1.0, 10.0, 2.0])
    p = _surrogate.Pseudo(np.zeros((2, 1)), np.array([-1.0, 0.5]), np.array([0.1, 0.2]),
                          np.array([1.5, 4.0]), np.array([0.4, 0.9]))
    monkeypatch.setattr(_surrogate, "TARGETS", "normal-scores")
    assert _surrogate.pseudo_targets(p, loss) is p
    monkeypatch.setattr(_surrogate, "TARGETS", "standardized")
    q = _surrogate.pseudo_targets(p, loss)
    np.testing.assert_allclose(q.y, (p.loss - loss.mean()) / loss.std())
    np.testing.assert_allclose(q.var, p.loss_var / loss.var())


def test_the_plug_in_incumbent_is_the_completed_trial_of_lowest_posterior_mean() -> None:
    from optuna_hypera._decision import model_first

    rng = np.random.RandomState(4)
    x = rng.uniform(size=(30, 2))
    loss = ((x - 0.3) ** 2).sum(1) + 0.05 * rng.randn(30)
    # A lucky draw: three near-repeats of one configuration, one of them far below the others.
    x[8:10] = x[7] + 1e-3
    loss[8:10] = loss[7]
    loss[7] = loss.min() - 0.3
    model = Surrogate.fit(x, loss, x[7])
    assert model is not None
    ranked = np.argsort(loss, kind="stable")
    assert ranked[0] == 7
    mu = model.predict(x)[0]
    k = int(np.argmin(mu))
    for mode, first, threshold in (("threshold", 7, True), ("base", k, False),
                                   ("both", k, True)):
        model.threshold = None
        out = model_first(model, x, ranked, len(ranked), mode)
        assert out[0] == first and sorted(out) == sorted(ranked)
        assert (model.threshold == pytest.approx(mu[k])) if threshold else model.threshold is None
    assert k != 7  # the plug-in moved away from the lucky draw
    # The threshold sets log EI's reference; the critics' features keep the observed best.
    xq = rng.uniform(size=(5, 2))
    features = model.candidate_features(xq, x[7], 0.2)
    model.threshold = None
    observed = model.acquisition(xq)
    model.threshold = float(mu[k])
    m, s = model.predict(xq)
    np.testing.assert_allclose(model.acquisition(xq), log_ei((mu[k] - m) / s, s))
    assert not np.allclose(model.acquisition(xq), observed)
    np.testing.assert_array_equal(model.candidate_features(xq, x[7], 0.2), features)


def test_the_gated_plug_in_incumbent_follows_the_fitted_noise() -> None:
    from optuna_hypera._decision import model_first

    rng = np.random.RandomState(5)
    x = rng.uniform(size=(30, 2))
    smooth = ((x - 0.3) ** 2).sum(1)
    ranked = np.argsort(smooth, kind="stable")
    # A noiseless bowl: the fitted noise is tiny and the observed best stays the base.
    clean = Surrogate.fit(x, smooth, x[ranked[0]])
    assert clean is not None and clean.noise_ratio is not None
    assert clean.noise_ratio < 1e-3
    np.testing.assert_array_equal(model_first(clean, x, ranked, 30, "gated"), ranked)
    # The same bowl under noise of a third of its spread: the model's best becomes the base,
    # exactly as with "base", and with a gate above the fitted ratio it does not.
    noisy_loss = smooth + 0.3 * smooth.std() * rng.randn(30)
    order = np.argsort(noisy_loss, kind="stable")
    noisy = Surrogate.fit(x, noisy_loss, x[order[0]])
    assert noisy is not None and noisy.noise_ratio is not None
    assert noisy.noise_ratio >= 1e-3
    np.testing.assert_array_equal(model_first(noisy, x, order, 30, "gated"),
                                  model_first(noisy, x, order, 30, "base"))
    assert model_first(noisy, x, order, 30, "base")[0] != order[0]
    np.testing.assert_array_equal(
        model_first(noisy, x, order, 30, "gated", gate=2 * noisy.noise_ratio), order)


@pytest.mark.parametrize("prior", ["lognormal", "smooth"])
def test_the_sampled_log_posterior_differs_from_the_fitted_one_by_a_constant(
        prior: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("optuna_hypera._kernel_fit.KERNEL_PRIOR", prior)
    x, loss = _data(12, 3)
    y = normal_scores(loss)
    a = np.array([-1.0, -0.5, 0.2, 0.3, math.log(1e-2)])
    b = np.array([0.4, -1.5, -0.2, -0.7, math.log(1e-3)])
    assert _log_posterior(a, x, y, None) - _log_posterior(b, x, y, None) == pytest.approx(
        _neg_log_posterior(b, x, y)[0] - _neg_log_posterior(a, x, y)[0], rel=1e-9)
    outside = a.copy()
    outside[0] = 10.0  # beyond the lengthscale bound
    assert _log_posterior(outside, x, y, None) == -math.inf


def test_kernel_draws_are_seeded_bounded_and_spread_around_the_fit() -> None:
    x, loss = _data(20, 3)
    y = normal_scores(loss)
    fit = fit_kernel(x, y)
    draws = sample_kernels(x, y, fit, 6, seed=20)
    assert draws.shape == (6, 5)
    np.testing.assert_array_equal(draws, sample_kernels(x, y, fit, 6, seed=20))
    assert not np.array_equal(draws, sample_kernels(x, y, fit, 6, seed=21))
    assert np.all(draws[:, :3] >= math.log(0.01)) and np.all(draws[:, :3] <= math.log(20.0))
    assert np.all(draws.std(0) > 0)  # the chain moved along every coordinate
    # the draws sit where the posterior is: none far below the fit's log posterior
    top = _log_posterior(fit.vector(), x, y, None)
    assert all(_log_posterior(t, x, y, None) > top - 20.0 for t in draws)


def test_log_ei_over_kernel_draws_is_the_log_of_their_mean_ei() -> None:
    x, loss = _data(20, 3)
    plain = Surrogate.fit(x, loss, x[np.argmin(loss)])
    assert plain is not None and not plain.members  # no draws unless asked
    model = Surrogate.fit(x, loss, x[np.argmin(loss)], samples=4)
    assert model is not None and len(model.members) == 4
    q = np.random.RandomState(1).rand(16, 3)
    each = []
    for m in model.members:
        mu, sd = m.predict(q)
        each.append(np.exp(log_ei((model.best - mu) / sd, sd)))
    np.testing.assert_allclose(model.acquisition(q), np.log(np.mean(each, axis=0)), rtol=1e-9)
    # the features the critics read are the fit's own
    base = x[np.argmin(loss)]
    np.testing.assert_array_equal(model.candidate_features(q, base, 0.1),
                                  plain.candidate_features(q, base, 0.1))


def test_the_fit_takes_its_prior_from_the_caller_or_the_module(
        monkeypatch: pytest.MonkeyPatch) -> None:
    x, loss = _data(20, 3)
    center = x[np.argmin(loss)]
    default = Surrogate.fit(x, loss, center)
    smooth = Surrogate.fit(x, loss, center, prior="smooth")
    assert default is not None and smooth is not None
    assert not np.allclose(default.params.vector(), smooth.params.vector())
    monkeypatch.setattr("optuna_hypera._kernel_fit.KERNEL_PRIOR", "smooth")
    module = Surrogate.fit(x, loss, center)
    assert module is not None
    np.testing.assert_array_equal(module.params.vector(), smooth.params.vector())
