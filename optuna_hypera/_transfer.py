"""Transfer from past studies, on arrays: the sources' models combined with the study's own.

A source is a past study whose completed trials were mapped into the new study's coordinates,
on the parameters that match by name and distribution (``SourceData.dims``). Each source gets
its own Gaussian process (``Surrogate``: *its own* losses standardized, so objectives on any
scale and in either direction combine), fitted once. During the study the agents read
the ranking-weighted ensemble of RGPE (Feurer, Letham and Bakshy, 2018) over the sources and
the study's own model::

    mean(x) = sum_i w_i mean_i(x),    var(x) = sum_i w_i^2 var_i(x)

The weight of a model is the share of bootstrap resamples of the study's completed trials on
which it orders them best (fewest misordered pairs; a predicted tie is half a misordering,
whichever trial came first). The study's own model is judged on its leave-one-out
predictions, so it cannot win by memorising its trials. A source whose median
misordering exceeds the 95th percentile of the study's own model's gets no weight at all
(RGPE's guard against weight dilution): a source that ranks the new study's trials backwards
loses its weight within a handful of trials, which is the guard against negative transfer.
The resamples are seeded by the number of trials and dealt to the trials in a canonical
order, so the weights depend only on the set of trials and every worker computes the same.

No Optuna import (``_sources`` maps studies onto these arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np

from optuna_hypera._space import Space
from optuna_hypera._surrogate import ModelView
from optuna_hypera._surrogate import Surrogate


N_BOOTSTRAP = 128
"""Bootstrap resamples of the study's trials behind each weight."""
MIN_TRIALS = 3
"""Below this many completed trials every model has the same weight."""
_DILUTION_PERCENTILE = 95.0
_UNKNOWN_LOG_LS = math.log(0.5)


@dataclass
class SourceData:
    """One past study in the new study's coordinates."""

    name: str
    dims: np.ndarray
    """Indices of the new study's coordinates the source has (the matched parameters)."""
    x: np.ndarray
    """``[n, len(dims)]`` coordinates of its completed trials."""
    loss: np.ndarray
    """``[n]`` direction-adjusted values (lower is better), on the source's own scale."""


class SourceModel:
    """A source's Gaussian process, predicting on the new study's coordinates (constant along
    the coordinates the source lacks)."""

    def __init__(self, data: SourceData, d: int, space: Space | None = None) -> None:
        self.data = data
        self.d = d
        best = int(np.argmin(data.loss))
        model = Surrogate.fit(data.x, data.loss, data.x[best],
                              space=None if space is None else space.take(data.dims))
        if model is None:
            raise ValueError(f"source {data.name!r} needs two completed trials")
        self.model = model
        self.log_ls = np.full(d, np.nan)
        self.log_ls[data.dims] = model.log_ls

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(xq[:, self.data.dims])

    def slope(self, x0: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x0), self.d))
        out[:, self.data.dims] = self.model.slope(x0[:, self.data.dims])
        return out


class Ensemble(ModelView):
    """The weighted combination the agents read in place of the study's own model."""

    def __init__(self, members: Sequence[SourceModel | Surrogate], weights: np.ndarray,
                 x_study: np.ndarray) -> None:
        self.weights = weights
        """Per source, then the study's own model (0 while ``members`` lacks it)."""
        keep = np.flatnonzero(weights[: len(members)] > 0)
        self.members = [members[i] for i in keep.tolist()]
        self.w = weights[keep]
        d = x_study.shape[1]
        num, den = np.zeros(d), np.zeros(d)
        for m, w in zip(self.members, self.w, strict=True):
            ls = m.log_ls if len(m.log_ls) == d else np.full(d, np.nan)
            has = ~np.isnan(ls)
            num[has] += w * ls[has]
            den[has] += w
        self.log_ls = np.where(den > 0, num / np.maximum(den, 1e-12), _UNKNOWN_LOG_LS)
        self.best = float(self.predict(x_study)[0].min())

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = np.zeros(len(xq))
        var = np.zeros(len(xq))
        for m, w in zip(self.members, self.w, strict=True):
            mi, si = m.predict(xq)
            mu += w * mi
            var += (w * si) ** 2
        return mu, np.sqrt(np.maximum(var, 1e-12))

    def slope(self, x0: np.ndarray) -> np.ndarray:
        out = np.zeros(x0.shape)
        for m, w in zip(self.members, self.w, strict=True):
            out += w * m.slope(x0)
        return out


class TransferPrior:
    """The sources of one study (in its current coordinates), ready to combine with the
    study's own model at every decision."""

    def __init__(self, sources: Sequence[SourceData], d: int,
                 space: Space | None = None) -> None:
        self.names = [s.name for s in sources]
        self.models = [SourceModel(s, d, space) for s in sources]
        self.d = d

    def combine(self, own: Surrogate | None, x: np.ndarray, loss: np.ndarray) -> Ensemble:
        """The ensemble for the study's completed trials ``x`` ``[n, d]``, ``loss`` ``[n]``
        and its own model on them (``None`` before two trials complete)."""
        members: list[SourceModel | Surrogate] = list(self.models)
        if own is not None:
            members.append(own)
            w = ranking_weights([m.predict(own.x)[0] for m in self.models], own.loo_mean(),
                                own.y)
        else:
            w = np.append(np.full(len(self.models), 1.0 / len(self.models)), 0.0)
        return Ensemble(members, w, x)


def misorderings(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[n, n]`` how badly ``pred`` orders each pair of trials with different scores ``y``:
    1 ordered backwards, 1/2 predicted tied, 0 right (and 0 on pairs of equal scores).
    Symmetric, so a tie scores the same whichever trial came first."""
    dp = np.sign(pred[:, None] - pred[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    return np.where(dy == 0, 0.0, np.where(dp == 0, 0.5, (dp == -dy).astype(np.float64)))


def ranking_weights(source_preds: Sequence[np.ndarray], own_loo: np.ndarray,
                    y: np.ndarray) -> np.ndarray:
    """RGPE weights ``[S + 1]`` (the sources', then the study's own model's) from each
    model's predictions at the study's trials and the trials' scores ``y`` (lower is better).
    They depend on the set of trials only, not on the order they come in.
    """
    n_models = len(source_preds) + 1
    n = len(y)
    if n < MIN_TRIALS:
        return np.full(n_models, 1.0 / n_models)
    preds = np.stack([*source_preds, own_loo])  # [M, n]
    # The resample counts go to the trials in a canonical order (by score, then by the
    # predictions), so permuting the trials cannot change which trial gets which count.
    order = np.lexsort((*preds[::-1], y))
    preds, y = preds[:, order], y[order]
    rng = np.random.default_rng(n)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=N_BOOTSTRAP).astype(np.float64)
    losses = np.empty((n_models, N_BOOTSTRAP))
    for m in range(n_models):
        # Each unordered pair once: half the sum over ordered pairs (exact, in halves).
        losses[m] = 0.5 * ((counts @ misorderings(preds[m], y)) * counts).sum(1)
    own = losses[-1]
    eligible = np.ones(n_models, bool)
    eligible[:-1] = np.median(losses[:-1], axis=1) <= np.percentile(own, _DILUTION_PERCENTILE)
    masked = np.where(eligible[:, None], losses, np.inf)
    best = masked == masked.min(axis=0, keepdims=True)
    return (best / best.sum(axis=0, keepdims=True)).mean(axis=1)
