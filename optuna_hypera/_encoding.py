"""Optuna distributions <-> one normalized coordinate in [0, 1] per parameter.

- continuous float: linear or log scale;
- int, stepped float and categorical: ``n`` values get ``n`` equal bins and a value encodes to its
  bin centre, so a small action moves within the bin and a larger one reaches the neighbour; log
  ints use the log-scaled interval ``[low - 0.5, high + 0.5]`` so each integer owns a share;
- categorical choices are ordered as declared (a continuous relaxation; the per-parameter
  evidence in the state lets the agents learn which end is better).
Decoding always returns a valid value of the distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import math
import sys
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial

from optuna_hypera._conditional import IMPUTED
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import LOG
from optuna_hypera._space import LOG_INT
from optuna_hypera._space import Space


_CONTINUOUS, _LOG, _BINNED, _LOG_INT = CONTINUOUS, LOG, BINNED, LOG_INT


@dataclass(frozen=True)
class _Param:
    kind: int
    low: float
    high: float
    n_bins: int
    step: float


def _param(dist: BaseDistribution) -> _Param:
    if isinstance(dist, CategoricalDistribution):
        return _Param(_BINNED, 0.0, float(len(dist.choices) - 1), len(dist.choices), 1.0)
    if isinstance(dist, IntDistribution):
        if dist.log:
            return _Param(_LOG_INT, math.log(dist.low - 0.5), math.log(dist.high + 0.5), 0, 1.0)
        n = (dist.high - dist.low) // dist.step + 1
        return _Param(_BINNED, float(dist.low), float(dist.high), int(n), float(dist.step))
    if isinstance(dist, FloatDistribution):
        if dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            return _Param(_BINNED, dist.low, dist.high, n, dist.step)
        if dist.log:
            return _Param(_LOG, math.log(dist.low), math.log(dist.high), 0, 0.0)
        return _Param(_CONTINUOUS, dist.low, dist.high, 0, 0.0)
    raise ValueError(f"Unsupported distribution {dist!r}.")


class SpaceEncoder:
    """Encodes a fixed search space (insertion order of ``search_space``)."""

    def __init__(self, search_space: Mapping[str, BaseDistribution]) -> None:
        self.names: tuple[str, ...] = tuple(search_space)
        self.distributions: tuple[BaseDistribution, ...] = tuple(search_space.values())
        self._params = tuple(_param(d) for d in self.distributions)
        self.space = Space.build(
            self.names,
            [p.kind for p in self._params],
            [p.n_bins for p in self._params],
            [_int_bound(d, "low") for d in self.distributions],
            [_int_bound(d, "high") for d in self.distributions],
            [isinstance(d, CategoricalDistribution) for d in self.distributions],
            [_unresolved(p) for p in self._params],
        )
        flags = self.space.flags
        self.is_log, self.is_categorical, self.granularity = flags[:, 0], flags[:, 1], flags[:, 2]

    def __len__(self) -> int:
        return len(self.names)

    def encode_internal(self, j: int, internal: float) -> float:
        """Coordinate of Optuna's internal representation (categorical: the choice index)."""
        p = self._params[j]
        if p.kind == _CONTINUOUS:
            return 0.5 if _unresolved(p) else (internal - p.low) / (p.high - p.low)
        if p.kind == _LOG or p.kind == _LOG_INT:
            span = p.high - p.low
            return 0.5 if span <= 0 or _unresolved(p) else (math.log(internal) - p.low) / span
        k = round((internal - p.low) / p.step)
        return (min(max(k, 0), p.n_bins - 1) + 0.5) / p.n_bins

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Coordinates of external parameter values."""
        return np.array(
            [
                self.encode_internal(j, dist.to_internal_repr(params[name]))
                for j, (name, dist) in enumerate(zip(self.names, self.distributions, strict=True))
            ],
            dtype=np.float64,
        )

    def decode_internal(self, j: int, u: float) -> float:
        p = self._params[j]
        u = min(max(float(u), 0.0), 1.0)
        if p.kind == _CONTINUOUS:
            return min(max(p.low + u * (p.high - p.low), p.low), p.high)
        if p.kind == _LOG:
            dist = self.distributions[j]
            assert isinstance(dist, FloatDistribution)
            return min(max(math.exp(p.low + u * (p.high - p.low)), dist.low), dist.high)
        if p.kind == _LOG_INT:
            dist = self.distributions[j]
            assert isinstance(dist, IntDistribution)
            v = round(math.exp(p.low + u * (p.high - p.low)))
            return float(min(max(v, dist.low), dist.high))
        k = min(int(u * p.n_bins), p.n_bins - 1)
        return min(p.low + k * p.step, p.high)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """External parameter values (ints as int, choices as declared) of coordinates ``x``."""
        out: dict[str, Any] = {}
        for j, (name, dist) in enumerate(zip(self.names, self.distributions, strict=True)):
            internal = self.decode_internal(j, float(x[j]))
            if isinstance(dist, IntDistribution):
                out[name] = int(round(internal))
            elif isinstance(dist, CategoricalDistribution):
                out[name] = dist.choices[int(round(internal))]
            else:
                out[name] = float(internal)
        return out

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Coordinates of the values that ``x`` decodes to (bin centres for discrete ones)."""
        return self.space.snap(x)


def _unresolved(p: _Param) -> bool:
    """A float range too narrow for its values to be told apart (a few ulps wide, or empty;
    for a log range, a few ulps of its logarithm, through which it is decoded): every
    coordinate decodes to an end of it, so it is one value to the agents (``single``)."""
    if p.kind not in (_CONTINUOUS, _LOG):
        return False
    if _few_ulps(p.low, p.high):  # the coordinate's own scale (log-space for a log range)
        return True
    return p.kind == _LOG and _few_ulps(math.exp(p.low), math.exp(p.high))


def _few_ulps(low: float, high: float) -> bool:
    scale = max(abs(low), abs(high), sys.float_info.min)
    return high - low <= 4.0 * sys.float_info.epsilon * scale


def _int_bound(dist: BaseDistribution, which: str) -> int:
    if isinstance(dist, IntDistribution) and dist.log:
        return int(getattr(dist, which))
    return 0


def trial_row(enc: SpaceEncoder, trial: FrozenTrial, impute: bool = False,
              ) -> np.ndarray | None:
    """Coordinates of a trial's parameters, or ``None`` if it does not cover the space
    (with ``impute``, a missing parameter is at ``IMPUTED``; a value outside its
    distribution still gives ``None``)."""
    row = np.empty(len(enc))
    for j, (name, dist) in enumerate(zip(enc.names, enc.distributions, strict=True)):
        if name not in trial.params:
            if impute:
                row[j] = IMPUTED
                continue
            return None
        try:  # the value in *this* distribution (categorical choices may have been reordered)
            internal = dist.to_internal_repr(trial.params[name])
        except (ValueError, TypeError):
            return None
        if not dist._contains(internal):
            return None
        row[j] = enc.encode_internal(j, internal)
    return row
