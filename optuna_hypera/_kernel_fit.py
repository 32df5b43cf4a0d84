"""Fitting the objective model's kernel: Matern 5/2 hyperparameters by maximum a posteriori.

The log marginal likelihood of a Gaussian process with a Matern 5/2 kernel (one lengthscale per
coordinate, a signal and a noise variance) plus a prior on the hyperparameters, its analytic
gradient, and its maximization by scipy's L-BFGS-B (``fit_kernel``); the Cholesky factor with
escalating jitter the model is built on (``_cholesky``); and, as an experiment switch,
draws of the hyperparameters from their posterior by slice sampling (``sample_kernels``).
``_surrogate`` builds the model on these.

Pure numpy/scipy on arrays, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg.lapack import dpotrf
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize

from optuna_hypera._gp_maths import SQRT5
from optuna_hypera._gp_maths import scaled_dist
from optuna_hypera._kernel_inputs import KernelInputs


_LS_BOUNDS = (math.log(0.01), math.log(20.0))
_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
_NOISE_BOUNDS = (math.log(1e-6), math.log(1.0))
_LS_PRIOR_MEAN, _LS_PRIOR_STD = math.log(0.5), 1.5
_JITTERS = (1e-8, 1e-6, 1e-4, 1e-2)
"""Diagonal jitter, escalated in this order until the Cholesky factorization succeeds
(on targets whose variance is about 1)."""
_MAX_ITER = 40
KERNEL_PRIORS = ("lognormal", "smooth")
KERNEL_PRIOR = "lognormal"
"""The prior on the kernel's hyperparameters in the fit (``_neg_log_posterior``):
``"lognormal"`` (a log-normal on each lengthscale around 0.5, sd 1.5 in log; flat on the
signal and noise variances within their bounds) or ``"smooth"`` (an experiment switch: on
each inverse squared lengthscale l a density proportional to exp(-0.1 / l - 0.1 l), which
peaks at lengthscale 1, a Gamma(2, 1) on the signal variance and a Gamma(1.1, 30) on the
noise variance, the shapes Optuna's GPSampler uses; densities of the variances themselves,
maximized over their logarithms)."""


@dataclass
class KernelParams:
    log_ls: np.ndarray
    log_signal: float
    log_noise: float
    samples: np.ndarray | None = None
    """``[K, d + 2]`` log-hyperparameter vectors drawn from their posterior around this fit
    (``sample_kernels``), or ``None``: the fit alone."""

    @classmethod
    def of(cls, theta: np.ndarray) -> KernelParams:
        d = len(theta) - 2
        return cls(theta[:d].copy(), float(theta[d]), float(theta[d + 1]))

    def vector(self) -> np.ndarray:
        return np.concatenate([self.log_ls, [self.log_signal, self.log_noise]])

    @classmethod
    def initial(cls, d: int) -> KernelParams:
        return cls(np.full(d, _LS_PRIOR_MEAN), 0.0, math.log(1e-3))


def _neg_log_posterior(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                       cols: np.ndarray | None = None, gradient: bool = True,
                       prior_kind: str | None = None) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus the lengthscale prior, and its gradient (zeros
    without ``gradient``), at log-hyperparameters ``theta`` (one lengthscale per coordinate,
    then signal and noise) for kernel inputs ``x`` ``[n, D]``; ``cols`` maps each input
    column to its coordinate's lengthscale (``None``: one column per coordinate);
    ``prior_kind`` one of ``KERNEL_PRIORS`` (``None``: ``KERNEL_PRIOR``)."""
    d = len(theta) - 2
    ls_c = np.exp(theta[:d])
    ls = ls_c if cols is None else ls_c[cols]
    s2, nz = math.exp(theta[d]), math.exp(theta[d + 1])
    n = len(y)
    r = scaled_dist(x, x, ls)
    e = np.exp(-SQRT5 * r)
    k = s2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * e
    factor = _cholesky(k, nz)
    if factor is None:
        return 1e10, np.zeros_like(theta)
    chol, _ = factor
    alpha = cho_solve((chol, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
    if (prior_kind or KERNEL_PRIOR) == "smooth":
        # -log p for l = exp(-2 theta) (inverse squared lengthscale), s2 ~ Gamma(2, 1),
        # noise ~ Gamma(1.1, 30); derivatives in the log-parameters.
        up, down = np.exp(2.0 * theta[:d]), np.exp(-2.0 * theta[:d])
        prior = (0.1 * (up + down).sum() - math.log(s2) + s2 - 0.1 * math.log(nz) + 30.0 * nz)
        g_prior = np.concatenate([0.2 * (up - down), [s2 - 1.0, 30.0 * nz - 0.1]])
    else:
        prior = 0.5 * (((theta[:d] - _LS_PRIOR_MEAN) / _LS_PRIOR_STD) ** 2).sum()
        g_prior = np.concatenate([(theta[:d] - _LS_PRIOR_MEAN) / _LS_PRIOR_STD**2, [0.0, 0.0]])
    if not gradient:
        return float(nll + prior), np.zeros_like(theta)
    inv = _inverse(chol)
    w = np.outer(alpha, alpha) - inv
    # dK/dlog(l_k) = s2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * (x_ik - x_jk)^2 / l_k^2, summed
    # over the columns that share l_k
    m = w * (s2 * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e)
    xs = x / ls
    rows = m.sum(1)
    quad = ((m @ xs) * xs).sum(0)
    g_cols = -0.5 * (2.0 * (rows @ (xs * xs)) - 2.0 * quad)
    g_ls = g_cols if cols is None else np.bincount(cols, weights=g_cols, minlength=d)
    g_s2 = -0.5 * (w * k).sum()
    g_nz = -0.5 * nz * np.trace(w)
    grad = np.concatenate([g_ls, [g_s2, g_nz]]) + g_prior
    return float(nll + prior), grad


def _cholesky(k: np.ndarray, noise: float) -> tuple[np.ndarray, float] | None:
    """Lower Cholesky factor of ``k + (noise + jitter) I`` and the jitter it took: the
    smallest of ``_JITTERS`` that makes the matrix numerically positive definite (duplicate
    or nearly duplicate points need more), ``None`` if even the largest does not."""
    diag = np.diagonal(k).copy()
    for jitter in _JITTERS:
        a = k.copy()
        np.fill_diagonal(a, diag + (noise + jitter))
        chol, info = dpotrf(a, lower=True, clean=True, overwrite_a=True)
        if info == 0:
            return chol, jitter
    return None


def _inverse(chol: np.ndarray) -> np.ndarray:
    """K^-1 from K's lower Cholesky factor (LAPACK potri: a third of a solve against I)."""
    inv, _ = dpotri(chol, lower=True)
    return np.tril(inv) + np.tril(inv, -1).T


def fit_kernel(x: np.ndarray, y: np.ndarray, start: KernelParams | None = None,
               inputs: KernelInputs | None = None, prior: str | None = None) -> KernelParams:
    """Maximum a posteriori kernel hyperparameters for kernel inputs ``x`` and scores ``y``
    (``inputs``: how ``x``'s columns map to coordinates; ``None``: one column each)."""
    d = x.shape[1] if inputs is None else inputs.d
    cols = None if inputs is None or inputs.identity else inputs.cols
    start = start or KernelParams.initial(d)
    bounds = [_LS_BOUNDS] * d + [_SIGNAL_BOUNDS, _NOISE_BOUNDS]
    best, theta = math.inf, start.vector()
    for k in range(max(FIT_STARTS, 1)):
        begin = start.vector()
        if k:  # other starts: every lengthscale shorter, then longer, than the prior's
            begin[:d] = _LS_PRIOR_MEAN + (-1.0 if k % 2 else 1.0) * math.ceil(k / 2)
        res = minimize(_neg_log_posterior, begin, args=(x, y, cols, True, prior), jac=True,
                       method="L-BFGS-B", bounds=bounds, options={"maxiter": _MAX_ITER})
        if np.all(np.isfinite(res.x)) and (k == 0 or res.fun < best):
            best, theta = float(res.fun), res.x
    return KernelParams.of(theta)


FIT_STARTS = 1
"""Starting points of the kernel fit (1: the prior's centre; more: also every lengthscale
e times shorter, e times longer, ...; the lowest negative log posterior wins). An experiment
switch."""


KERNEL_SAMPLES = 0
"""How many kernel hyperparameter draws the teacher's log-EI is averaged over (0: the
maximum a posteriori fit alone). An experiment switch: EI integrated over the
hyperparameters' posterior, as Snoek, Larochelle and Adams (2012, sec. 3.2) do with slice
sampling, instead of EI at one fit that a few trials can mislead."""
SAMPLE_BELOW = 150
"""Draws are made only while the model's fit sees fewer trials than this (the teacher's
stage of the default; beyond it one fit is reliable and the draws would cost)."""
_SLICE_WIDTH = 1.0
_SLICE_BURN, _SLICE_THIN = 5, 2


def _log_posterior(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                   cols: np.ndarray | None, prior: str | None = None) -> float:
    """``-_neg_log_posterior`` without its gradient, -inf outside the bounds."""
    d = len(theta) - 2
    lo = np.array([_LS_BOUNDS[0]] * d + [_SIGNAL_BOUNDS[0], _NOISE_BOUNDS[0]])
    hi = np.array([_LS_BOUNDS[1]] * d + [_SIGNAL_BOUNDS[1], _NOISE_BOUNDS[1]])
    if np.any(theta < lo) or np.any(theta > hi):
        return -math.inf
    value = _neg_log_posterior(theta, x, y, cols, False, prior)[0]
    return -value if value < 1e10 else -math.inf  # 1e10: no factorization


def _moved(theta: np.ndarray, j: int, value: float) -> np.ndarray:
    out = theta.copy()
    out[j] = value
    return out


def sample_kernels(x: np.ndarray, y: np.ndarray, fit: KernelParams, k: int, seed: int,
                   inputs: KernelInputs | None = None, prior: str | None = None) -> np.ndarray:
    """``[k, d + 2]`` draws of the log-hyperparameters from their posterior given kernel
    inputs ``x`` and targets ``y``, by coordinate-wise slice sampling with stepping out and
    shrinkage (Neal 2003, figs. 3 and 5), started at ``fit`` (the MAP point, so a short
    burn-in does), under ``prior`` (``None``: ``KERNEL_PRIOR``). Seeded by ``seed`` alone, so
    every worker draws the same."""
    cols = None if inputs is None or inputs.identity else inputs.cols
    rng = np.random.RandomState(seed)
    theta = fit.vector().copy()
    cur = _log_posterior(theta, x, y, cols, prior)
    out = []
    for sweep in range(_SLICE_BURN + k * _SLICE_THIN):
        for j in range(len(theta)):
            level = cur + math.log(rng.uniform())
            left = theta[j] - _SLICE_WIDTH * rng.uniform()
            right = left + _SLICE_WIDTH
            for _ in range(4):  # stepping out, at most 4 widths each way
                if _log_posterior(_moved(theta, j, left), x, y, cols, prior) <= level:
                    break
                left -= _SLICE_WIDTH
            for _ in range(4):
                if _log_posterior(_moved(theta, j, right), x, y, cols, prior) <= level:
                    break
                right += _SLICE_WIDTH
            for _ in range(20):  # shrinkage
                trial = _moved(theta, j, rng.uniform(left, right))
                value = _log_posterior(trial, x, y, cols, prior)
                if value > level:
                    theta, cur = trial, value
                    break
                if trial[j] < theta[j]:
                    left = trial[j]
                else:
                    right = trial[j]
        if sweep >= _SLICE_BURN and (sweep - _SLICE_BURN) % _SLICE_THIN == _SLICE_THIN - 1:
            out.append(theta.copy())
    return np.array(out)
