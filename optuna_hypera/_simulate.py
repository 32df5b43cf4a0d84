"""Whole studies without Optuna, for pre-training: a batch of synthetic objectives driven by the
same ``HyperaCore`` (decisions, learner, update clock) that ``HyperaSampler`` uses.

The objectives are the project's own random function families, generated from a seed; no named
benchmark function is used here (those are for evaluation only):

- ``gp``: a sample of a Gaussian-process prior with an RBF kernel (random Fourier features,
  Rahimi & Recht 2007), a random lengthscale per coordinate and some coordinates unused;
- ``quadratic``: a rotated, ill-conditioned quadratic bowl around a random optimum;
- ``multimodal``: the same bowl plus cosine ripples of random frequency.

Each may have integer-like (binned) and categorical coordinates and observation noise. Values
are minimized. ``simulate`` also runs any other ``Objective`` (``_families.Landscape``), one
task at a time; a NaN value is a failed trial. A ``_curve_study.CurveStudy`` trains each trial
step by step under the median pruning rule, so its studies have pruned trials.

With ``core.coordinator.labels`` set (pre-training's dense hindsight), every decision's
unexecuted candidates are valued by the objective too, at no cost here, and join the
learner's replay labelled with what they would have scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import itertools
from typing import Protocol

import numpy as np
from scipy.stats import qmc

from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._curve_study import CurveStudy
from optuna_hypera._decision import Decision
from optuna_hypera._history import STAT_NAMES
from optuna_hypera._history import History
from optuna_hypera._schema import Proposal
from optuna_hypera._space import BINNED
from optuna_hypera._space import CONTINUOUS
from optuna_hypera._space import Space


FAMILIES = ("gp", "quadratic", "multimodal")
_N_FEATURES = 256
_runs = itertools.count()


@dataclass
class SyntheticTask:
    """One random objective on [0, 1]^d (vectorized: ``[n, d] -> [n]``)."""

    family: str
    space: Space
    params: dict[str, np.ndarray]
    noise: float
    seed: int

    @classmethod
    def sample(cls, family: str, d: int, rng: np.random.RandomState, *,
               discrete_share: float = 0.0, noise: float = 0.0) -> SyntheticTask:
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")
        kind = np.full(d, CONTINUOUS)
        n_bins = np.zeros(d, np.int64)
        categorical = np.zeros(d, bool)
        for j in np.flatnonzero(rng.rand(d) < discrete_share):
            kind[j] = BINNED
            n_bins[j] = rng.randint(2, 9)
            categorical[j] = rng.rand() < 0.5
        space = Space.build([f"x{j}" for j in range(d)], kind.tolist(), n_bins.tolist(),
                            categorical=categorical.tolist())
        used = rng.rand(d) < 0.8
        used[rng.randint(d)] = True
        p: dict[str, np.ndarray] = {"used": used.astype(np.float64)}
        if family == "gp":
            lengthscale = np.exp(rng.uniform(np.log(0.08), np.log(0.6), d))
            p["omega"] = rng.randn(_N_FEATURES, d) / lengthscale * used
            p["phase"] = rng.uniform(0, 2 * np.pi, _N_FEATURES)
            p["w"] = rng.randn(_N_FEATURES) * np.sqrt(2.0 / _N_FEATURES)
        else:
            q, _ = np.linalg.qr(rng.randn(d, d))
            cond = np.exp(rng.uniform(0, np.log(100.0)))
            scales = cond ** (np.linspace(0, 1, d) if d > 1 else np.zeros(1))
            p["rot"] = q * used[:, None]
            p["scales"] = rng.permutation(scales)
            p["opt"] = rng.uniform(0.1, 0.9, d)
            if family == "multimodal":
                p["freq"] = rng.uniform(2.0, 8.0, d)
                p["amp"] = np.array([rng.uniform(0.05, 0.5)])
        return cls(family, space, p, noise, int(rng.randint(2**31 - 1)))

    def __call__(self, x: np.ndarray, rng: np.random.RandomState | None = None) -> np.ndarray:
        x = np.atleast_2d(x)
        p = self.params
        if self.family == "gp":
            y = np.cos(x @ p["omega"].T + p["phase"]) @ p["w"]
        else:
            z = (x - p["opt"]) @ p["rot"]
            y = (z**2 * p["scales"]).sum(axis=1) / p["scales"].sum()
            if self.family == "multimodal":
                ripple = 1.0 - np.cos(2 * np.pi * p["freq"] * (x - p["opt"])) * p["used"]
                y = y + p["amp"][0] * ripple.mean(axis=1)
        if self.noise and rng is not None:
            y = y + self.noise * rng.randn(len(y))
        return np.asarray(y, dtype=np.float64)


class Objective(Protocol):
    """What ``simulate`` runs: a space and ``[n, d] -> [n]`` values (NaN: failed), noisy
    only when given a generator."""

    @property
    def space(self) -> Space: ...

    def __call__(self, x: np.ndarray, rng: np.random.RandomState | None = None,
                 ) -> np.ndarray: ...


class _Objectives:
    """Every task's objective at one point each: ``SyntheticTask``s of one family and size
    at once, any other objective one at a time (after them, so that batches of
    ``SyntheticTask``s alone draw their noise as they always did)."""

    def __init__(self, tasks: Sequence[Objective]) -> None:
        self.tasks = tasks
        synthetic = {k: t for k, t in enumerate(tasks) if isinstance(t, SyntheticTask)}
        self.others = [k for k in range(len(tasks)) if k not in synthetic]
        groups: dict[tuple[str, int], list[int]] = {}
        for k, t in synthetic.items():
            groups.setdefault((t.family, len(t.space)), []).append(k)
        self.groups = [(family, np.array(idx), {name: np.stack([synthetic[k].params[name]
                                                                 for k in idx])
                                                for name in synthetic[idx[0]].params})
                       for (family, _), idx in groups.items()]
        self.noise = np.array([t.noise if isinstance(t, SyntheticTask) else 0.0
                               for t in tasks])

    def __call__(self, x: Sequence[np.ndarray], rng: np.random.RandomState) -> np.ndarray:
        """One point per task (``[d]`` each); returns the ``[K]`` values."""
        y = np.empty(len(self.tasks))
        for family, idx, p in self.groups:
            xs = np.stack([x[k] for k in idx])
            if family == "gp":
                inner = np.einsum("kd,kfd->kf", xs, p["omega"]) + p["phase"]
                y[idx] = np.einsum("kf,kf->k", np.cos(inner), p["w"])
            else:
                z = np.einsum("kd,kde->ke", xs - p["opt"], p["rot"])
                y[idx] = (z**2 * p["scales"]).sum(axis=1) / p["scales"].sum(axis=1)
                if family == "multimodal":
                    ripple = 1.0 - np.cos(2 * np.pi * p["freq"] * (xs - p["opt"])) * p["used"]
                    y[idx] += p["amp"][:, 0] * ripple.mean(axis=1)
        noisy = np.flatnonzero(self.noise)
        if len(noisy):
            y[noisy] += self.noise[noisy] * rng.randn(len(noisy))
        for k in self.others:
            y[k] = self.tasks[k](x[k][None], rng)[0]
        return y


@dataclass
class Simulation:
    """Per study: coordinates ``[n_trials, d]`` and values ``[n_trials]`` in trial order."""

    x: list[np.ndarray]
    y: list[np.ndarray]
    losses: list[dict[str, np.ndarray]]
    """SAC losses of every learning call that ran gradient steps."""
    pruned: list[np.ndarray] | None = None
    """Per study, which trials were pruned (``CurveStudy`` tasks; their value is the last
    reported one, not a final value)."""

    def completed(self) -> list[np.ndarray]:
        """Per study, the values with pruned trials' left out (NaN)."""
        if self.pruned is None:
            return self.y
        return [np.where(p, np.nan, y) for y, p in zip(self.y, self.pruned, strict=True)]

    def best_so_far(self) -> np.ndarray:
        return np.stack([np.fmin.accumulate(y) for y in self.completed()])


