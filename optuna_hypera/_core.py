"""The learning core on plain arrays: agents, learner and coordinator, no Optuna.

``HyperaCore.ask`` takes one study's encoded history (``History``), the proposals stored with
its trials and the coordinates of its unfinished trials, lets the learner catch up on what
finished since the last call, runs the gradient steps that are due and returns the agents'
decision. There is no separate ``tell``: results reach the core through the history it is
given, because the sampler recomputes everything from storage (so every worker agrees) and the
simulator simply appends to its arrays. ``ask_batch`` decides for many studies in one forward
pass; the sampler calls it with one study, the simulator with a batch.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import math

import numpy as np
import torch

from optuna_hypera._conditional import Activity
from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._coordinator import GLOBAL_SHARE
from optuna_hypera._coordinator import Coordinator
from optuna_hypera._decision import NOISE_GATE
from optuna_hypera._decision import Base
from optuna_hypera._decision import Context
from optuna_hypera._decision import Decision
from optuna_hypera._decision import model_first
from optuna_hypera._features import RADIUS_MAX
from optuna_hypera._features import RADIUS_MIN
from optuna_hypera._features import Evidence
from optuna_hypera._features import Medians
from optuna_hypera._features import base_features
from optuna_hypera._features import study_features
from optuna_hypera._features import trust_radius
from optuna_hypera._groups import GroupAssignment
from optuna_hypera._groups import assign_groups
from optuna_hypera._history import STAT_NAMES
from optuna_hypera._history import History
from optuna_hypera._history import batch_quantiles
from optuna_hypera._kernel_fit import KERNEL_SAMPLES
from optuna_hypera._kernel_fit import KernelParams
from optuna_hypera._learner import Learner
from optuna_hypera._pruned_inputs import Early
from optuna_hypera._pruned_inputs import Fidelity
from optuna_hypera._pruned_inputs import early_inputs
from optuna_hypera._pruned_inputs import fidelity_inputs
from optuna_hypera._pruned_inputs import pseudo_inputs
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import ELITE_FRACTION
from optuna_hypera._schema import Proposal
from optuna_hypera._space import Space
from optuna_hypera._surrogate import LOCAL_POINTS
from optuna_hypera._surrogate import ModelView
from optuna_hypera._surrogate import Pseudo
from optuna_hypera._surrogate import Surrogate
from optuna_hypera._survival import SURVIVAL_WEIGHT
from optuna_hypera._survival import EarlySurvival
from optuna_hypera._survival import Survival
from optuna_hypera._transfer import TransferPrior


_NONE_PENDING = np.zeros((0, 0))
_NO_MEDIANS = Medians(np.full(len(STAT_NAMES), np.nan))


@dataclass
class StudyInput:
    """One study, encoded."""

    space: Space
    history: History
    proposals: Mapping[int, Proposal] = field(default_factory=dict)
    """Stored proposals of finished and unfinished trials, by trial number."""
    pending: np.ndarray | None = None
    """Coordinates ``[R, d]`` of unfinished trials (other workers' running ones)."""
    key: Hashable = 0
    """Which study this is (the learner keeps each study's ranks apart)."""
    rungs: bool = False
    """The study's pruner stops trials by rank at fixed rungs (``SuccessiveHalvingPruner``,
    ``HyperbandPruner``): most trials are pruned by design, so being pruned says little of a
    configuration and the chance of completing is left out (``HyperaCore.survival``)."""
    bar_quantile: float = 0.5
    """Where among the completed trials' values at a step a trial must start to pass the
    study's comparing pruner (a ``PercentilePruner``'s percentile; ``EarlySurvival``)."""
    first_rung: float | None = None
    """The share of a full training after which ``HyperbandPruner`` first compares the trial
    being asked for (``None`` outside Hyperband; ``Context.first_rung``)."""
    activity: Activity | None = None
    """Which parameters a candidate's trial would ask, where some finished trials lack one
    (define-by-run conditional parameters, ``_conditional``); ``None``: every trial asks
    every parameter."""

    @property
    def last_bracket(self) -> bool:
        """The trial is in ``HyperbandPruner``'s last bracket, the least aggressive one: its
        first rung is the largest, at or near the last step, so its trials train furthest
        before they are compared (``Coordinator.last_bracket``)."""
        return self.first_rung == 1.0


@dataclass
class Asked:
    decisions: list[Decision | None]
    """Per study; ``None`` where no completed trial covers the search space yet."""
    losses: dict[str, np.ndarray] | None
    """Mean SAC losses per agent of the gradient steps this call ran (``None``: none due)."""


KERNELS = ("ordinal", "mixed")
"""How the surrogate may read discrete parameters (``HyperaCore(kernel=...)``)."""


class HyperaCore:
    """Five SAC agents that propose changes to good trials, on arrays.

    Args:
        agents: The agents' configurations.
        sac: Soft Actor-Critic settings.
        strategy: ``"independent"``, ``"sequential"`` or ``"cooperative"``.
        conflict: ``"value"``, ``"specialization"`` or ``"thompson"``.
        groups: Validated ``{agent: [patterns]}`` overrides (``_groups.validate_groups``).
        seed: Seeds the core's own generators (never the global ones).
        device: Torch device of the networks.
        surrogate: Fit the Gaussian-process model whose view the agents and critics read
            (``False``: every surrogate feature is 0, the ablation without a model).
        n_candidates: Joint candidates scored per cooperative decision.
        chooser: ``"critic"`` (the critics pick among candidates) or ``"teacher"`` (the
            candidate with the highest log expected improvement; pre-training's imitation
            stage).
        kernel: How the surrogate reads discrete parameters: ``"mixed"`` (default:
            categorical choices by the overlap distance, integers at their integer,
            ``_kernel_inputs``; what the shipped weights were trained with) or ``"ordinal"``
            (every coordinate as it is, categorical choices as ordered bins).
        global_share: Share of the cooperative candidates drawn from the whole space (the
            surrogate's global log-EI optima and uniform points, ``_global``) instead of
            the trust region; 0 (the default, ``GLOBAL_SHARE``) keeps every candidate in
            the trust region.
    """

    def __init__(self, *, agents: Sequence[AgentConfig], sac: SACConfig, strategy: str,
                 conflict: str, groups: Mapping[str, tuple[str, ...]] | None = None,
                 seed: int = 0, device: torch.device | str = "cpu", surrogate: bool = True,
                 n_candidates: int = 64, chooser: str = "critic",
                 kernel: str = "mixed", global_share: float = GLOBAL_SHARE) -> None:
        self.agents = tuple(agents)
        self.config = sac
        self.coordinator = Coordinator(self.agents, strategy, conflict, n_candidates, chooser,
                                       global_share=global_share)
        self.use_surrogate = surrogate
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
        self.kernel = kernel
        self.pseudo_shift = 0.0
        """Pruned trials enter the surrogate this many predictive sds worse than their
        partial curves predict (``_pseudo``; 0: at the prediction)."""
        self.pseudo_var_scale = 1.0
        """Pruned trials' predictive variance in the surrogate is multiplied by this (1: as
        their curves predict; smaller: the model trusts the predictions more)."""
        self.pruned_in_model = True
        """Pruned trials with a predicted final value enter the surrogate (``False``: only
        completed trials do, as in Optuna's GPSampler)."""
        self.radius_min = RADIUS_MIN
        """The trust radius's floor (``_features.trust_radius``)."""
        self.radius_max = RADIUS_MAX
        """Its ceiling."""
        self.fidelity_min = 0
        """With fewer completed trials than this, the model's targets are the values at the
        largest pruning step this many trials reached (``_pruned_inputs.fidelity_inputs``,
        BOHB's rule; 0: always the final values)."""
        self.local_points: int | None = None
        """How many completed trials nearest the incumbent the surrogate holds (``None``:
        ``_surrogate.LOCAL_POINTS``)."""
        self.kernel_samples = KERNEL_SAMPLES
        """Kernel hyperparameter draws the teacher's log EI averages over
        (``_kernel_fit.KERNEL_SAMPLES``)."""
        self.kernel_prior: str | None = None
        """The prior of the objective model's kernel fit (``_kernel_fit.KERNEL_PRIORS``;
        ``None``: ``_kernel_fit.KERNEL_PRIOR``)."""
        self.survival = True
        """Where the study has pruned trials (and a pruner other than a rung-based one,
        ``StudyInput.rungs``), the acquisition counts the chance that a trial completes
        (``_survival``; ``False``: log EI alone)."""
        self.survival_weight = SURVIVAL_WEIGHT
        """The log chance's weight in the acquisition."""
        self.survival_per_epoch = False
        """With the chance from early values: the acquisition per expected epoch, minus
        log(p + (1 - p) c) with c a pruned trial's epochs over a completed one's (an
        experiment switch: a trial likely pruned is also cheap)."""
        self.survival_recent: int | None = None
        """The chance from only this many of the latest finished trials (``None``: every
        finished trial, the 150 nearest the incumbent)."""
        self.survival_gain: float | None = None
        """Count the chance only where it predicts the outcomes better than one shared rate
        by at least this many nats (``Survival.gain``; ``None``: always)."""
        self.pruned_at_worst = False
        """Pruned trials enter the surrogate at the worst completed loss (a value the study
        cannot use) instead of their curves' predictions."""
        self.pruned_in_radius = True
        """Pruned agent trials count as misses of the trust region (``trust_radius``); with
        ``False`` they count as neither a miss nor a new best."""
        self.pruned_widen = False
        """Under a pruner that is not rung-based, pruned agent trials are no misses: a run
        of them as long as the miss tolerance doubles the trust radius (``trust_radius``'s
        ``dead``)."""
        self.survival_rungs = False
        """Count the chance of completing under rung-based pruners too."""
        self.survival_early = True
        """The chance of completing from a model of every finished trial's value at the step
        where most were pruned, against the completed trials' values there at the pruner's
        percentile (``StudyInput.bar_quantile``; the median for ``MedianPruner``)
        (``_survival.EarlySurvival``), where it can be fitted; ``Survival``'s share else
        (``False``: the share always, the rule of 0.9 and 0.10)."""
        self.model_incumbent = "off"
        """The completed trial of lowest posterior mean instead of the lowest observed loss
        as the base ("base"), as log EI's threshold ("threshold"), or both ("both"); "off":
        neither, the default (``_decision.model_first``; an option since 0.13, better on the
        generated validation split, even on the test split, worse on the ``standard``
        suite's BBOB tasks: ``docs/benchmarks/model-incumbent.md``); "gated": "base" where
        the fitted noise variance is at least ``noise_gate`` times the signal variance,
        "off" elsewhere (0.14, an option: ``docs/benchmarks/noise-gate.md``)."""
        self.noise_gate = NOISE_GATE
        """With ``model_incumbent="gated"``: the fitted noise-to-signal variance ratio from
        which the model's best trial becomes the base."""
        self._kernels: dict[Hashable, dict[int, tuple[bytes, KernelParams]]] = {}
        self.priors: dict[Hashable, TransferPrior] = {}
        """Past studies' models to combine with a study's own (``_transfer``), by study key."""
        self.groups = groups
        self.rng = np.random.RandomState(seed)
        self.sac = MultiAgentSAC(self.agents, sac, int(self.rng.randint(2**31 - 1)), device)
        self.learner = Learner(self.agents, sac, self.sac)
        self._assignments: dict[tuple[str, ...], GroupAssignment] = {}
        self._no_outcomes = np.zeros(len(self.agents))
        self._no_outcomes.flags.writeable = False

    def assignment(self, names: tuple[str, ...]) -> GroupAssignment:
        a = self._assignments.get(names)
        if a is None:
            a = assign_groups(names, self.agents, self.groups)
            self._assignments[names] = a
        return a

    def ask(self, study: StudyInput) -> Asked:
        return self.ask_batch([study])

    def ask_batch(self, studies: Sequence[StudyInput]) -> Asked:
        self.learner.observe_batch([(s.key, s.history, s.proposals, s.space) for s in studies])
        losses = self.learner.train(self.rng, self._generator())
        ctxs = self.contexts(studies)
        ready = [c for c in ctxs if c is not None]
        made = iter(self.coordinator.decide(self.sac, ready, self.rng, self._generator())
                    if ready else [])
        return Asked([next(made) if c is not None else None for c in ctxs], losses)

    def _generator(self) -> torch.Generator:
        seed = int(self.rng.randint(2**31 - 1))
        return torch.Generator(device=self.sac.device).manual_seed(seed)

    def context(self, study: StudyInput) -> Context | None:
        return self.contexts([study])[0]

    def contexts(self, studies: Sequence[StudyInput]) -> list[Context | None]:
        """What each decision needs from its study: bases, evidence, radius, points to avoid.
        Studies with as many finished trials in as many dimensions are one batch (the
        simulator's lockstep studies are); the sampler's single study is a batch of one."""
        out: list[Context | None] = [None] * len(studies)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, s in enumerate(studies):
            if len(s.history):
                groups.setdefault((len(s.history), len(s.space)), []).append(i)
        for (_, d), idx in groups.items():
            hs = [studies[i].history for i in idx]
            x = np.stack([h.x for h in hs])
            loss = np.stack([h.loss for h in hs])
            pruned = np.stack([h.pruned for h in hs])
            q = batch_quantiles(hs, loss, pruned)
            covers = ~np.isnan(x[..., 0]) if d else np.ones(loss.shape, bool)
            valid = ~np.isnan(loss)
            complete = valid & ~pruned
            usable = covers & valid
            base_ok = covers & complete
            has = base_ok.any(axis=1)
            if not has.any():
                continue
            proposed = np.stack([_proposed(studies[i]) for i in idx])
            if not self.pruned_in_radius:
                proposed = proposed & ~pruned
            dead = None
            if self.pruned_widen:
                rung = np.array([studies[i].rungs for i in idx])
                dead = pruned & ~rung[:, None]
            radius = trust_radius(np.where(complete, loss, np.inf), proposed, d, dead,
                                  self.radius_min, self.radius_max)
            g_study = study_features(loss, valid, complete, pruned, radius)
            steps = np.minimum(self.coordinator.scales * radius[:, None], 1.0)
            # Studies without training statistics (all the simulator's) share one empty set
            # of medians.
            plain = np.logical_not(np.stack([h.has_stats for h in hs]).any(axis=1))
            ranked = np.argsort(np.where(base_ok, q, np.inf), axis=1, kind="stable")
            n_bases = base_ok.sum(axis=1)
            m = usable.sum(axis=1)
            all_cover = bool(covers.all())
            for count in np.unique(m[has]).tolist():
                sub = np.flatnonzero(has & (m == count))
                if usable[sub].all():
                    evidence = Evidence.build(x[sub], q[sub])
                else:
                    evidence = Evidence.build(np.stack([x[b][usable[b]] for b in sub]),
                                              np.stack([q[b][usable[b]] for b in sub]))
                for k, b in enumerate(sub.tolist()):
                    model = None
                    if self.use_surrogate:
                        done = hs[b].completed
                        finished = (usable[b] if self.survival and (
                            self.survival_rungs or not studies[idx[b]].rungs) else None)
                        if finished is not None and self.survival_recent is not None:
                            # Only the latest trials: a pruner's bar moves as trials complete.
                            finished = finished & (np.cumsum(finished[::-1])[::-1]
                                                   <= self.survival_recent)
                        fid = (fidelity_inputs(hs[b], covers[b], self.fidelity_min)
                               if self.fidelity_min else None)
                        model = self.surrogate(
                            studies[idx[b]].key, x[b][base_ok[b]], loss[b][base_ok[b]],
                            x[b][ranked[b, 0]], None if done is None else done[base_ok[b]],
                            self.kernel_space(studies[idx[b]].space),
                            pseudo_inputs(hs[b], covers[b], self.pseudo_shift,
                                          self.pseudo_var_scale, self.pruned_at_worst)
                            if self.pruned_in_model else None,
                            None if finished is None else (x[b][finished],
                                                           ~pruned[b][finished]),
                            early_inputs(hs[b], covers[b], studies[idx[b]].bar_quantile,
                                         self.survival_per_epoch)
                            if finished is not None and self.survival_early else None,
                            fid)
                    if model is not None and self.model_incumbent != "off":
                        ranked[b] = model_first(model, x[b], ranked[b], int(n_bases[b]),
                                                self.model_incumbent, self.noise_gate)
                    out[idx[b]] = self._context(
                        studies[idx[b]], evidence.row(k), steps[b], g_study[b],
                        ranked[b, : n_bases[b]], x[b] if all_cover else x[b][covers[b]],
                        bool(plain[b]), model, float(steps[b].mean()))
        return out

    def _context(self, study: StudyInput, evidence: Evidence, step: np.ndarray,
                 g_study: np.ndarray, ranked: np.ndarray, covering: np.ndarray,
                 plain: bool, model: ModelView | None = None, radius: float = 0.1) -> Context:
        h, space = study.history, study.space
        n_elite = max(3, math.ceil(ELITE_FRACTION * len(ranked)))
        medians = _NO_MEDIANS if plain else Medians.of(h)

        def make_base(row: int) -> Base:
            return Base(int(h.numbers[row]), h.x[row], base_features(g_study, h, row, medians))

        pending = study.pending if study.pending is not None else _NONE_PENDING
        succ, fail = (self.learner.outcomes(study.key) if self.coordinator.conflict == "thompson"
                      else (self._no_outcomes, self._no_outcomes))
        return Context(
            space=space, evidence=evidence, assignment=self.assignment(space.names),
            incumbent=make_base(int(ranked[0])), elites=ranked[:n_elite].tolist(),
            make_base=make_base, step=step,
            taken=np.concatenate([covering, pending]) if len(pending) else covering,
            pending=pending, successes=succ, failures=fail, surrogate=model, radius=radius,
            n_trials=len(h.numbers) + len(pending),
            n_trainings=int(np.count_nonzero(~h.pruned)) + len(pending),
            first_rung=study.first_rung, activity=study.activity, ranked=ranked,
            rows_x=h.x,
        )

    def surrogate(self, key: Hashable, x: np.ndarray, loss: np.ndarray,
                  center: np.ndarray, completed: np.ndarray | None = None,
                  space: Space | None = None, pseudo: Pseudo | None = None,
                  finished: tuple[np.ndarray, np.ndarray] | None = None,
                  early: Early | None = None, fidelity: Fidelity | None = None,
                  ) -> ModelView | None:
        """The study's model on its completed trials (kernel refits cached per study),
        and its pruned trials at their predicted final values, combined with its past
        studies' models where it has a ``TransferPrior``; ``finished`` (the coordinates of
        complete and pruned trials, and which completed) gives it the chance of completing
        (``_survival``) where some were pruned."""
        kernels = self._kernels.setdefault(key, {})
        if fidelity is not None:  # the model at an earlier step (``fidelity_inputs``)
            x, loss, pseudo, completed = fidelity.x, fidelity.loss, fidelity.pseudo, None
            kernels = self._kernels.setdefault(("fidelity", key), {})
        own = Surrogate.fit(x, loss, center, kernels, completed,
                            space, pseudo, self.local_points, self.kernel_samples,
                            self.kernel_prior)
        prior = self.priors.get(key)
        view = own if prior is None else prior.combine(own, x, loss)
        if own is not None and view is not None and early is not None:
            fitted = EarlySurvival.fit(
                early.x, early.values, early.complete, center,
                self._kernels.setdefault(("early", key), {}), early.order, space,
                LOCAL_POINTS if self.local_points is None else self.local_points,
                self.survival_weight, early.quantile, early.cut)
            if fitted is not None:
                view.log_survival = fitted.log_p
                return view
        if own is not None and view is not None and finished is not None:
            survival = Survival.fit(
                finished[0], finished[1], center, own.ls, own.inputs,
                LOCAL_POINTS if self.local_points is None else self.local_points,
                self.survival_weight)
            if survival is not None and (self.survival_gain is None
                                         or survival.gain >= self.survival_gain):
                view.log_survival = survival.log_p
        return view

    def kernel_space(self, space: Space) -> Space | None:
        """What the surrogate is told of the space: with ``kernel="mixed"`` the kinds of its
        parameters (``_kernel_inputs``), else nothing (every coordinate ordinal)."""
        return space if self.kernel == "mixed" else None

    def forget(self, key: Hashable) -> None:
        """Drop what is cached for a finished study (the simulator's)."""
        self._kernels.pop(key, None)
        self._kernels.pop(("early", key), None)
        self.priors.pop(key, None)

    def record(self, decision: Decision, space: Space) -> Proposal:
        """The proposal to store with the trial the decision makes."""
        return Proposal(
            names=space.names, x=decision.x, base=decision.base.number,
            strategy=self.coordinator.strategy, conflict=self.coordinator.conflict,
            glob=decision.base.glob,
            agents={self.agents[a].name: move for a, move in decision.moves.items()},
            prediction=decision.prediction or {"value": decision.value},
            cand=decision.cand, origin=decision.source,
        )


def _proposed(study: StudyInput) -> np.ndarray:
    """Which finished trials the agents proposed."""
    numbers = study.history.numbers
    if not study.proposals or not len(numbers):
        return np.zeros(len(numbers), bool)
    keys = np.fromiter(study.proposals.keys(), np.int64, len(study.proposals))
    made = np.zeros(max(int(keys.max()), int(numbers.max())) + 1, bool)
    made[keys] = True
    return made[numbers]

