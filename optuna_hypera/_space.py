"""A search space as arrays: what the core needs to know about each coordinate.

Every parameter is one coordinate in [0, 1] (``_encoding.SpaceEncoder`` maps Optuna's
distributions onto it):

- ``CONTINUOUS`` and ``LOG`` floats: any value in [0, 1];
- ``BINNED`` (ints, stepped floats, categorical): ``n`` equal bins, a value sits at its bin
  centre;
- ``LOG_INT``: the log-scaled interval [low - 0.5, high + 0.5], each integer owning a share.

No Optuna import: the simulator builds spaces directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


CONTINUOUS, LOG, BINNED, LOG_INT = range(4)


def bin_index(u: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    """The bin (0 .. n - 1) of coordinates ``u`` in [0, 1] cut into ``n`` equal bins."""
    return np.minimum((np.asarray(u) * n).astype(np.int64), np.asarray(n) - 1)


@dataclass(frozen=True)
class Space:
    names: tuple[str, ...]
    kind: np.ndarray
    """One of the kinds above per coordinate."""
    n_bins: np.ndarray
    """Bins of ``BINNED`` coordinates (0 otherwise)."""
    int_low: np.ndarray
    """Smallest and largest integer of ``LOG_INT`` coordinates (0 otherwise)."""
    int_high: np.ndarray
    categorical: np.ndarray
    single: np.ndarray
    """Coordinates of a single-valued parameter (they always sit at 0.5)."""

    @classmethod
    def build(cls, names: Sequence[str], kind: Sequence[int], n_bins: Sequence[int] | None = None,
              int_low: Sequence[int] | None = None, int_high: Sequence[int] | None = None,
              categorical: Sequence[bool] | None = None,
              single: Sequence[bool] | None = None) -> Space:
        d = len(names)
        zeros = [0] * d
        return cls(
            tuple(names), np.asarray(kind, np.int64), np.asarray(n_bins or zeros, np.int64),
            np.asarray(int_low or zeros, np.float64), np.asarray(int_high or zeros, np.float64),
            np.asarray(categorical or [False] * d, bool), np.asarray(single or [False] * d, bool),
        )

    @classmethod
    def continuous(cls, d: int) -> Space:
        return cls.build([f"x{i}" for i in range(d)], [CONTINUOUS] * d)

    def __len__(self) -> int:
        return len(self.names)

    def take(self, dims: Sequence[int] | np.ndarray) -> Space:
        """The space of coordinates ``dims`` only."""
        idx = np.asarray(dims, dtype=np.int64)
        return Space(tuple(self.names[i] for i in idx.tolist()), self.kind[idx],
                     self.n_bins[idx], self.int_low[idx], self.int_high[idx],
                     self.categorical[idx], self.single[idx])

    @cached_property
    def flags(self) -> np.ndarray:
        """``[d, 3]``: is_log, is_categorical, granularity (1 / number of values, 0 if
        continuous), as the agents' tokens read them."""
        gran = np.zeros(len(self))
        binned = self.kind == BINNED
        gran[binned] = 1.0 / self.n_bins[binned]
        li = self.kind == LOG_INT
        gran[li] = 1.0 / np.maximum(1.0, self.int_high[li] - self.int_low[li] + 1.0)
        is_log = (self.kind == LOG) | li
        return np.stack([is_log, self.categorical, gran], axis=1).astype(np.float64)

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Coordinates of the values that ``x`` (``[..., d]``) decodes to."""
        u = np.minimum(np.maximum(np.asarray(x, dtype=np.float64), 0.0), 1.0)
        out = u.copy()
        binned, li, has_binned, has_li, has_single = self._masks
        if has_binned:
            n = self.n_bins[binned]
            k = np.minimum(np.floor(u[..., binned] * n), n - 1)
            out[..., binned] = (k + 0.5) / n
        if has_li:
            lo, hi = np.log(self.int_low[li] - 0.5), np.log(self.int_high[li] + 0.5)
            v = np.clip(np.round(np.exp(lo + u[..., li] * (hi - lo))), self.int_low[li],
                        self.int_high[li])
            out[..., li] = (np.log(v) - lo) / (hi - lo)
        if has_single:
            out[..., self.single] = 0.5
        return out

    @cached_property
    def _masks(self) -> tuple[np.ndarray, np.ndarray, bool, bool, bool]:
        binned, li = self.kind == BINNED, self.kind == LOG_INT
        return binned, li, bool(binned.any()), bool(li.any()), bool(self.single.any())