def simulate(core: HyperaCore, tasks: Sequence[Objective], n_trials: int, *,
             n_startup: int = 10, seed: int = 0) -> Simulation:
    """Run one study per task, all in lockstep: trial t of every study is decided by one
    ``core.ask_batch`` call. Startup trials are scrambled Sobol points, as the sampler's
    default start, randomly shifted per study. The one difference from the sampler: proposals
    keep full precision, where storage rounds them to 1e-5. A NaN value is a failed trial
    (its loss is NaN in the ``History``, as for the sampler)."""
    rng = np.random.RandomState(seed)
    run = next(_runs)
    xs = [np.full((n_trials, len(t.space)), np.nan) for t in tasks]
    ys = [np.full(n_trials, np.nan) for _ in tasks]
    proposals: list[dict[int, Proposal]] = [{} for _ in tasks]
    startup = _startup_points([len(t.space) for t in tasks], max(n_startup, 1), rng)
    losses: list[dict[str, np.ndarray]] = []
    numbers = np.arange(n_trials)
    no = np.zeros(n_trials, bool)
    nan = np.full(n_trials, np.nan)
    no_stats = np.full((n_trials, len(STAT_NAMES)), np.nan)
    objectives = _Objectives(tasks)
    curves = {b: t.start(n_trials) for b, t in enumerate(tasks) if isinstance(t, CurveStudy)}
    label_rng = np.random.RandomState([seed, 1])  # hindsight labels leave ``rng`` as it was

    def history(b: int, i: int) -> History:
        x, y = xs[b][:i], ys[b][:i]
        c = curves.get(b)
        if c is None:
            return History(numbers[:i], x, y, no[:i], nan[:i], nan[:i], nan[:i], no_stats[:i],
                           no[:i])
        final = c.final(i)
        return History(numbers[:i], x, y, c.pruned[:i], c.step[:i], c.trend[:i], nan[:i],
                       no_stats[:i], no[:i], final_score=final.score, final_sd=final.sd,
                       final_loss=final.loss)

    for i in range(n_trials):
        if i < n_startup:
            points = [s[i] for s in startup]
        else:
            inputs = [StudyInput(t.space, history(b, i), props, key=(run, b))
                      for b, (t, props) in enumerate(zip(tasks, proposals, strict=True))]
            asked = core.ask_batch(inputs)
            if asked.losses is not None:
                losses.append(asked.losses)
            points = []
            for b, (t, props, decision) in enumerate(zip(tasks, proposals, asked.decisions,
                                                         strict=True)):
                if decision is None:
                    points.append(rng.uniform(size=len(t.space)))
                    continue
                props[i] = core.record(decision, t.space)
                points.append(decision.x)
                if decision.alternatives and b not in curves:
                    _label(core, (run, b), t, decision, label_rng)
        for t, x, point in zip(tasks, xs, points, strict=True):
            x[i] = t.space.snap(point)
        for y, value in zip(ys, objectives([x[i] for x in xs], rng).tolist(), strict=True):
            y[i] = value
        for b, c in curves.items():  # trained step by step under the median rule
            ys[b][i] = c.run(i, xs[b][i], rng)
    for b in range(len(tasks)):
        core.forget((run, b))
    pruned = [curves[b].pruned.copy() if b in curves else np.zeros(n_trials, bool)
              for b in range(len(tasks))]
    return Simulation(xs, ys, losses, pruned)


