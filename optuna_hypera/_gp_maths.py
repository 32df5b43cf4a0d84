"""The Gaussian-process arithmetic the surrogate (``_surrogate``) and the chance of
completing (``_survival``) share: the Matern 5/2 kernel on scaled distances, the stable log
expected improvement and the nearest-trials selection that bounds every fit's cost.

Pure numpy/scipy on arrays, no Optuna.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfcx
from scipy.special import log_ndtr


SQRT5 = math.sqrt(5.0)


def matern52(r: np.ndarray) -> np.ndarray:
    """Matern 5/2 correlation at scaled distance ``r``."""
    sr = SQRT5 * r
    return (1.0 + sr + sr * sr / 3.0) * np.exp(-sr)


def scaled_dist(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` ``[n, d]`` and ``b`` ``[m, d]``, each
    coordinate divided by its lengthscale ``ls`` ``[d]``: ``[n, m]``."""
    a, b = a / ls, b / ls
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def log_ei(z: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """log(sd * (z Phi(z) + phi(z))) computed stably for very negative z (as in LogEI,
    Ament et al., NeurIPS 2023): for z < -1,
    h(z) = phi(z) (1 - |z| erfcx(|z|/sqrt2) sqrt(pi/2))."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    hi = z >= -1.0
    zh = z[hi]
    out[hi] = np.log(zh * np.exp(log_ndtr(zh)) + np.exp(-0.5 * zh * zh) / math.sqrt(2 * math.pi))
    zl = -z[~hi]
    inner = 1.0 - zl * erfcx(zl / math.sqrt(2.0)) * math.sqrt(math.pi / 2.0)
    out[~hi] = (-0.5 * zl * zl - 0.5 * math.log(2 * math.pi)
                + np.log(np.maximum(inner, 1e-300)))
    return out + np.log(sd)


def near(x: np.ndarray, center: np.ndarray, k: int) -> np.ndarray:
    """Rows of the at most ``k`` trials nearest ``center``, in trial order."""
    if len(x) <= k:
        return np.arange(len(x))
    rows = np.argsort(((x - center) ** 2).sum(1), kind="stable")[:k]
    rows.sort()
    return rows
