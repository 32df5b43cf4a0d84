"""Generated learning-curve tasks: a configuration in [0, 1]^d gives a validation-loss curve.

Array maths only (numpy), no Optuna: the benchmarks wrap a task as an objective that reports
the curve step by step (``benchmarks/objectives/curves.py``), and pre-training can draw tasks
from the same generator. The families are the project's own; no named benchmark function is
used.

Task card
---------
Stands for: a training run whose hyperparameters are ``x`` (one axis, ``lr_axis``, plays a
learning rate: too high diverges), validated after each of ``S`` epochs. Loss is lower-better.

Final landscape (the noise-free loss at step ``S`` outside divergence)::

    q(x) = sum_i lam_i * (R (x - x_opt))_i^2          rotated bowl, R random orthogonal,
                                                     lam_i log-uniform in [0.4, 4] * 12 / d
    b(x) = sum_k h_k exp(-|x - c_k|^2 / (2 w_k^2))    K in 3..8 bumps, h_k in [-1.5, 1.5]
                                                     (negative: local wells), w_k in [0.1, 0.3]
    s(x) = softplus(q(x) + b(x) - 2)
    f(x) = f0 + A * s / (1 + s)                      f0 in [0.05, 0.5], A in [0.8, 2]

so ``f`` lies in ``(f0, f0 + A)``: bad configurations saturate near ``f0 + A`` (chance level),
``x_opt`` is uniform in [0.15, 0.85]^d.

Curve (steps ``t = 1..S``; the shapes are normalised to 1 at t = 1 and 0 at t = S so that the
curve ends exactly at ``f``)::

    L(t) = f(x) + a(x) * u(t_eff),  a(x) = (f0 + A - f(x)) * (0.85 + 0.3 F_gap(x))
    u = m * pow + (1 - m) * exp,    m = sigmoid(10 (F_kind(x) - 0.5))       (mix of the two)
    pow(t) = ((t+1)^-alpha - (S+1)^-alpha) / (2^-alpha - (S+1)^-alpha)    alpha in [0.2, 3]
    exp(t) = (e^(-t/tau) - e^(-S/tau)) / (e^(-1/tau) - e^(-S/tau))         tau in [1, S/1.5]

- **Speed**: slowness ``v = (1 - c) (0.25 + 0.5 F_speed(x)) + c * quality(x)`` in [0, 1], with
  ``quality = 1 - (f - f0) / A``; ``alpha`` and ``tau`` interpolate log-linearly from fast
  (``v = 0``: alpha 3, tau 1) to slow (``v = 1``: alpha 0.2, tau S/1.5). The coupling ``c`` is
  U(0.2, 0.5) in 70% of the tasks (good configurations start slowly: curves cross) and
  U(0, 0.1) otherwise; even then random speeds make some curves cross.
- **Plateau**: where ``F_plat(x) > 0.8`` the curve stays flat for ``P = (S/3) (F_plat - 0.8) /
  0.2`` steps, then drops over the rest: ``t_eff = 1 + (S-1) clip((t-1-P) / (S-1-P), 0, 1)``.
- **Divergence**: ``beta(x) = (x[lr_axis] - eta) / (1 - eta) + 0.25 (F_div(x) - 0.5)``, eta in
  [0.75, 0.9]; where ``beta > 0`` the run diverges after step ``t_d = S (1 - 0.7 min(beta, 1))``:
  below ``beta_nan`` (U(0.3, 0.6)) the loss climbs by ``A (0.1 + 0.4 beta / beta_nan)``
  times ``((t - t_d) / (S - t_d))^1.5``; above it the loss is NaN from ``t_d`` on.
- **Noise** (``curves(x, rng)``): Gaussian, independent per step, sd
  ``sigma0 (rho + (1 - rho) u(t_eff))``, ``sigma0`` in [0.003, 0.02] * A; half the tasks
  shrink it as training converges (rho in [0.1, 0.3]), the others keep it constant (rho = 1).

Calibration (40 tasks, d = 4..6, 1000 random configurations outside divergence each): the
Spearman correlation between the loss at step S/4 and at S has quartiles 0.56 / 0.68 / 0.80
(10% of tasks below 0.45); at S/2 its median is 0.97. Early ranks are informative but fallible.
9-24% of the cube diverges (median 17%), 4-14% of it to NaN.

``F_*`` are smooth random fields in (0, 1): 32 random Fourier features of an RBF kernel
(lengthscale 0.3; Rahimi & Recht 2007) through a logistic approximation of the normal CDF, so
nearby configurations train alike. Everything is drawn from ``default_rng([seed, d])``.
Seeds from :data:`EVALUATION_SEEDS_START` on are kept for evaluation (the benchmarks use them),
those from :data:`VALIDATION_SEEDS_START` below it for choosing levers (``curves-val``);
pre-training draws below both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


EVALUATION_SEEDS_START = 10_000
"""Task seeds at or above this are the evaluation range; pre-training stays below."""
VALIDATION_SEEDS_START = 9_000
"""Task seeds from this up to ``EVALUATION_SEEDS_START`` are the validation range (the
pruning benchmark's ``curves-val`` groups); pre-training stays below (since 0.15: before, it
drew below ``EVALUATION_SEEDS_START``, and no shipped weights were pre-trained on curves)."""
DEFAULT_STEPS = 27
"""27 = 3^3 epochs: Hyperband with reduction factor 3 gets four brackets."""
FIELDS = ("gap", "kind", "speed", "plateau", "divergence")
"""The smooth per-configuration fields, one row each of ``CurveTask.field_*``."""
_N_FEATURES = 32
_LENGTHSCALE = 0.3
_ALPHA_FAST, _ALPHA_SLOW = 3.0, 0.2
_PLATEAU_FROM = 0.8


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random orthogonal matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@dataclass(frozen=True)
class CurveTask:
    """One generated learning-curve task; see the module docstring for the formulas.

    Build with :meth:`sample`. ``x`` is always ``[n, d]`` in [0, 1].
    """

    d: int
    seed: int
    n_steps: int
    f0: float
    span: float
    x_opt: np.ndarray
    bowl: np.ndarray
    """``R^T diag(lam) R``: the bowl's quadratic form."""
    bump_centers: np.ndarray
    bump_heights: np.ndarray
    bump_widths: np.ndarray
    field_omega: np.ndarray
    """``[len(FIELDS), n_features, d]`` frequencies of the smooth fields."""
    field_phase: np.ndarray
    """``[len(FIELDS), n_features]`` phases."""
    coupling: float
    lr_axis: int
    eta: float
    beta_nan: float
    sigma0: float
    rho: float

    @classmethod
    def sample(cls, d: int, seed: int, n_steps: int = DEFAULT_STEPS) -> CurveTask:
        """The task of ``(d, seed)``; ``n_steps`` only sets the curve length."""
        if d < 1:
            raise ValueError(f"d must be >= 1, got {d}.")
        if n_steps < 2:
            raise ValueError(f"n_steps must be >= 2, got {n_steps}.")
        rng = np.random.default_rng([seed, d])
        rotation = _random_rotation(d, rng)
        lam = np.exp(rng.uniform(np.log(0.4), np.log(4.0), d)) * 12.0 / d
        n_bumps = int(rng.integers(3, 9))
        coupled = rng.random() < 0.7
        return cls(
            d=d, seed=seed, n_steps=n_steps,
            f0=float(rng.uniform(0.05, 0.5)), span=float(rng.uniform(0.8, 2.0)),
            x_opt=rng.uniform(0.15, 0.85, d), bowl=rotation.T @ np.diag(lam) @ rotation,
            bump_centers=rng.random((n_bumps, d)),
            bump_heights=rng.uniform(-1.5, 1.5, n_bumps),
            bump_widths=rng.uniform(0.1, 0.3, n_bumps),
            field_omega=rng.standard_normal((len(FIELDS), _N_FEATURES, d)) / _LENGTHSCALE,
            field_phase=rng.uniform(0.0, 2 * np.pi, (len(FIELDS), _N_FEATURES)),
            coupling=float(rng.uniform(0.2, 0.5) if coupled else rng.uniform(0.0, 0.1)),
            lr_axis=int(rng.integers(d)), eta=float(rng.uniform(0.75, 0.9)),
            beta_nan=float(rng.uniform(0.3, 0.6)),
            sigma0=float(rng.uniform(0.003, 0.02)),
            rho=float(rng.uniform(0.1, 0.3) if rng.random() < 0.5 else 1.0),
        )

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape [n, {self.d}], got {list(x.shape)}.")
        if not np.all((x >= 0.0) & (x <= 1.0)):
            raise ValueError("x must lie in [0, 1]^d.")
        return x

    def field(self, name: str, x: np.ndarray) -> np.ndarray:
        """The smooth field ``F_name(x)`` in (0, 1), ``[n]``."""
        k = FIELDS.index(name)
        features = np.cos(x @ self.field_omega[k].T + self.field_phase[k])
        z = features.sum(1) * np.sqrt(2.0 / _N_FEATURES)  # ~N(0, 1) marginally
        return _sigmoid(1.702 * z)  # logistic approximation of the normal CDF

    def landscape(self, x: np.ndarray) -> np.ndarray:
        """``f(x)``, ``[n]``: the loss every curve converges to at step S (no divergence)."""
        x = self._check(x)
        delta = x - self.x_opt
        q = np.einsum("ni,ij,nj->n", delta, self.bowl, delta)
        dist2 = ((x[:, None, :] - self.bump_centers[None]) ** 2).sum(-1)
        b = (self.bump_heights * np.exp(-dist2 / (2 * self.bump_widths**2))).sum(1)
        s = _softplus(q + b - 2.0)
        result: np.ndarray = self.f0 + self.span * s / (1.0 + s)
        return result

    def divergence(self, x: np.ndarray) -> np.ndarray:
        """``beta(x)``, ``[n]``: the run diverges where it is positive."""
        x = self._check(x)
        beta: np.ndarray = (
            (x[:, self.lr_axis] - self.eta) / (1.0 - self.eta)
            + 0.25 * (self.field("divergence", x) - 0.5)
        )
        return beta

    def diverges(self, x: np.ndarray) -> np.ndarray:
        """Whether each configuration's curve rises or turns NaN, ``[n]`` bool."""
        return self.divergence(x) > 0.0

    def _shape(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """``u(t_eff)`` in [0, 1], ``[n, S]``: 1 at the start, 0 at step S."""
        s_max = self.n_steps
        t = np.arange(1, s_max + 1, dtype=float)[None, :]
        plateau = (s_max / 3.0) * np.clip(
            (self.field("plateau", x) - _PLATEAU_FROM) / (1.0 - _PLATEAU_FROM), 0.0, 1.0
        )[:, None]
        t_eff = 1.0 + (s_max - 1) * np.clip((t - 1.0 - plateau) / (s_max - 1.0 - plateau), 0, 1)
        quality = np.clip(1.0 - (f - self.f0) / self.span, 0.0, 1.0)
        own = 0.25 + 0.5 * self.field("speed", x)
        slow = ((1.0 - self.coupling) * own + self.coupling * quality)[:, None]
        alpha = _ALPHA_FAST * (_ALPHA_SLOW / _ALPHA_FAST) ** slow
        tau = (s_max / 1.5) ** slow  # 1 (fast) .. S / 1.5 (slow), log-linear
        power = ((t_eff + 1) ** -alpha - (s_max + 1.0) ** -alpha) / (
            2.0**-alpha - (s_max + 1.0) ** -alpha
        )
        expo = (np.exp(-t_eff / tau) - np.exp(-s_max / tau)) / (
            np.exp(-1.0 / tau) - np.exp(-s_max / tau)
        )
        mix = _sigmoid(10.0 * (self.field("kind", x) - 0.5))[:, None]
        shape: np.ndarray = np.clip(mix * power + (1.0 - mix) * expo, 0.0, 1.0)
        return shape

    def curves(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Validation loss at steps 1..S, ``[n, S]``; noise-free unless ``rng`` is given.

        NaN marks a diverged run (from its divergence step on).
        """
        x = self._check(x)
        s_max = self.n_steps
        f = self.landscape(x)
        gap = (self.f0 + self.span - f) * (0.85 + 0.3 * self.field("gap", x))
        shape = self._shape(x, f)
        loss = f[:, None] + gap[:, None] * shape
        beta = self.divergence(x)[:, None]
        t = np.arange(1, s_max + 1, dtype=float)[None, :]
        onset = s_max * (1.0 - 0.7 * np.clip(beta, 0.0, 1.0))
        after = np.clip((t - onset) / np.maximum(s_max - onset, 1.0), 0.0, None)
        rise = self.span * (0.1 + 0.4 * np.clip(beta / self.beta_nan, 0.0, 1.0)) * after**1.5
        loss = np.where(beta > 0.0, loss + rise, loss)
        loss = np.where((beta >= self.beta_nan) & (t >= onset), np.nan, loss)
        if rng is not None:
            sd = self.span * self.sigma0 * (self.rho + (1.0 - self.rho) * shape)
            loss = loss + sd * rng.standard_normal(loss.shape)
        return loss

    def final(self, x: np.ndarray) -> np.ndarray:
        """The noise-free loss at step S, ``[n]`` (NaN for runs that diverged to NaN)."""
        result: np.ndarray = self.curves(x)[:, -1]
        return result

    @property
    def diverged_value(self) -> float:
        """A loss above every finite curve value: what an objective reports for a NaN run."""
        return self.f0 + 2.0 * self.span
