"""One agent's replay: its transitions as growing arrays, with absolute ids.

No Optuna, no torch: the ``Learner`` fills it, draws from it and rewards what it draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN


class AgentReplay:
    """One agent's transitions as growing arrays; past ``capacity`` the oldest are dropped,
    a tenth of the capacity at least at a time.
    Each transition keeps an absolute id (``dropped + row``) so it can be found again."""

    tokens: np.ndarray
    mask: np.ndarray
    glob: np.ndarray
    cand: np.ndarray
    action: np.ndarray
    next_tokens: np.ndarray
    next_mask: np.ndarray
    next_glob: np.ndarray
    next_cand: np.ndarray
    done: np.ndarray
    study: np.ndarray
    trial: np.ndarray
    base: np.ndarray
    clone: np.ndarray
    value: np.ndarray
    reward: np.ndarray
    _FIELDS = ("tokens", "mask", "glob", "cand", "action", "next_tokens", "next_mask",
               "next_glob", "next_cand", "done", "study", "trial", "base", "clone", "value",
               "reward")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.n = 0
        self.p = 1
        self.dropped = 0
        self._alloc(64)

    def _alloc(self, size: int) -> None:
        shapes = {
            "tokens": ((size, self.p, N_TOKEN), np.float32),
            "mask": ((size, self.p), np.float32),
            "glob": ((size, N_GLOBAL), np.float32),
            "cand": ((size, N_CAND), np.float32),
            "action": ((size, self.p), np.float32),
            "next_tokens": ((size, self.p, N_TOKEN), np.float32),
            "next_mask": ((size, self.p), np.float32),
            "next_glob": ((size, N_GLOBAL), np.float32),
            "next_cand": ((size, N_CAND), np.float32),
            "done": ((size,), np.float32),
            "study": ((size,), np.int64),
            "trial": ((size,), np.int64),
            "base": ((size,), np.int64),
            "clone": ((size,), np.float32),
            "value": ((size,), np.float64),
            "reward": ((size,), np.float32),
        }
        for name, (shape, dtype) in shapes.items():
            grown = np.zeros(shape, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                grown[tuple(slice(0, s) for s in old.shape)] = old
            setattr(self, name, grown)

    def __len__(self) -> int:
        return self.n

    def add(self, tokens: Sequence[np.ndarray], glob: np.ndarray,
            action: Sequence[np.ndarray], study: Sequence[int], trial: Sequence[int],
            base: Sequence[int], cand: np.ndarray | None = None,
            clone: np.ndarray | float = 1.0, value: np.ndarray | None = None) -> np.ndarray:
        """Append transitions (each ``done`` until ``set_next``); returns their absolute ids.
        ``clone``: whether the actor clones the action (0 for a global jump, whose action is
        clipped, and for hindsight candidates that were not executed); ``value``: a hindsight
        candidate's loss (``trial`` -1; its reward is ranked against the study's trials),
        NaN for trials."""
        k = len(action)
        width = max(len(a) for a in action)
        while width > self.p or self.n + k > len(self.done):
            grow = self.n + k > len(self.done)
            self.p = max(self.p, width)
            self._alloc(len(self.done) * (2 if grow else 1))
        rows = slice(self.n, self.n + k)
        for name in ("tokens", "mask", "action", "next_tokens", "next_mask"):
            getattr(self, name)[rows] = 0.0
        if all(len(a) == width for a in action):
            self.tokens[rows, :width] = np.stack(tokens)
            self.action[rows, :width] = np.stack(action)
            self.mask[rows, :width] = 1.0
        else:
            for i, (t, a) in enumerate(zip(tokens, action, strict=True)):
                self.tokens[self.n + i, : len(a)] = t
                self.action[self.n + i, : len(a)] = a
                self.mask[self.n + i, : len(a)] = 1.0
        self.glob[rows] = glob
        self.next_glob[rows] = self.glob[rows]
        self.cand[rows] = 0.0 if cand is None else cand
        self.next_cand[rows] = self.cand[rows]
        self.done[rows] = 1.0
        self.study[rows], self.trial[rows], self.base[rows] = study, trial, base
        self.clone[rows] = clone
        self.value[rows] = np.nan if value is None else value
        self.reward[rows] = np.nan  # recomputed from the study's ranks until it is frozen
        self.n += k
        if self.n > self.capacity:
            # Drop at least a tenth at once: shifting every array costs O(capacity), so a
            # full replay that takes many small additions (pre-training's hindsight labels)
            # must not shift on each.
            drop = min(self.n, max(self.n - self.capacity, self.capacity // 10))
            keep = self.n - drop
            for name in self._FIELDS:
                arr = getattr(self, name)
                arr[:keep] = arr[drop : self.n].copy()
            self.n = keep
            self.dropped += drop
        return np.arange(self.dropped + self.n - k, self.dropped + self.n)

    def set_next(self, uid: int, tokens: np.ndarray, glob: np.ndarray,
                 cand: np.ndarray | None = None) -> None:
        i = uid - self.dropped
        if i < 0:
            return  # dropped already
        k = len(tokens)
        if k > self.p:
            self.p = k
            self._alloc(len(self.done))
        self.next_tokens[i] = 0.0
        self.next_mask[i] = 0.0
        self.next_tokens[i, :k] = tokens
        self.next_mask[i, :k] = 1.0
        self.next_glob[i] = glob
        if cand is not None:
            self.next_cand[i] = cand
        self.done[i] = 0.0
