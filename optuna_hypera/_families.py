"""A prior over landscapes: generated objective families, each standing for one kind of
structure hyperparameter-optimization objectives have, with its own random parameters
(``docs/families.md`` has a card per family). No named benchmark function is implemented.

A task is ``sample(family, d, seed)``: a ``Landscape`` on the unit cube ``[0, 1]^d`` as the
agents see it, values minimized, reproducible from ``(family, d, seed)`` alone. Values are
affinely normalized (median 0, robust spread 1 on uniform random points), so noise levels mean
the same in every family. NaN marks a failed evaluation.

Splits are by seed (``split_of``): blake2b-64 of the seed's 8 little-endian bytes, mod 10;
0-6 train, 7 validation, 8-9 test. A held-out task never shares its random parameters with a
training task, whatever its family and dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import hashlib
import math
import zlib

import numpy as np

from optuna_hypera._family_parts import KERNELS
from optuna_hypera._family_parts import Bowl
from optuna_hypera._family_parts import FailRegion
from optuna_hypera._family_parts import Fourier
from optuna_hypera._family_parts import Peaks
from optuna_hypera._family_parts import Smooth
from optuna_hypera._family_parts import log_uniform
from optuna_hypera._family_parts import log_warp
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import LOG
from optuna_hypera._space import LOG_INT
from optuna_hypera._space import Space


Shape = Callable[[np.ndarray], np.ndarray]
"""A noiseless landscape before normalization: ``[n, d]`` snapped points -> ``[n]``."""

MIN_DIM = 2
SPLITS = ("train", "validation", "test")
BUDGET = (15, 300)
"""Trials per task, drawn log-uniformly (inclusive)."""
FAIL_SHARE = (0.05, 0.30)
"""Share of the cube where a ``failing`` task fails."""
_NORM_POINTS = 512


@dataclass(eq=False)
class Landscape:
    """One generated objective: ``task(x[n, d], rng=None) -> [n]`` float64."""

    family: str
    space: Space
    seed: int
    n_trials: int
    """The task's budget."""
    noise: float
    """Standard deviation of the observation noise at the cube's centre (0: none)."""
    shape: Shape
    offset: float
    scale: float
    noise_df: float = math.inf
    """Student-t degrees of freedom of the noise; infinite: Gaussian."""
    noise_slope: np.ndarray | None = None
    """``sd(x) = noise * exp(noise_slope . (x - 1/2))``; ``None``: homoscedastic."""
    fail: FailRegion | None = None

    def fails(self, x: np.ndarray) -> np.ndarray:
        x = self.space.snap(np.atleast_2d(x))
        return np.zeros(len(x), bool) if self.fail is None else self.fail(x)

    def clean(self, x: np.ndarray) -> np.ndarray:
        """The noiseless normalized value, NaN where the evaluation fails."""
        x = self.space.snap(np.atleast_2d(x))
        y = (np.asarray(self.shape(x), np.float64) - self.offset) / self.scale
        if self.fail is not None:
            y[self.fail(x)] = np.nan
        return y

    def __call__(self, x: np.ndarray, rng: np.random.RandomState | None = None) -> np.ndarray:
        y = self.clean(x)
        if rng is None or self.noise == 0.0:
            return y
        sd = np.full(len(y), self.noise)
        if self.noise_slope is not None:
            sd *= np.exp((self.space.snap(np.atleast_2d(x)) - 0.5) @ self.noise_slope)
        e = rng.randn(len(y)) if math.isinf(self.noise_df) else rng.standard_t(self.noise_df,
                                                                                 len(y))
        return np.asarray(y + sd * e, np.float64)


# --- the shapes that are more than one part -------------------------------------------------


