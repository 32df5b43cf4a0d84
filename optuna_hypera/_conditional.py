"""Which parameters a configuration's trial will ask, learned from the finished trials of a
define-by-run study (``HyperaSampler(conditional="model")``), on plain arrays.

A conditional parameter (SGD's momentum) is asked only under some choices of the parameters
every trial asks (the optimizer). A trial that did not ask one enters the model at
``_encoding.IMPUTED``, so a candidate of that branch should be valued there too: a value the
trial will never ask would otherwise look like an unexplored direction to the model, and a
repeat of a finished configuration would look new. ``Activity`` keys each finished trial by
the choices of its always-asked discrete parameters and reads, for a candidate with a key seen
before, the conditional parameters no finished trial of that key asked. No Optuna import.
"""

from __future__ import annotations

import numpy as np

from optuna_hypera._space import BINNED
from optuna_hypera._space import Space
from optuna_hypera._space import bin_index


IMPUTED = 0.5
"""The coordinate of a parameter a finished trial did not ask (a conditional parameter of
another branch): the centre of its range, a constant, so the model reads the branch's other
parameters."""

MAX_KEY_BINS = 8
"""Discrete parameters with at most this many values key a branch (a categorical choice, a
layer count); finer ones (a batch size) do not."""


class Activity:
    """The inactive coordinates of candidates, from the ``present`` mask ``[n, d]`` (which
    finished trial asked which parameter) and those trials' coordinates ``x`` ``[n, d]``."""

    def __init__(self, space: Space, x: np.ndarray, present: np.ndarray) -> None:
        always = present.all(axis=0)
        self.conditional = ~always
        bins = np.asarray(space.n_bins)
        self.keys = np.flatnonzero(always & (np.asarray(space.kind) == BINNED)
                                   & (bins >= 2) & (bins <= MAX_KEY_BINS))
        self._bins = bins[self.keys]
        self._asked: dict[tuple[int, ...], np.ndarray] = {}
        if not self.conditional.any() or not len(self.keys):
            return
        for key, row in zip(self._key(x), present[:, self.conditional], strict=True):
            seen = self._asked.get(key)
            self._asked[key] = row.copy() if seen is None else seen | row

    def _key(self, x: np.ndarray) -> list[tuple[int, ...]]:
        return [tuple(r) for r in bin_index(x[:, self.keys], self._bins).tolist()]

    def inactive(self, x: np.ndarray) -> np.ndarray:
        """``[m, d]``: the coordinates a trial at each row of ``x`` would not ask (none for a
        row whose key no finished trial has)."""
        out = np.zeros(x.shape, bool)
        if not self._asked:
            return out
        cols = np.flatnonzero(self.conditional)
        for i, key in enumerate(self._key(x)):
            asked = self._asked.get(key)
            if asked is not None:
                out[i, cols[~asked]] = True
        return out
