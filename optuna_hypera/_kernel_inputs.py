"""How a search space's coordinates enter the surrogate's kernel.

The agents act on one coordinate in [0, 1] per parameter (``_space``). The kernel should not
read that coordinate as it is where it means something else:

- **categorical** parameters have no order. Each one enters as its choice's one-hot vector
  scaled by ``1/sqrt(2)``, so the squared distance between two configurations along it is 0
  for the same choice and exactly 1 for any two different choices (the overlap, or Hamming,
  distance), whatever order the choices were declared in. Its one lengthscale is shared by
  its one-hot columns, so ARD still has one lengthscale per parameter (as in the
  "one-hot with per-parameter lengthscales" treatment of Garrido-Merchan & Hernandez-Lobato
  2020, and the overlap kernel of CoCaBO, Ru et al. 2020);
- **integer and stepped** parameters are read at the value they decode to (``Space.snap``),
  so every query inside one integer's bin is the same configuration to the model;
- continuous parameters are read as they are (a space with only those is the identity map,
  bit for bit).

Pure numpy, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from optuna_hypera._space import BINNED
from optuna_hypera._space import LOG_INT
from optuna_hypera._space import Space


_HALF = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class KernelInputs:
    """The map from ``[n, d]`` coordinates to the kernel's ``[n, D]`` inputs."""

    d: int
    space: Space | None
    """``None``: every coordinate is continuous and the map is the identity."""
    ordinal: np.ndarray
    """Coordinates that enter as one column each (all but the categorical ones), in order."""
    categorical: np.ndarray
    """Categorical coordinates, each entering as ``n_choices`` one-hot columns."""
    n_choices: np.ndarray
    cols: np.ndarray
    """``[D]``: the coordinate each kernel column belongs to (its lengthscale)."""

    @classmethod
    def of(cls, space: Space | None, d: int) -> KernelInputs:
        if space is None or not (np.isin(space.kind, (BINNED, LOG_INT)).any()):
            return cls(d, None, np.arange(d), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.arange(d))
        if len(space) != d:
            raise ValueError(f"space has {len(space)} coordinates, data {d}")
        cat = np.flatnonzero(space.categorical & (space.kind == BINNED))
        ordinal = np.setdiff1d(np.arange(d), cat)
        n_choices = space.n_bins[cat].astype(np.int64)
        cols = np.concatenate([ordinal, np.repeat(cat, n_choices)]).astype(np.int64)
        return cls(d, space, ordinal, cat, n_choices, cols)

    @property
    def identity(self) -> bool:
        return self.space is None

    def signature(self) -> bytes:
        """Tells kernel fits on differently read spaces apart (the refit cache's key)."""
        return self.categorical.tobytes() + self.n_choices.tobytes() + bytes([self.identity])

    def embed(self, x: np.ndarray) -> np.ndarray:
        """``[n, d]`` coordinates -> ``[n, D]`` kernel inputs."""
        if self.space is None:
            return x
        s = self.space.snap(x)
        if not len(self.categorical):
            return s
        parts = [s[:, self.ordinal]]
        for j, n in zip(self.categorical.tolist(), self.n_choices.tolist(), strict=True):
            code = np.minimum(np.floor(s[:, j] * n), n - 1).astype(np.int64)
            onehot = np.zeros((len(s), n))
            onehot[np.arange(len(s)), code] = _HALF
            parts.append(onehot)
        return np.concatenate(parts, axis=1)

    def expand(self, per_coordinate: np.ndarray) -> np.ndarray:
        """A per-coordinate vector (lengthscales) per kernel column."""
        return per_coordinate if self.identity else per_coordinate[self.cols]

    def reduce(self, per_column: np.ndarray) -> np.ndarray:
        """Sum per-column derivatives into per-coordinate ones (a shared lengthscale's)."""
        if self.identity:
            return per_column
        return np.bincount(self.cols, weights=per_column, minlength=self.d)

    def slope(self, per_column: np.ndarray) -> np.ndarray:
        """``[K, D]`` gradient in kernel inputs -> ``[K, d]`` along the coordinates: an
        ordinal coordinate moves its one column (through the snap as if it were continuous,
        the model's trend across integers); a categorical one has no slope (0)."""
        if self.identity:
            return per_column
        out = np.zeros((len(per_column), self.d))
        out[:, self.ordinal] = per_column[:, : len(self.ordinal)]
        return out
