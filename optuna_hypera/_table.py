"""Optuna trials -> the core's ``History``, incrementally.

Each finished trial is encoded once (a finished trial never changes), so a sampler call does
Python work only for the trials that finished since the last call. ``build_history`` does the
same from scratch, for tests and one-off use.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_hypera._curves import CurveTable
from optuna_hypera._curves import early_values
from optuna_hypera._curves import predict_finals
from optuna_hypera._history import STAT_NAMES
from optuna_hypera._history import History
from optuna_hypera._history import curve_trend
from optuna_hypera._report import STATS_KEY


RowFn = Callable[[FrozenTrial], "np.ndarray | None"]
_N_RECORD = 6 + len(STAT_NAMES)  # loss, pruned, step, trend, duration, completed, stats...
_STATS = 6


def trial_loss(trial: FrozenTrial, minimize: bool) -> float | None:
    """Direction-adjusted value to rank (lower is better), or ``None`` when penalized: the
    final value, or a pruned trial's last reported value."""
    if trial.state == TrialState.COMPLETE:
        value = trial.values[0] if trial.values else None
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    else:
        return None
    if value is None or not math.isfinite(value):
        return None
    if any(c > 0.0 for c in trial.constraints.values()):
        return None
    return float(value) if minimize else -float(value)


def encode_trial(trial: FrozenTrial, minimize: bool,
                 curve: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The trial's row of ``History`` fields other than its coordinates (NaN where unknown);
    ``curve``: its ``trial_curve``, where the caller has it already."""
    rec = np.full(_N_RECORD, np.nan)
    loss = trial_loss(trial, minimize)
    rec[0] = math.nan if loss is None else loss
    pruned = trial.state == TrialState.PRUNED
    rec[1] = float(pruned)
    if pruned and trial.intermediate_values:
        rec[2] = float(max(trial.intermediate_values))
    rec[3] = curve_trend((curve or trial_curve(trial, minimize))[1].tolist())
    if trial.datetime_complete is not None:
        rec[5] = trial.datetime_complete.timestamp()
        if trial.datetime_start is not None:
            rec[4] = (trial.datetime_complete - trial.datetime_start).total_seconds()
    stats = trial.user_attrs.get(STATS_KEY)
    if isinstance(stats, dict):
        for k, name in enumerate(STAT_NAMES):
            v = stats.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                rec[_STATS + k] = float(v)
    return rec


def trial_curve(trial: FrozenTrial, minimize: bool) -> tuple[np.ndarray, np.ndarray]:
    """The trial's finite reports: sorted steps and direction-adjusted values."""
    iv = trial.intermediate_values
    sign = 1.0 if minimize else -1.0
    pairs = [(float(k), sign * float(iv[k])) for k in sorted(iv) if math.isfinite(iv[k])]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pairs, strict=True)
    return np.array(steps), np.array(values)


def _history(numbers: np.ndarray, records: np.ndarray, x: np.ndarray,
             has_stats: np.ndarray, curves: tuple[np.ndarray, np.ndarray] | None = None,
             last_step: float = math.nan) -> History:
    loss, pruned, step = records[:, 0], records[:, 1].astype(bool), records[:, 2]
    final = None
    early, early_step = None, math.nan
    if curves is not None and len(curves[0]):
        final = predict_finals(loss, pruned, step, *curves)
        early, early_step = early_values(step[pruned], *curves)
    return History(
        numbers=numbers, x=x, loss=loss, pruned=pruned,
        step=step, trend=records[:, 3], duration=records[:, 4],
        stats=records[:, _STATS:], has_stats=has_stats,
        completed=np.where(np.isnan(records[:, 5]), np.inf, records[:, 5]),
        final_score=None if final is None else final.score,
        final_sd=None if final is None else final.sd,
        final_loss=None if final is None else final.loss,
        early=early, early_step=early_step,
        last_step=last_step,
        ref_steps=None if curves is None else curves[0],
        at=None if curves is None else curves[1],
    )


def build_history(trials: Sequence[FrozenTrial], minimize: bool, row_fn: RowFn,
                  dim: int) -> History:
    """From scratch: the finished trials among ``trials``, in trial-number order."""
    finished = sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number)
    curves = [trial_curve(t, minimize) for t in finished]
    records = np.array([encode_trial(t, minimize, c)
                        for t, c in zip(finished, curves, strict=True)]).reshape(-1, _N_RECORD)
    x = np.full((len(finished), dim), np.nan)
    for i, t in enumerate(finished):
        row = row_fn(t)
        if row is not None:
            x[i] = row
    table = CurveTable()
    for c, rec in zip(curves, records, strict=True):
        table.add(*c)
        if rec[1]:
            table.refer(float(rec[2]))
    return _history(np.array([t.number for t in finished], dtype=np.int64), records, x,
                    np.array([isinstance(t.user_attrs.get(STATS_KEY), dict) for t in finished],
                             dtype=bool), table.matrix(), table.last_step)