@dataclass(eq=False)
class Plateau:
    """``step * floor(base(c(x)) / step + phase)``, ``c`` moving each stepped coordinate to
    the centre of its cell (an empty ``edges[j]``: coordinate ``j`` is not stepped)."""

    base: Smooth
    step: float
    """0: the value is not rounded."""
    phase: float
    edges: tuple[np.ndarray, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x.copy()
        for j, e in enumerate(self.edges):
            if len(e):
                k = np.clip(np.searchsorted(e, x[:, j], side="right") - 1, 0, len(e) - 2)
                x[:, j] = (e[k] + e[k + 1]) / 2
        y = self.base(x)
        return self.step * np.floor(y / self.step + self.phase) if self.step else y


@dataclass(eq=False)
class LowDim:
    """``base(z)``, ``z = x[active]`` or ``z = 1/2 + (x[active] - 1/2) @ proj``."""

    active: np.ndarray
    proj: np.ndarray | None
    """``[m, e]`` orthonormal columns; ``None``: the active coordinates themselves."""
    base: Smooth

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = x[:, self.active]
        return self.base(z if self.proj is None else 0.5 + (z - 0.5) @ self.proj)


@dataclass(eq=False)
class LogScale:
    """``base(warp(x))`` (``_family_parts.log_warp``)."""

    eps: np.ndarray
    flip: np.ndarray
    base: Smooth

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.base(log_warp(x, self.eps, self.flip))


@dataclass(eq=False)
class Categorical:
    """``sum_j offset[j, c_j] + pair[c_0, c_1] + exp(sum_j log_scale[j, c_j])
    * base(x - sum_j shift[j, c_j])``, ``c_j`` the choice of categorical coordinate
    ``cat[j]``: every table entry is drawn independently, so no order of the choices means
    anything."""

    cat: np.ndarray
    n_choices: np.ndarray
    offset: np.ndarray
    """``[c, k_max]``."""
    pair: np.ndarray
    """``[k_max, k_max]``; zeros with one categorical coordinate."""
    log_scale: np.ndarray
    shift: np.ndarray
    """``[c, k_max, d]``, zero on the categorical coordinates."""
    base: Smooth
    """Blind to the categorical coordinates."""

    def choices(self, x: np.ndarray) -> np.ndarray:
        return np.minimum(np.floor(x[:, self.cat] * self.n_choices),
                          self.n_choices - 1).astype(np.int64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        c = self.choices(x)
        rows = np.arange(len(self.cat))
        y = self.offset[rows, c].sum(axis=1)
        if len(self.cat) > 1:
            y = y + self.pair[c[:, 0], c[:, 1]]
        scale = np.exp(self.log_scale[rows, c].sum(axis=1))
        return np.asarray(y + scale * self.base(x - self.shift[rows, c].sum(axis=1)))


@dataclass(eq=False)
class Conditional:
    """``offset[b] + branches[b](x)``, ``b`` the choice of coordinate ``selector``; branch
    ``b`` is blind to every coordinate outside ``active[b]``."""

    selector: int
    offset: np.ndarray
    active: np.ndarray
    """``[k, d]``."""
    branches: tuple[Smooth, ...]

    def branch(self, x: np.ndarray) -> np.ndarray:
        k = len(self.branches)
        return np.minimum(np.floor(x[:, self.selector] * k), k - 1).astype(np.int64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b = self.branch(x)
        values = np.stack([f(x) for f in self.branches], axis=1)
        return np.asarray(self.offset[b] + values[np.arange(len(x)), b])


# --- the families: one builder each, its docstring the family's card ------------------------


def _continuous(d: int) -> Space:
    return Space.continuous(d)


def _separable_bowl(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Axis-aligned ill-conditioned quadratic bowl: each parameter has its own sensitivity
    (condition number log-uniform in [1, 1e6]), no interactions."""
    return _continuous(d), Bowl.draw(rng, d, log10_cond=(0.0, 6.0), rotated=False)


def _rotated_bowl(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """The same bowl in a random orthogonal basis: strongly coupled parameters (a learning
    rate and a batch size trading off), conditioning log-uniform in [1, 1e6]."""
    return _continuous(d), Bowl.draw(rng, d, log10_cond=(0.0, 6.0), rotated=True)


def _plateau(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Plateaus: the value rounded to 3-30 levels (accuracy on a small validation set) and/or
    piecewise-constant in 2-10 random cells per coordinate (a parameter whose effect changes
    only at thresholds)."""
    base = Smooth.draw(rng, d)
    mode = rng.rand()
    edges: tuple[np.ndarray, ...] = ()
    if mode >= 0.4:
        stepped = rng.rand(d) < 0.7
        stepped[rng.randint(d)] = True
        edges = tuple(np.concatenate([[0.0], np.sort(rng.rand(rng.randint(1, 10))), [1.0]])
                      if s else np.zeros(0) for s in stepped)
    step = 0.0
    if mode < 0.4 or mode >= 0.8:
        q05, q95 = np.quantile(base(rng.rand(_NORM_POINTS, d)), [0.05, 0.95])
        step = float(max(q95 - q05, 1e-12) / log_uniform(rng, 3, 30))
    return _continuous(d), Plateau(base, step, float(rng.rand()), edges)


def _peaks(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Many local optima: 3-40 random bumps (heights exponential, widths log-uniform) on a weak
    random trend, or the minimum over as many random quadratic wells of random depth."""
    return _continuous(d), Peaks.draw(rng, d)


def _low_dim(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Low effective dimension: a smooth function of ``e <= max(1, d // 4)`` directions,
    either a random subset of the coordinates or (d >= 4, half the time) a random projection
    of a subset of at most half of them; every other coordinate does nothing."""
    e = rng.randint(1, max(1, d // 4) + 1)
    if d >= 4 and rng.rand() < 0.5:
        m = rng.randint(e + 1, max(e + 1, d // 2) + 1)
        active = np.sort(rng.choice(d, m, replace=False))
        proj, _ = np.linalg.qr(rng.randn(m, e))
        return _continuous(d), LowDim(active, proj, Smooth.draw(rng, e))
    active = np.sort(rng.choice(d, e, replace=False))
    return _continuous(d), LowDim(active, None, Smooth.draw(rng, e))


def _log_scale(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Log-scale sensitivity: smooth in ``log`` of the raw value. Half the coordinates are
    declared linear although their effect sits within ``sqrt(eps)`` of one end (``eps``
    log-uniform in [1e-5, 1e-2], a learning rate searched on a linear scale); a quarter are
    declared ``LOG`` (already log-scaled: smooth in x); the rest are plain linear."""
    u = rng.rand(d)
    warped = u < 0.5
    if not warped.any():
        warped[rng.randint(d)] = True
    kind = np.where(~warped & (u < 0.75), LOG, CONTINUOUS)
    eps = np.where(warped, log_uniform(rng, 1e-5, 1e-2, size=d), 1.0)
    flip = rng.rand(d) < 0.3
    space = Space.build([f"x{j}" for j in range(d)], kind.tolist())
    return space, LogScale(eps, flip, Smooth.draw(rng, d))


def _integer(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Integer parameters: about 45% ordinal binned coordinates with 2-8 values (layers),
    30% log-scaled integers (``LOG_INT``, low in {1, ..., 32}, high = low * 2^(2..7), a batch
    size); the smooth value is taken at the integer the point decodes to."""
    u = rng.rand(d)
    if (u >= 0.75).all():
        u[rng.randint(d)] = 0.0
    kind = np.where(u < 0.45, BINNED, np.where(u < 0.75, LOG_INT, CONTINUOUS))
    n_bins = np.where(kind == BINNED, rng.randint(2, 9, d), 0)
    low = 2 ** rng.randint(0, 6, d)
    high = low * 2 ** rng.randint(2, 8, d)
    li = kind == LOG_INT
    space = Space.build([f"x{j}" for j in range(d)], kind.tolist(), n_bins.tolist(),
                        np.where(li, low, 0).tolist(), np.where(li, high, 0).tolist())
    return space, Smooth.draw(rng, d, lengthscale=(0.1, 0.6))


def _categorical(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Categorical parameters as random tables: 1-3 coordinates of 2-8 choices, each choice
    with its own offset (Student-t, 3 dof, scale log-uniform in [0.03, 0.5]), optimum shift
    and curvature factor for the continuous part, and a joint table for the first two (an
    optimizer choice moving the best learning rate)."""
    c = rng.randint(1, min(3, d - 1) + 1)
    cat = np.sort(rng.choice(d, c, replace=False))
    n_choices = rng.randint(2, 9, c)
    k = int(n_choices.max())
    spread = float(log_uniform(rng, 0.03, 0.5))
    offset = spread * rng.standard_t(3, (c, k))
    pair = rng.uniform(0.0, 1.0) * spread * rng.randn(k, k) * (c > 1)
    log_scale = rng.uniform(0.0, 0.7) * rng.randn(c, k)
    cont = np.ones(d, bool)
    cont[cat] = False
    shift = rng.uniform(0.0, 0.25) * rng.randn(c, k, d) * cont
    n_bins = np.zeros(d, np.int64)
    n_bins[cat] = n_choices
    space = Space.build([f"x{j}" for j in range(d)], np.where(cont, CONTINUOUS, BINNED).tolist(),
                        n_bins.tolist(), categorical=(~cont).tolist())
    return space, Categorical(cat, n_choices, offset, pair, log_scale, shift,
                              Smooth.draw(rng, d, active=cont))


def _conditional(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Conditional parameters: a categorical selector of 2-4 branches (an optimizer); each
    other coordinate matters in every branch (25%, a learning rate) or in one branch only
    (momentum for SGD, beta2 for Adam), and is ignored elsewhere; random branch offsets."""
    k = rng.randint(2, 5)
    selector = rng.randint(d)
    owner = np.where(rng.rand(d) < 0.25, -1, rng.randint(k, size=d))
    active = (owner == -1) | (owner == np.arange(k)[:, None])
    active[:, selector] = False
    branches = tuple(Smooth.draw(rng, d, active=a) for a in active)
    offset = float(log_uniform(rng, 0.05, 0.5)) * rng.randn(k)
    kind = [BINNED if j == selector else CONTINUOUS for j in range(d)]
    space = Space.build([f"x{j}" for j in range(d)], kind,
                        [k if j == selector else 0 for j in range(d)],
                        categorical=[j == selector for j in range(d)])
    return space, Conditional(selector, offset, active, branches)


def _noisy(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Heteroscedastic, heavy-tailed noise on a smooth landscape: noise sd log-uniform in
    [0.05, 0.5] at the centre, varying by a factor e^(+-0.5..1.5) across the cube, Student-t
    with 1.5-5 dof 60% of the time (seed-to-seed variance of a training run)."""
    return _continuous(d), Smooth.draw(rng, d)


def _failing(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """Failing region: a smooth landscape that returns NaN on 5-30% of the cube, beyond a
    random half-space with a wavy boundary (diverged trainings, out-of-memory)."""
    return _continuous(d), Smooth.draw(rng, d)


def _gp(rng: np.random.RandomState, d: int) -> tuple[Space, Shape]:
    """A Gaussian-process prior sample (RBF, Matern-5/2 or Matern-3/2, 256 random Fourier
    features), per-coordinate lengthscales log-uniform in [0.05, 0.8], ~20% of coordinates
    unused."""
    active = rng.rand(d) < 0.8
    active[rng.randint(d)] = True
    return _continuous(d), Fourier.draw(rng, d, lengthscale=(0.05, 0.8), active=active,
                                        kernel=KERNELS[rng.randint(len(KERNELS))],
                                        n_features=256)


_BUILDERS: dict[str, Callable[[np.random.RandomState, int], tuple[Space, Shape]]] = {
    "separable_bowl": _separable_bowl, "rotated_bowl": _rotated_bowl, "plateau": _plateau,
    "peaks": _peaks, "low_dim": _low_dim, "log_scale": _log_scale, "integer": _integer,
    "categorical": _categorical, "conditional": _conditional, "noisy": _noisy,
    "failing": _failing, "gp": _gp,
}
FAMILIES: tuple[str, ...] = tuple(_BUILDERS)


def card(family: str) -> str:
    """The family's card: what structure it stands for, its ranges."""
    doc = _BUILDERS[family].__doc__ or ""
    return " ".join(doc.split())


def sample(family: str, d: int, seed: int) -> Landscape:
    """The task ``(family, d, seed)``; the same triple always gives the same task."""
    if family not in _BUILDERS:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")
    if d < MIN_DIM:
        raise ValueError(f"d must be at least {MIN_DIM}, got {d}.")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}.")
    rng = np.random.RandomState([zlib.crc32(family.encode()), d, seed])
    space, shape = _BUILDERS[family](rng, d)
    n_trials = int(np.round(log_uniform(rng, *BUDGET)))
    noise, df, slope = 0.0, math.inf, None
    if family == "noisy":
        noise = float(log_uniform(rng, 0.05, 0.5))
        df = float(rng.uniform(1.5, 5.0)) if rng.rand() < 0.6 else math.inf
        slope = rng.randn(d)
        slope *= 2.0 * rng.uniform(0.5, 1.5) / np.abs(slope).sum()
    elif rng.rand() < 0.5:
        noise = float(log_uniform(rng, 1e-3, 0.05))
    fail = FailRegion.draw(rng, d, rng.uniform(*FAIL_SHARE)) if family == "failing" else None
    raw = shape(space.snap(rng.rand(_NORM_POINTS, d)))
    q25, q50, q75 = np.quantile(raw, [0.25, 0.5, 0.75])
    scale = (q75 - q25) / 1.349 or float(np.std(raw)) or 1.0  # a normal's IQR is 1.349 sd
    return Landscape(family, space, seed, n_trials, noise, shape, float(q50), float(scale),
                     df, slope, fail)


def split_of(seed: int) -> str:
    """``"train"``, ``"validation"`` or ``"test"``: blake2b-64 of the seed's 8 little-endian
    bytes, mod 10; 0-6 train, 7 validation, 8-9 test."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}.")
    digest = hashlib.blake2b(int(seed).to_bytes(8, "little"), digest_size=8).digest()
    r = int.from_bytes(digest, "little") % 10
    return SPLITS[0] if r < 7 else SPLITS[1] if r == 7 else SPLITS[2]


def draw(split: str, n: int, rng_seed: int, dims: Sequence[int] = (2, 3, 5, 8, 12, 16),
         families: Sequence[str] = FAMILIES) -> list[Landscape]:
    """``n`` tasks of ``split``: families in turn, dimensions and seeds drawn from
    ``rng_seed`` (seeds of other splits skipped)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if not families or not dims or min(dims) < MIN_DIM:
        raise ValueError(f"need families and dims >= {MIN_DIM}, got {families}, {dims}.")
    rng = np.random.RandomState(rng_seed)
    out: list[Landscape] = []
    seen: set[int] = set()
    while len(out) < n:
        seed = int(rng.randint(2**31 - 1))
        if seed in seen or split_of(seed) != split:
            continue
        seen.add(seed)
        d = int(dims[rng.randint(len(dims))])
        out.append(sample(families[len(out) % len(families)], d, seed))
    return out
