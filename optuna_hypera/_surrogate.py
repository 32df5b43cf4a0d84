"""A small Gaussian-process model of the objective: what the agents see of the landscape.

The model is fitted on one study's completed trials, in the normalized coordinates the agents
act in, on *standardized losses* (mean 0, sd 1; ``TARGETS``, where normal scores of the loss
ranks are the other choice): the fit, and every feature it gives, is unchanged when the
objective is shifted or scaled by a positive factor.

- Kernel: Matern 5/2 with one lengthscale per parameter (ARD), a signal variance and a noise
  variance, fitted by maximizing the log marginal likelihood (analytic gradient, scipy's
  L-BFGS-B) with a weak log-normal prior on the lengthscales (``_kernel_fit``). Categorical
  parameters enter by the overlap distance (0 for the same choice, 1 for any two different
  ones) and integers at the integer they decode to (``_kernel_inputs``). Jitter on the
  diagonal escalates from 1e-8 to 1e-2 until the factorization succeeds, so near-duplicate
  points never drop the model.
- Bounded cost: at most ``LOCAL_POINTS`` trials, those nearest the incumbent (a local model
  around the trust region, as TuRBO's); kernel hyperparameters are refitted only when the
  number of completed trials reaches a refit point (``refit_point``: every 5 trials at first,
  more rarely as the study grows) and are reused in between.
- Every worker fits the same hyperparameters: the refit at point m uses the *first m trials
  to complete* (by completion order, which later completions never change), local around the
  best of them, in trial order; a cached fit is reused only when that set is the one it was
  fitted on (a fingerprint), so a fresh process and a long-running one agree at any size.

Features (see ``_schema``): per candidate configuration the predicted improvement over the best
trial in units of predictive standard deviation, the standard deviation, the log expected
improvement and the distance from the base relative to the trust radius; per parameter the
predicted slope at the base and the fitted lengthscale.

Pure numpy/scipy on arrays, no Optuna.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from scipy.special import ndtri

from optuna_hypera import _kernel_fit
from optuna_hypera._gp_maths import SQRT5
from optuna_hypera._gp_maths import log_ei
from optuna_hypera._gp_maths import matern52
from optuna_hypera._gp_maths import near
from optuna_hypera._gp_maths import scaled_dist
from optuna_hypera._history import midranks
from optuna_hypera._kernel_fit import SAMPLE_BELOW
from optuna_hypera._kernel_fit import KernelParams
from optuna_hypera._kernel_fit import _cholesky
from optuna_hypera._kernel_fit import _inverse
from optuna_hypera._kernel_fit import fit_kernel
from optuna_hypera._kernel_fit import sample_kernels
from optuna_hypera._kernel_inputs import KernelInputs
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import C
from optuna_hypera._space import Space


LOCAL_POINTS = 150
"""At most this many trials (the nearest to the incumbent) enter the model: 150 since 0.8
(200 before), at least as good on 48 generated validation tasks at 200 and 300 trials (18/10
and 17/16) at about half the cost (``docs/benchmarks/cost-levers.md``)."""


REFIT_STEPS = ((50, 5), (200, 10))
"""(below n, refit every so many trials); beyond the last, every 100 (where the fit sees
``LOCAL_POINTS`` of them)."""


def refit_point(n: int) -> int:
    """The number of trials the kernel was last fitted on, given ``n`` (``REFIT_STEPS``:
    every 5 trials up to 50, every 10 up to 200, every 100 beyond); a function of ``n``
    only, so every process agrees on it."""
    step = next((s for below, s in REFIT_STEPS if n < below), 100)
    return max(2, n - n % step)



def normal_scores(loss: np.ndarray) -> np.ndarray:
    """Phi^-1 of mid-rank quantiles ``(rank + 0.5) / n``: lower loss, lower score; ties equal."""
    return ndtri((midranks(loss) + 0.5) / len(loss))


TARGET_KINDS = ("normal-scores", "standardized")
TARGETS = "standardized"
"""What the model is fitted on: ``"standardized"`` losses (the default since 0.6: mean 0,
sd 1 over the trials the model holds, as Optuna's GPSampler fits; pruned trials enter at
their predicted final losses, ``pseudo_targets``) or ``"normal-scores"`` of the loss ranks
(before 0.6; every feature is then also invariant to increasing transforms of the objective).
Measured on the generated validation split, the log-EI teacher on standardized losses beats
it on normal scores on 48/37, 56/31 and 64/24 of 96 tasks at 25, 50 and 100 trials
(``docs/benchmarks/standardized-targets.md``). The shipped weights were pre-trained on
standardized targets (``pretrain --targets``): the critics read features of this model."""


def _location_scale(loss: np.ndarray) -> tuple[float, float]:
    sd = float(loss.std())
    return float(loss.mean()), sd if sd > 0 else 1.0


def targets(loss: np.ndarray) -> np.ndarray:
    """The model's targets for ``loss`` (``TARGETS``)."""
    if TARGETS == "standardized":
        m, s = _location_scale(loss)
        return (loss - m) / s
    return normal_scores(loss)