class TrialTable:
    """The finished trials of one study, encoded once each, read incrementally: the trials
    before the first unfinished one are never looked at again, so a call costs Python work
    only for the new and the unfinished trials."""

    def __init__(self, minimize: bool) -> None:
        self.minimize = minimize
        self.index: dict[int, int] = {}
        self._numbers: list[int] = []
        self._records = np.full((64, _N_RECORD), np.nan)
        self._has_stats: list[bool] = []
        self._trials: list[FrozenTrial] = []
        self._x = np.full((64, 0), np.nan)  # coordinates in insertion order, NaN: not covering
        self._row_fn: RowFn | None = None
        self._cached: History | None = None
        self._cursor = _Cursor()
        self._curves = CurveTable()

    def update(self, trials: Sequence[FrozenTrial]) -> tuple[list[FrozenTrial],
                                                             list[FrozenTrial]]:
        """Add the newly finished trials among ``trials`` (sorted by number, as Optuna gives
        them); returns them and the unfinished trials."""
        tail = self._cursor.tail(trials)
        new = [t for t in tail if t.state.is_finished() and t.number not in self.index]
        for t in new:
            i = len(self._numbers)
            self.index[t.number] = i
            self._numbers.append(t.number)
            if i >= len(self._records):
                self._records = _grown(self._records)
            curve = trial_curve(t, self.minimize)
            self._records[i] = encode_trial(t, self.minimize, curve)
            self._curves.add(*curve)
            if self._records[i, 1]:
                self._curves.refer(float(self._records[i, 2]))
            self._has_stats.append(isinstance(t.user_attrs.get(STATS_KEY), dict))
            self._trials.append(t)
            self._put_row(i, t)
        if new:
            self._cached = None
        return new, self._cursor.advance(trials, tail)

    def _put_row(self, i: int, t: FrozenTrial) -> None:
        if i >= len(self._x):
            self._x = _grown(self._x)
        row = None if self._row_fn is None else self._row_fn(t)
        self._x[i] = np.nan if row is None else row

    def set_rows(self, row_fn: RowFn, dim: int) -> None:
        """Encode every finished trial with a new search-space encoder of ``dim`` coordinates."""
        self._row_fn = row_fn
        self._x = np.full((max(64, 2 * len(self._numbers)), dim), np.nan)
        for i, t in enumerate(self._trials):
            self._put_row(i, t)
        self._cached = None

    def view(self) -> History:
        """The finished trials so far, in trial-number order."""
        if self._cached is None:
            n = len(self._numbers)
            numbers = np.array(self._numbers, dtype=np.int64)
            if bool((numbers[1:] > numbers[:-1]).all()):
                order: np.ndarray | slice = slice(None)  # added in trial order already
            else:
                order = np.argsort(numbers, kind="stable")
            steps, at = self._curves.matrix()
            self._cached = _history(
                numbers[order], self._records[:n][order], self._x[:n][order],
                np.array(self._has_stats, dtype=bool)[order], (steps, at[order]),
                self._curves.last_step)
        return self._cached


def _grown(a: np.ndarray) -> np.ndarray:
    out = np.full((2 * len(a),) + a.shape[1:], np.nan)
    out[: len(a)] = a
    return out


class _Cursor:
    """Where the finished prefix of a study's trial list ends: trials before it are finished
    and were seen, so a reader looks only at the rest (finished trials never change)."""

    def __init__(self) -> None:
        self.done = 0
        self.last = -1
        """The trial number at the end of the prefix (a different list starts over)."""

    def tail(self, trials: Sequence[FrozenTrial]) -> Sequence[FrozenTrial]:
        k = self.done
        if k > len(trials) or (k and trials[k - 1].number != self.last):
            k = self.done = 0  # not the list seen before (a filtered study): scan it all
        return trials[k:]

    def advance(self, trials: Sequence[FrozenTrial],
                tail: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """Move past the finished start of ``tail``; returns its unfinished trials."""
        unfinished = []
        k = self.done
        for t in tail:
            if not t.state.is_finished():
                unfinished.append(t)
            elif not unfinished:
                k += 1
        self.done = k
        self.last = trials[k - 1].number if k else -1
        return unfinished


class Intersection:
    """Optuna's intersection search space of the completed and pruned trials (as
    ``IntersectionSearchSpace(include_pruned=True)``), kept per study from the ask's trial
    list: no second read of the storage and no copy of the result per call.

    ``union=True``: every parameter of those trials instead, as long as each trial that has
    it declares the same distribution (one that changes is left out for good, as the
    intersection leaves it out): conditional parameters, which only some trials have, stay
    in the space, and a trial without one enters the model at ``_encoding.IMPUTED``."""

    def __init__(self, union: bool = False) -> None:
        self._cursor = _Cursor()
        self._seen: set[int] = set()
        self._space: dict[str, BaseDistribution] | None = None
        self._sorted: dict[str, BaseDistribution] = {}
        self._union = union
        self._changed: set[str] = set()

    def update(self, trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
        """The search space (sorted by name, single-valued parameters left out); the caller
        must not change it."""
        tail = self._cursor.tail(trials)
        changed = False
        for t in tail:
            if t.state not in _SPACE_STATES or t.number in self._seen:
                continue
            self._seen.add(t.number)
            if self._union:
                self._space = self._space or {}
                for n, d in t.distributions.items():
                    if n in self._changed:
                        continue
                    if self._space.setdefault(n, d) != d:
                        del self._space[n]
                        self._changed.add(n)
            elif self._space is None:
                self._space = dict(t.distributions)
            else:
                self._space = {n: d for n, d in self._space.items()
                               if t.distributions.get(n) == d}
            changed = True
        self._cursor.advance(trials, tail)
        if changed and self._space is not None:
            self._sorted = {n: self._space[n] for n in sorted(self._space)
                            if not self._space[n].single()}
        return self._sorted


_SPACE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