def _label(core: HyperaCore, key: tuple[int, int], task: Objective, decision: Decision,
           rng: np.random.RandomState) -> None:
    """Dense hindsight: the decision's unexecuted candidates, valued by the objective (with
    its noise, as a trial would be), join the learner's replay (``Learner.add_labels``)."""
    alts = decision.alternatives
    x = task.space.snap(np.stack([d.x for d in alts]))
    values = np.asarray(task(x, rng), dtype=np.float64)
    core.learner.add_labels(key, [core.record(d, task.space) for d in alts], values)


def _startup_points(dims: Sequence[int], n: int, rng: np.random.RandomState,
                    ) -> list[np.ndarray]:
    """The first ``n`` points of a scrambled Sobol sequence for each study, randomly shifted
    modulo 1 per study (Cranley-Patterson rotation): every study gets its own randomized
    low-discrepancy start, and studies of one dimension share one scrambling (scipy's costs
    about 0.4 ms per sequence)."""
    base: dict[int, np.ndarray] = {}
    out = []
    for d in dims:
        if d not in base:
            sobol = qmc.Sobol(d, scramble=True, seed=rng.randint(2**31 - 1))
            base[d] = sobol.random_base2(int(np.ceil(np.log2(max(n, 2)))))[:n]
        out.append((base[d] + rng.uniform(size=d)) % 1.0)
    return out
