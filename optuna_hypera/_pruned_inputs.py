"""What pruned trials give the model: the values every finished trial reported at the step
where most were pruned (``Early``, for the chance of completing, ``_survival``) and the final
values their partial curves predict (``Pseudo`` observations, ``_curves``). Both are read off a
study's ``History`` for the trials a decision's model covers."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace

import numpy as np

from optuna_hypera._curves import predict_finals
from optuna_hypera._history import History
from optuna_hypera._surrogate import Pseudo
from optuna_hypera._surrogate import normal_scores


@dataclass
class Early:
    """Finished trials' values at the step where most were pruned (``History.early``)."""

    x: np.ndarray
    values: np.ndarray
    complete: np.ndarray
    order: np.ndarray | None
    quantile: float = 0.5
    cut: float | None = None
    """A pruned trial's epochs over a full training's (the median pruned trial's last step
    over the largest step reported), where ``HyperaCore.survival_per_epoch`` asks for it."""


def early_inputs(h: History, covers: np.ndarray, quantile: float = 0.5,
                 per_epoch: bool = False) -> Early | None:
    """The finished trials among ``covers`` with a value at the early step, for
    ``EarlySurvival``; with ``per_epoch`` also a pruned trial's share of a training."""
    if h.early is None:
        return None
    rows = covers & ~np.isnan(h.early) & h.valid
    if not rows.any():
        return None
    cut = None
    if per_epoch:
        stopped = h.pruned & h.valid & ~np.isnan(h.step)
        cut = (min(max(float((np.median(h.step[stopped]) + 1) / (h.last_step + 1)), 0.0), 1.0)
               if stopped.any() and h.last_step >= 0 else 1.0)
    return Early(h.x[rows], h.early[rows], h.complete[rows],
                 None if h.completed is None else h.completed[rows], quantile, cut)


def pseudo_inputs(h: History, covers: np.ndarray, shift: float = 0.0,
                  var_scale: float = 1.0, worst: bool = False) -> Pseudo | None:
    """The pruned trials whose partial curves predict a final value (``_curves``), moved
    ``shift`` predictive sds towards worse (0: the prediction itself), their predictive
    variance times ``var_scale``; with ``worst`` all of them at the worst completed loss,
    nearly noise-free (``HyperaCore.pruned_at_worst``)."""
    if h.final_score is None or h.final_sd is None:
        return None
    rows = np.flatnonzero(covers & ~np.isnan(h.final_score))
    if not len(rows):
        return None
    loss = h.final_loss if h.final_loss is not None else np.full(len(h.loss), np.nan)
    # Loss units per normal score: the slope of the completed finals on their scores.
    finals = h.loss[~h.pruned & ~np.isnan(h.loss)]
    z = normal_scores(finals)
    slope = float(z @ (finals - finals.mean()) / (z @ z)) if len(z) > 1 and z @ z > 0 else 0.0
    sd = h.final_sd[rows]
    if worst and len(finals):
        # What a pruned trial gives the study: nothing better than its worst completed one.
        n = len(rows)
        small = np.full(n, 1e-4)
        return Pseudo(h.x[rows], np.full(n, float(z.max())), small,
                      np.full(n, float(finals.max())),
                      small * max(float(finals.std()), 1e-12) ** 2)
    return Pseudo(h.x[rows], h.final_score[rows] + shift * sd, var_scale * sd**2,
                  loss[rows] + shift * slope * sd, var_scale * (slope * sd) ** 2)


@dataclass
class Fidelity:
    """The model's inputs at an earlier step than a full training (``fidelity_inputs``)."""

    x: np.ndarray
    loss: np.ndarray
    """Values at ``step`` of the trials that reached it (direction-adjusted)."""
    pseudo: Pseudo | None
    """Trials stopped before ``step``, at their values there as their curves predict."""
    step: float


def fidelity_inputs(h: History, covers: np.ndarray, n_min: int) -> Fidelity | None:
    """BOHB's rule (Falkner et al. 2018, §3.1: the model of the largest budget with enough
    observations) on partial curves: with fewer than ``n_min`` completed trials among
    ``covers``, the model's targets are the values at the largest step some trial was
    pruned at that ``n_min`` trials reached, and the trials stopped before it enter through
    ``_curves.predict_finals`` with those as anchors; ``None`` where the completed trials
    are enough, or no step is."""
    if h.at is None or h.ref_steps is None or not len(h.ref_steps):
        return None
    complete = covers & h.complete
    if int(complete.sum()) >= n_min:
        return None
    usable = covers & h.valid
    for r in np.argsort(-h.ref_steps, kind="stable").tolist():
        reached = usable & ~np.isnan(h.at[:, r])
        if int(reached.sum()) < n_min:
            continue
        s = float(h.ref_steps[r])
        loss = np.where(reached, h.at[:, r], h.loss)
        early = h.ref_steps < s
        final = predict_finals(loss, h.valid & ~reached, h.step, h.ref_steps[early],
                               h.at[:, early])
        view = replace(h, loss=loss, pruned=h.valid & ~reached, final_score=final.score,
                       final_sd=final.sd, final_loss=final.loss)
        return Fidelity(h.x[reached], loss[reached], pseudo_inputs(view, covers), s)
    return None