def pseudo_targets(pseudo: Pseudo, loss: np.ndarray) -> Pseudo:
    """``pseudo`` in the units of ``targets(loss)``: as they are for normal scores, through
    their predictions in loss units for standardized losses."""
    if TARGETS != "standardized":
        return pseudo
    m, s = _location_scale(loss)
    return Pseudo(pseudo.x, (pseudo.loss - m) / s, pseudo.loss_var / s**2, pseudo.loss,
                  pseudo.loss_var)


@dataclass
class Pseudo:
    """Points known only through a prediction: pruned trials at the normal score their
    partial curves predict for their final value (``_curves``), with its variance, and the
    same in loss units (what standardized targets read, ``pseudo_targets``)."""

    x: np.ndarray
    y: np.ndarray
    var: np.ndarray
    loss: np.ndarray
    loss_var: np.ndarray

    def take(self, rows: np.ndarray) -> Pseudo:
        return Pseudo(self.x[rows], self.y[rows], self.var[rows], self.loss[rows],
                      self.loss_var[rows])


class ModelView:
    """What the agents and critics read from a model: needs ``predict``, ``slope``, ``log_ls``
    (per coordinate) and ``best`` (the incumbent's predicted target, ``TARGETS``)."""

    best: float
    log_ls: np.ndarray
    threshold: float | None = None
    """Log EI's threshold where it is not ``best`` (``None``: ``best``)."""
    log_survival: Callable[[np.ndarray], np.ndarray] | None = None
    """Under a pruner: the log chance that a trial at ``xq`` completes
    (``_survival.Survival.log_p``), added to the acquisition; ``None``: every trial counts."""

    @property
    def noise_ratio(self) -> float | None:
        """The fitted noise variance over the signal variance (``None``: not one kernel)."""
        return None

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def slope(self, x0: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def acquisition(self, xq: np.ndarray) -> np.ndarray:
        """Log expected improvement over ``best`` at ``xq`` ``[m, d]`` (the teacher's score),
        plus the log chance of completing where the study prunes (``log_survival``)."""
        best = self.best if self.threshold is None else self.threshold
        score = self.log_ei(xq, best)
        if self.log_survival is not None:
            score = score + self.log_survival(xq)
        return score

    def log_ei(self, xq: np.ndarray, best: float) -> np.ndarray:
        """Log expected improvement over ``best`` at ``xq``."""
        mu, sd = self.predict(xq)
        return log_ei((best - mu) / sd, sd)

    def token_features(self, x0: np.ndarray, radius: float) -> np.ndarray:
        """``[K, d, 2]``: predicted improvement per trust radius along each coordinate
        (> 0: increasing it lowers the loss) and the log lengthscale."""
        g = self.slope(np.atleast_2d(x0))
        out = np.empty(g.shape + (2,))
        out[..., 0] = np.tanh(-g * radius)
        out[..., 1] = np.clip(self.log_ls / 3.0, -2.0, 2.0)
        return out

    def candidate_features(self, xq: np.ndarray, base: np.ndarray, radius: float,
                           ) -> np.ndarray:
        """``[m, N_CAND]`` features of candidates ``xq`` ``[m, d]`` moved from ``base``."""
        return self.describe(xq, base, radius)[0]

    def describe(self, xq: np.ndarray, base: np.ndarray, radius: float,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidate features with the posterior mean and sd they came from."""
        mu, sd = self.predict(xq)
        z = (self.best - mu) / sd
        f = np.zeros((len(xq), N_CAND))
        f[:, C["gp_z"]] = np.tanh(z / 3.0)
        f[:, C["gp_log_sd"]] = np.clip(np.log(sd) / 3.0, -3.0, 1.0)
        f[:, C["gp_log_ei"]] = np.clip(log_ei(z, sd) / 5.0, -4.0, 1.0)
        dist = np.sqrt(((xq - base) ** 2).mean(1))
        f[:, C["gp_distance"]] = np.tanh(dist / max(radius, 1e-6))
        f[:, C["gp_mean"]] = np.tanh(mu / 2.0)
        f[:, C["has_model"]] = 1.0
        return f, mu, sd



class Surrogate(ModelView):
    """The fitted model of one study; ``None``-safe: build with ``Surrogate.fit``."""

    units: tuple[float, float] | None = None
    """Location and scale of the losses it was fitted on (target = (loss - loc) / scale),
    set by ``fit`` for standardized targets; ``None`` otherwise."""

    def __init__(self, x: np.ndarray, y: np.ndarray, params: KernelParams,
                 inputs: KernelInputs | None = None, pseudo: Pseudo | None = None,
                 embedded: np.ndarray | None = None) -> None:
        """``embedded``: ``inputs.embed(x)``, where the caller has it already."""
        self.inputs = inputs or KernelInputs.of(None, x.shape[1])
        self.x, self.y, self.params = x, y, params
        """The completed trials (what leave-one-out and transfer weights judge)."""
        n = len(y)
        xe = self.inputs.embed(x) if embedded is None else embedded
        y_all, extra = y, np.zeros(0)
        if pseudo is not None and len(pseudo.y):
            xe = np.concatenate([xe, self.inputs.embed(pseudo.x)])
            y_all = np.concatenate([y, pseudo.y])
            extra = pseudo.var
        self.xe = xe
        self.log_ls = params.log_ls
        self.ls = self.inputs.expand(np.exp(params.log_ls))
        self.s2 = math.exp(params.log_signal)
        k = self.s2 * matern52(scaled_dist(self.xe, self.xe, self.ls))
        if len(extra):  # a predicted final value is known only up to its own sd
            k[np.arange(n, len(y_all)), np.arange(n, len(y_all))] += extra
        factor = _cholesky(k, math.exp(params.log_noise))
        if factor is None:
            raise np.linalg.LinAlgError("kernel matrix not positive definite at any jitter")
        self.chol, self.jitter = factor
        self.alpha = cho_solve((self.chol, True), y_all)
        self.best = float(y.min())
        self.members: list[Surrogate] = []
        """Models at ``params.samples`` (``_kernel_fit.KERNEL_SAMPLES``): log EI averages EI
        over them."""
        for theta in params.samples if params.samples is not None else ():
            try:
                self.members.append(Surrogate(x, y, KernelParams.of(theta), self.inputs,
                                              pseudo, self.xe[:n]))
            except np.linalg.LinAlgError:
                continue

    def log_ei(self, xq: np.ndarray, best: float) -> np.ndarray:
        """Log EI over ``best``; with ``members``, the log of their mean EI."""
        if not self.members:
            return super().log_ei(xq, best)
        each = np.stack([m.log_ei(xq, best) for m in self.members])
        return logsumexp(each, axis=0) - math.log(len(self.members))

    @property
    def noise_ratio(self) -> float | None:
        return math.exp(self.params.log_noise) / self.s2

    @classmethod
    def fit(cls, x: np.ndarray, loss: np.ndarray, center: np.ndarray,
            cache: dict[int, tuple[bytes, KernelParams]] | None = None,
            order: np.ndarray | None = None, space: Space | None = None,
            pseudo: Pseudo | None = None, local: int | None = None,
            samples: int = 0, prior: str | None = None) -> Surrogate | None:
        """The model of completed trials ``x`` ``[n, d]`` with losses ``[n]`` (in trial order),
        local around ``center``; ``None`` with fewer than two trials or no dimension.
        ``order`` ranks the rows by completion (``None``: they completed in trial order);
        ``cache`` maps a refit point to the fingerprint of its trials and their kernel;
        ``space`` tells categorical and integer coordinates apart (``_kernel_inputs``;
        ``None``: all continuous); ``pseudo`` adds pruned trials at their predicted final
        scores to the posterior (never to the kernel fit), the ``LOCAL_POINTS`` nearest
        ``center`` of them; ``local`` replaces ``LOCAL_POINTS`` (``None``: the module's);
        ``samples`` kernel draws (``sample_kernels``) join the fit while it sees fewer than
        ``SAMPLE_BELOW`` trials; ``prior`` replaces ``_kernel_fit.KERNEL_PRIOR`` in the fit."""
        n, d = x.shape
        if n < 2 or d == 0:
            return None
        inputs = KernelInputs.of(space, d)
        m = refit_point(n)
        first = (np.arange(m) if order is None
                 else np.sort(np.argsort(order, kind="stable")[:m]))
        xm, lm = x[first], loss[first]
        k = LOCAL_POINTS if local is None else local
        key = (xm.tobytes() + lm.tobytes() + inputs.signature() + TARGETS.encode()
               + (prior or _kernel_fit.KERNEL_PRIOR).encode() + str(k).encode()
               + str(samples).encode())
        hit = cache.get(m) if cache is not None else None
        if hit is not None and hit[0] == key and len(hit[1].log_ls) == d:
            params = hit[1]
        else:
            em = inputs.embed(xm)
            ef, lf = _local(em, lm, em[int(np.argmin(lm))], k)
            params = fit_kernel(ef, targets(lf), inputs=inputs, prior=prior)
            if samples > 0 and m < SAMPLE_BELOW:
                params.samples = sample_kernels(ef, targets(lf), params, samples, m, inputs,
                                                prior)
            if cache is not None:
                cache.clear()  # only the latest refit point is ever asked again
                cache[m] = (key, params)
        e_center = inputs.embed(center[None])[0]
        ex = inputs.embed(x)
        rows = near(ex, e_center, k)
        if pseudo is not None and len(pseudo.y):
            pseudo = pseudo_targets(pseudo.take(near(inputs.embed(pseudo.x), e_center, k)),
                                    loss[rows])
        try:
            model = cls(x[rows], targets(loss[rows]), params, inputs, pseudo, ex[rows])
        except np.linalg.LinAlgError:
            return None
        if TARGETS == "standardized":
            model.units = _location_scale(loss[rows])
        return model

    def loo_mean(self) -> np.ndarray:
        """Leave-one-out posterior means at the model's own points (closed form:
        ``y_i - [K^-1 y]_i / [K^-1]_ii``)."""
        n = len(self.y)
        inv_diag = np.diag(_inverse(self.chol))[:n]
        return self.y - self.alpha[:n] / inv_diag

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at ``xq`` ``[m, d]``."""
        ks = self.s2 * matern52(scaled_dist(self.inputs.embed(xq), self.xe, self.ls))
        mu = ks @ self.alpha
        # L^-1 k for every query by one triangular solve: a decision predicts at its 64
        # candidates and then at its pick, so forming L^-1 once (n^3) would cost more than
        # the solves (n^2 per query).
        v = solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        var = np.maximum(self.s2 - (v * v).sum(0), 1e-12)
        return mu, np.sqrt(var)

    def slope(self, x0: np.ndarray) -> np.ndarray:
        """Gradient of the posterior mean at ``x0`` ``[K, d]`` -> ``[K, d]`` (along an
        integer coordinate the trend across its values, along a categorical one 0)."""
        e0 = self.inputs.embed(x0)
        r = scaled_dist(e0, self.xe, self.ls)
        coef = -5.0 / 3.0 * self.s2 * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r) * self.alpha
        # d mu / d x0_k = sum_i coef_i (x0_k - x_ik) / l_k^2
        return self.inputs.slope((coef.sum(1)[:, None] * e0 - coef @ self.xe) / self.ls**2)


def _local(x: np.ndarray, loss: np.ndarray, center: np.ndarray, k: int,
           ) -> tuple[np.ndarray, np.ndarray]:
    rows = near(x, center, k)
    return x[rows], loss[rows]
