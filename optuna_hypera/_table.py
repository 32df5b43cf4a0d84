"""Finished trials of one study as growing arrays, so each sampler call does Python work only
for the trials that finished since the last call (a finished trial never changes)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math

import numpy as np
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_hypera._features import STAT_NAMES
from optuna_hypera._features import STATS_KEY
from optuna_hypera._features import History
from optuna_hypera._features import number
from optuna_hypera._features import rank_quantiles
from optuna_hypera._features import trial_loss


RowFn = Callable[[FrozenTrial], "np.ndarray | None"]


class TrialTable:
    def __init__(self, minimize: bool) -> None:
        self.minimize = minimize
        self.index: dict[int, int] = {}
        self.trials: list[FrozenTrial] = []
        self._numbers: list[int] = []
        self._records: list[tuple[float, float, float]] = []  # loss, pruned, duration
        self._stats: dict[str, list[float]] = {name: [] for name in STAT_NAMES}
        self._x = np.full((64, 0), np.nan)  # coordinates in insertion order, NaN: not covering
        self._row_fn: RowFn | None = None
        self._cached: tuple[History, np.ndarray, np.ndarray] | None = None

    def update(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """Add the newly finished trials among ``trials``; returns them."""
        new = [t for t in trials if t.state.is_finished() and t.number not in self.index]
        for t in new:
            self.index[t.number] = len(self.trials)
            self.trials.append(t)
            self._numbers.append(t.number)
            loss = trial_loss(t, self.minimize)
            dur = math.nan
            if t.datetime_start is not None and t.datetime_complete is not None:
                dur = (t.datetime_complete - t.datetime_start).total_seconds()
            self._records.append((math.nan if loss is None else loss,
                                  float(t.state == TrialState.PRUNED), dur))
            stats = t.user_attrs.get(STATS_KEY)
            if isinstance(stats, dict):
                for name in STAT_NAMES:
                    v = number(stats.get(name))
                    if v is not None and v > 0:
                        self._stats[name].append(v)
            self._put_row(len(self.trials) - 1, t)
        if new:
            self._cached = None
        return new

    def _put_row(self, i: int, t: FrozenTrial) -> None:
        if i >= len(self._x):
            grown = np.full((2 * len(self._x), self._x.shape[1]), np.nan)
            grown[: len(self._x)] = self._x
            self._x = grown
        row = None if self._row_fn is None else self._row_fn(t)
        self._x[i] = np.nan if row is None else row

    def set_rows(self, row_fn: RowFn, dim: int) -> None:
        """Encode every finished trial with a new search-space encoder of ``dim`` coordinates."""
        self._row_fn = row_fn
        self._x = np.full((max(64, 2 * len(self.trials)), dim), np.nan)
        for i, t in enumerate(self.trials):
            self._put_row(i, t)
        self._cached = None

    def row(self, number: int) -> np.ndarray | None:
        """Coordinates of finished trial ``number``, ``None`` if it does not cover the space."""
        r = self._x[self.index[number]]
        return None if np.isnan(r[0]) else r

    def stats_medians(self) -> dict[str, float]:
        return {k: float(np.median(v)) for k, v in self._stats.items() if v}

    def view(self) -> tuple[History, np.ndarray, np.ndarray]:
        """(history in trial-number order, coordinates ``[n, d]`` in the same order with NaN
        rows where a trial does not cover the space, and the index of each row's trial in
        ``self.trials``)."""
        if self._cached is None:
            order = np.argsort(np.array(self._numbers, dtype=np.int64), kind="stable")
            rec = np.array(self._records, dtype=np.float64).reshape(len(self._records), 3)
            rec = rec[order]
            losses = rec[:, 0]
            history = History(
                numbers=np.array(self._numbers, dtype=np.int64)[order],
                losses=losses,
                quantiles=rank_quantiles(losses),
                pruned=rec[:, 1].astype(bool),
                durations=rec[:, 2],
                valid=~np.isnan(losses),
            )
            self._cached = (history, self._x[: len(self.trials)][order], order)
        return self._cached
