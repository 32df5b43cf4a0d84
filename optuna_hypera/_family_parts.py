"""Building blocks of the landscape families (``_families``): random smooth shapes on a
subset of coordinates, a warp, a failing region. Every part is a small dataclass of numpy
arrays drawn from a ``RandomState`` and called on ``[n, d]`` points, returning ``[n]``.

No part is a named benchmark function: each is a random member of a generic class (quadratic
forms, Gaussian-process prior samples, sums of random bumps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc


KERNELS = ("rbf", "matern52", "matern32")
_N_FEATURES = 128


def log_uniform(rng: np.random.RandomState, low: float, high: float,
                size: int | None = None) -> np.ndarray:
    return np.asarray(np.exp(rng.uniform(np.log(low), np.log(high), size)))


def everywhere(d: int) -> np.ndarray:
    return np.ones(d, bool)


@dataclass(eq=False)
class Bowl:
    """``sum_i eig_i ((x - opt) @ rot)_i^2 / sum_i eig_i``: a convex quadratic around ``opt``
    on the coordinates where ``rot`` has non-zero rows."""

    opt: np.ndarray
    """``[d]``; some coordinates may lie just outside [0, 1] (the best is at the edge)."""
    rot: np.ndarray
    """``[d, m]``: an orthogonal ``[m, m]`` block (or the identity) on the ``m`` active rows,
    zero rows elsewhere."""
    eig: np.ndarray
    """``[m]`` curvatures, ``cond ** t`` with ``t`` spread over [0, 1]."""

    @classmethod
    def draw(cls, rng: np.random.RandomState, d: int, *, log10_cond: tuple[float, float],
             rotated: bool, active: np.ndarray | None = None,
             edge_share: float = 0.2) -> Bowl:
        active = everywhere(d) if active is None else active
        m = int(active.sum())
        cond = 10.0 ** rng.uniform(*log10_cond)
        t = np.linspace(0.0, 1.0, m) if m > 1 else np.zeros(m)
        eig = rng.permutation(cond**t)
        block = np.eye(m)
        if rotated and m > 1:
            q, r = np.linalg.qr(rng.randn(m, m))
            block = q * np.sign(np.diag(r))  # Haar-distributed (Mezzadri 2007, eq. 5.1)
        rot = np.zeros((d, m))
        rot[active] = block
        opt = rng.uniform(0.05, 0.95, d)
        edge = rng.rand(d) < edge_share
        opt[edge] = np.where(rng.rand(int(edge.sum())) < 0.5,
                             rng.uniform(-0.2, 0.0, int(edge.sum())),
                             rng.uniform(1.0, 1.2, int(edge.sum())))
        return cls(opt, rot, eig)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        r = (x - self.opt) @ self.rot
        return np.asarray((r**2 * self.eig).sum(axis=1) / max(float(self.eig.sum()), 1e-300))


@dataclass(eq=False)
class Fourier:
    """A Gaussian-process prior sample by random Fourier features (Rahimi & Recht 2007):
    ``sqrt(2 / F) sum_f w_f cos(omega_f . x + phase_f)``, ``w ~ N(0, 1)``. The frequencies
    follow the kernel's spectral density: Gaussian for RBF, multivariate Student-t with
    ``2 nu`` degrees of freedom for Matern-nu (Rasmussen & Williams 2006, eq. 4.15)."""

    omega: np.ndarray
    """``[F, d]``, zero columns on unused coordinates."""
    phase: np.ndarray
    w: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.RandomState, d: int, *, lengthscale: tuple[float, float],
             kernel: str = "rbf", active: np.ndarray | None = None,
             n_features: int = _N_FEATURES) -> Fourier:
        active = everywhere(d) if active is None else active
        ell = log_uniform(rng, *lengthscale, size=d)
        omega = rng.randn(n_features, d) / ell
        if kernel != "rbf":
            nu = {"matern52": 2.5, "matern32": 1.5}[kernel]
            omega /= np.sqrt(rng.chisquare(2 * nu, size=(n_features, 1)) / (2 * nu))
        omega *= active
        phase = rng.uniform(0.0, 2 * np.pi, n_features)
        w = rng.randn(n_features) * np.sqrt(2.0 / n_features)
        return cls(omega, phase, w)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.cos(x @ self.omega.T + self.phase) @ self.w)


@dataclass(eq=False)
class Smooth:
    """``(1 - mix) bowl(x) + mix gp(x) / 4``: anything from a pure quadratic bowl to a pure
    GP sample (a GP sample's values spread about four times a bowl's)."""

    bowl: Bowl
    gp: Fourier
    mix: float

    @classmethod
    def draw(cls, rng: np.random.RandomState, d: int, *, active: np.ndarray | None = None,
             log10_cond: tuple[float, float] = (0.0, 3.0),
             lengthscale: tuple[float, float] = (0.15, 0.8)) -> Smooth:
        bowl = Bowl.draw(rng, d, log10_cond=log10_cond, rotated=bool(rng.rand() < 0.7),
                         active=active)
        gp = Fourier.draw(rng, d, lengthscale=lengthscale, active=active,
                          kernel=KERNELS[rng.randint(len(KERNELS))])
        u = rng.rand()
        mix = 0.0 if u < 0.25 else 1.0 if u > 0.85 else float(rng.uniform(0.1, 0.9))
        return cls(bowl, gp, mix)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (1.0 - self.mix) * self.bowl(x) + self.mix * 0.25 * self.gp(x)


@dataclass(eq=False)
class Peaks:
    """Random peaks. ``wells``: ``min_k (depth_k + mean_j curv_kj (x_j - c_kj)^2)``; else
    ``trend * |x - c_0|^2 / d - sum_k height_k exp(-|(x - c_k) / width_k|^2 / 2)``."""

    centres: np.ndarray
    """``[K, d]``."""
    spread: np.ndarray
    """``[K, d]``: the bumps' widths or the wells' curvatures."""
    level: np.ndarray
    """``[K]``: the bumps' heights or the wells' depths."""
    trend: float
    wells: bool

    @classmethod
    def draw(cls, rng: np.random.RandomState, d: int) -> Peaks:
        k = int(np.round(log_uniform(rng, 3, 40)))
        centres = rng.uniform(0.0, 1.0, (k, d))
        jitter = np.exp(0.3 * rng.randn(k, d))
        if rng.rand() < 0.5:
            curv = log_uniform(rng, 1.0, 30.0, size=k)[:, None] * jitter
            return cls(centres, curv, rng.uniform(0.0, 1.0, k), 0.0, True)
        # Widths grow with sqrt(d) so a bump covers a similar share of the cube in any d.
        width = log_uniform(rng, 0.05, 0.4, size=k)[:, None] * np.sqrt(d) * jitter
        return cls(centres, width, rng.exponential(1.0, k), float(rng.uniform(0, 1)), False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        diff = x[:, None, :] - self.centres  # [n, K, d]
        if self.wells:
            return np.asarray((self.level + (self.spread * diff**2).mean(axis=2)).min(axis=1))
        bumps = np.exp(-0.5 * ((diff / self.spread) ** 2).sum(axis=2)) @ self.level
        return np.asarray(self.trend * (diff[:, 0] ** 2).mean(axis=1) - bumps)


def log_warp(x: np.ndarray, eps: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """``1 - log(eps + (1 - eps) x) / log(eps)``: 0 -> 0 and 1 -> 1, with half of [0, 1]
    squeezed into the first ``sqrt(eps)`` of ``x``; mirrored (``1 - warp(1 - x)``) where
    ``flip``. ``eps == 1`` leaves the coordinate as it is."""
    warped = eps < 1.0
    if not warped.any():
        return x
    e = np.where(warped, eps, 0.5)
    u = np.where(flip, 1.0 - x, x)
    u = 1.0 - np.log(e + (1.0 - e) * u) / np.log(e)
    return np.where(warped, np.where(flip, 1.0 - u, u), x)


@dataclass(eq=False)
class FailRegion:
    """Fails where ``direction . (x - 1/2) + wiggle(x) > threshold``: a half-space with a
    wavy boundary, its threshold set so that a chosen share of the cube fails."""

    direction: np.ndarray
    wiggle: Fourier
    threshold: float

    @classmethod
    def draw(cls, rng: np.random.RandomState, d: int, share: float) -> FailRegion:
        direction = rng.randn(d)
        direction *= 2.0 / np.linalg.norm(direction)
        wiggle = Fourier.draw(rng, d, lengthscale=(0.3, 1.0), n_features=32)
        wiggle.w *= rng.uniform(0.0, 1.0)
        region = cls(direction, wiggle, 0.0)
        # A scrambled Sobol set estimates the quantile far better than as many random points.
        probe = qmc.Sobol(d, scramble=True, seed=rng.randint(2**31 - 1)).random_base2(13)
        region.threshold = float(np.quantile(region.score(probe), 1.0 - share))
        return region

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((x - 0.5) @ self.direction + self.wiggle(x))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.score(x) > self.threshold
