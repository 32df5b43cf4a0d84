"""Samplers by name, and a wrapper that times every call into a sampler.

``hypera*`` names build ``optuna_hypera.HyperaSampler``; when that package cannot be imported
they raise :class:`SamplerUnavailableError` with the import error, so the built-in samplers
keep working while the core is absent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from collections.abc import Sequence
import os
import time
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.samplers import BaseSampler


if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial
    from optuna.trial import TrialState


class SamplerUnavailableError(RuntimeError):
    """A sampler's package cannot be imported."""


def _builtin(seed: int) -> dict[str, Callable[[], BaseSampler]]:
    s = optuna.samplers
    # Defaults, but for QMC's scrambling; "falling back to independent sampling" logs are muted.
    return {
        "tpe": lambda: s.TPESampler(seed=seed),
        "cmaes": lambda: s.CmaEsSampler(seed=seed, warn_independent_sampling=False),
        "gp": lambda: s.GPSampler(seed=seed, warn_independent_sampling=False),
        "random": lambda: s.RandomSampler(seed=seed),
        # Scrambled, else Sobol points ignore the seed and every seed repeats one sequence.
        "qmc": lambda: s.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False),
    }


NEW_WEIGHTS_ENV = "HYPERA_NEW_WEIGHTS"
"""The environment variable that names the weights file of ``hypera-new``."""

HYPERA_STRATEGIES: dict[str, dict[str, Any]] = {
    "hypera": {},
    "hypera-independent": {"strategy": "independent"},
    "hypera-sequential": {"strategy": "sequential"},
    "hypera-cooperative": {"strategy": "cooperative"},
    # Ablations of the default (pre-trained, cooperative, surrogate, online updates):
    "hypera-scratch": {"weights": None},  # no pre-training
    "hypera-frozen": {"sac": "frozen"},  # no online updates: the shipped weights as they are
    "hypera-fixed-updates": {"sac": "fixed"},  # online updates every update_frequency trials
    # throughout, never thinned out (``SACConfig.stretch_after=0``, 0.7's schedule)
    "hypera-logei": {"scorer": "log-ei"},  # the teacher: log-EI picks among the same candidates
    # (the default of 0.14-0.15; the same runs as ``hypera`` up to 150 trainings)
    "hypera-staged": {"scorer": "staged"},  # log-EI below 50 trainings, the critics after:
    # the default of 0.5-0.13
    "hypera-critics": {"scorer": "critics"},  # the critics pick from the first decision on
    "hypera-staged-150": {"scorer": "staged", "core": {"coordinator.stage_trials": 150}},  #
    # log-EI below 150 trainings, the critics after (0.15): the default since 0.16, so the
    # same runs as ``hypera`` today
    "hypera-nomodel": {"weights": None, "surrogate": False},  # no surrogate (nor pre-training,
    # whose weights were trained to read it)
    # Levers under pruners, set on the study's core (``HyperaCore`` attributes); since 0.11
    # the chance of completing comes from the early-step model (``hypera-share``: 0.9's):
    "hypera-radius-skip": {"core": {"pruned_in_radius": False}},  # pruned trials do not shrink
    # the trust region
    "hypera-pseudo-up": {"core": {"pseudo_shift": 1.0}},  # pruned trials enter the model one
    # predictive sd worse than their curves predict
    "hypera-nopseudo": {"core": {"pruned_in_model": False}},  # the model on completed trials
    "hypera-pseudo-sure": {"core": {"pseudo_var_scale": 0.25}},  # pruned trials' predictions
    # at a quarter of their variance
    "hypera-nosurvival": {"core": {"survival": False}},  # log EI alone under pruners, without
    # the chance of completing (0.8)
    "hypera-survive4": {"core": {"survival_weight": 4.0}},  # the log chance counted 4 times
    "hypera-survive10": {"core": {"survival_weight": 10.0}},
    "hypera-survive4-gain": {"core": {"survival_weight": 4.0, "survival_gain": 1.0,
                                      "survival_early": False}},  # 0.9's share only where
    # it predicts completion better than one rate by a nat
    "hypera-survive-recent": {"core": {"survival_recent": 40, "survival_early": False}},  #
    # 0.9's share from the 40 latest finished trials
    "hypera-pruned-worst": {"core": {"pruned_at_worst": True}},  # pruned trials in the model
    # at the worst completed loss
    "hypera-global": {"core": {"coordinator.global_share": 0.125}},  # 8 of the 64
    # candidates from the whole space (the surrogate's global log-EI optima, uniform points)
    "hypera-prune-widen": {"core": {"pruned_widen": True, "survival_early": False}},  # 0.9
    # with pruned agent trials widening the trust region instead of shrinking it
    "hypera-share": {"core": {"survival_early": False}},  # 0.9's chance of completing:
    # the share of nearby finished trials that completed
    "hypera-early-widen": {"core": {"pruned_widen": True}},  # and pruned agent trials
    # widen the trust region
    "hypera-early-rungs": {"core": {"survival_rungs": True}},  # the chance under rung-based
    # pruners too
    "hypera-early-w1": {"core": {"survival_weight": 1.0}},
    "hypera-per-epoch": {"core": {"survival_weight": 1.0, "survival_per_epoch": True}},  #
    # the acquisition per expected epoch: log EI + log p - log(p + (1 - p) c), c a pruned
    # trial's epochs over a completed one's (0.17, an experiment)
    "hypera-per-epoch-w4": {"core": {"survival_per_epoch": True}},  # the same, 4 log p
    "hypera-hb-mean": {"core": {"coordinator.last_bracket": "mean"}},  # in Hyperband's last
    # bracket (the least aggressive) the teacher picks the lowest posterior mean (0.17)
    "hypera-hb-lcb": {"core": {"coordinator.last_bracket": "lcb"}},  # ... mean minus one sd
    "hypera-hb-global": {"core": {"coordinator.bracket_global": 0.25}},  # a quarter of the
    # candidates from the whole space for trials Hyperband first compares within a ninth of
    # a training (its two most aggressive brackets of four): cheap probes explore (0.20)
    "hypera-hb-global0": {"core": {"coordinator.bracket_global": 0.25,
                                   "coordinator.bracket_rung": 1.0 / 27.0}},  # the most
    # aggressive bracket only (27 epochs, 4 brackets)
    "hypera-hb-mean-all": {"core": {"coordinator.last_bracket": "mean",
                                    "coordinator.exploit_rung": 1.0 / 3.0}},  # the lowest
    # posterior mean in every Hyperband bracket (27 epochs, 4 brackets)
    "hypera-fid8": {"core": {"fidelity_min": 8}},  # with fewer than 8 completed trials the
    # model reads the values at the largest pruning step 8 trials reached (BOHB's rule, 0.20)
    "hypera-fid15": {"core": {"fidelity_min": 15}},
    "hypera-rmin025": {"core": {"radius_min": 0.25}},  # the trust radius's floor halved
    "hypera-rmin0125": {"core": {"radius_min": 0.125}},  # ... and halved again
    "hypera-inc15": {"core": {"coordinator.incumbent_until": 15}},  # every base is the
    # incumbent until 15 trainings, then half of them (``Coordinator.incumbent_until``)
    "hypera-inc20": {"core": {"coordinator.incumbent_until": 20}},
    "hypera-inc30": {"core": {"coordinator.incumbent_until": 30}},
    "hypera-inc30-rmax4": {"core": {"coordinator.incumbent_until": 30, "radius_max": 4.0}},
    # ... with the trust radius never above its first value (``HyperaCore.radius_max``)
    "hypera-hb-lcb-all": {"core": {"coordinator.last_bracket": "lcb",
                                   "coordinator.exploit_rung": 1.0 / 3.0}},
    "hypera-smooth": {"core": {"kernel_prior": "smooth"}},  # the kernel fitted under the prior
    # shapes Optuna's GPSampler uses (``_kernel_fit.KERNEL_PRIORS``; 0.12's lever)
    "hypera-catsweep": {"core": {"coordinator.categorical_sweep": 16}},  # up to 16 uniform
    # candidates: the base with one categorical parameter at another choice (0.12's lever)
    "hypera-catjump": {"core": {"coordinator.categorical_jumps": True}},  # uniform candidates
    # redraw the categorical parameters they perturb from all choices (0.6's lever)
    "hypera-early-w2": {"core": {"survival_weight": 2.0}},
    "hypera-early-w8": {"core": {"survival_weight": 8.0}},
    "hypera-stretch": {"core": {"coordinator.stretch": True}},  # uniform candidates in
    # TuRBO's box, stretched by the model's lengthscales, in studies without pruned trials
    # (``Coordinator.stretch``; the default at commit 699e3c1 only, where the reports of
    # ``small-0.12`` and ``standard-0.12`` call it ``hypera`` and 0.11's box
    # ``hypera-nostretch``)
    "hypera-nostretch": {"core": {"coordinator.stretch": False}},  # 0.11's box, the default
    # again (kept so those reports' names still run)
    "hypera-stretch-pruned": {"core": {"coordinator.stretch": True,
                                       "coordinator.stretch_pruned": True}},  # the stretched
    # box under pruners too
    "hypera-mbase": {"core": {"model_incumbent": "base"}},  # the base at the completed
    # trial of lowest posterior mean (``HyperaCore.model_incumbent``; the default is the
    # lowest observed loss); the default at commit 0c4d2ac only, where the reports of
    # ``small-0.13`` and ``standard-0.13`` call it ``hypera`` and the default
    # ``hypera-obsbest``
    "hypera-obsbest": {"core": {"model_incumbent": "off"}},  # the default (kept so those
    # reports' names still run)
    "hypera-mbest": {"core": {"model_incumbent": "both"}},  # the base and log EI's threshold
    # at that posterior mean
    "hypera-mgate": {"core": {"model_incumbent": "gated"}},  # that base only where the
    # fitted noise is at least ``HyperaCore.noise_gate`` of the signal variance (0.14)
    "hypera-startup5": {"n_startup_trials": 5},  # the agents act after 5 finished trials
    "hypera-startup7": {"n_startup_trials": 7},  # 0.18's default and 0.21's; 0.19-0.20's
    # below 8 parameters
    "hypera-balanced": {"startup_design": "balanced"},  # startup trial k takes Sobol point
    # k - 1 and every categorical choice once per block (``_startup.DESIGNS``; measured after
    # 0.20, not adopted: docs/benchmarks/startup-design.md)
    "hypera-sobol": {"startup_design": "sobol"},  # point k - 1, the choice follows the point
    "hypera-skipblocks": {"startup_design": "skip-blocks"},  # point k, choices in blocks
    "hypera-condind": {"conditional": "independent"},  # 0.19's rule: define-by-run
    # conditional parameters from RandomSampler, outside the agents' space
    "hypera-startup10": {"n_startup_trials": 10},  # the default up to 0.17, and 0.19-0.20's
    # from 10 parameters on
    "hypera-startup15": {"n_startup_trials": 15},  # the rule's upper bound raised, for
    # ten or more parameters (a validation lever, measured after 0.19, not adopted)
    "hypera-local-200": {"core": {"local_points": 200}},  # the model on the 200 trials nearest
    # the incumbent (0.7's ``LOCAL_POINTS``)
    "hypera-equal-steps": {"agents": "equal"},  # every agent at the five's mean action
    # scale (0.11): parameters named like training settings (lr, batch_size, alpha) no longer
    # get the smallest steps (0.05) by their names; generic names spread over the five anyway
    "hypera-new": {"weights": NEW_WEIGHTS_ENV},  # the default with the weights file named by
    # that environment variable: candidate weights held against the shipped ones
}
"""Keyword arguments of ``HyperaSampler`` for each ``hypera*`` name (on top of ``seed``)."""

SAMPLER_NAMES: tuple[str, ...] = (*HYPERA_STRATEGIES, *_builtin(0))


def hypera_import_error() -> str | None:
    """``None`` when ``optuna_hypera.HyperaSampler`` imports, else the error as text."""
    try:
        from optuna_hypera import HyperaSampler  # noqa: F401
    except Exception as error:  # any failure of a package under construction counts
        return f"{type(error).__name__}: {error}"
    return None


def check_samplers(names: Sequence[str]) -> None:
    """``ValueError`` for unknown names, :class:`SamplerUnavailableError` for missing ones."""
    unknown = [n for n in names if n not in SAMPLER_NAMES]
    if unknown:
        raise ValueError(f"Unknown sampler(s) {unknown}; choose from {list(SAMPLER_NAMES)}.")
    if any(n in HYPERA_STRATEGIES for n in names):
        error = hypera_import_error()
        if error is not None:
            raise SamplerUnavailableError(
                f"The hypera samplers need optuna_hypera.HyperaSampler, which does not import "
                f"({error}). Drop them with --samplers, e.g. --samplers tpe,gp,random."
            )


def make_sampler(name: str, seed: int) -> BaseSampler:
    """The sampler called ``name`` seeded with ``seed``."""
    if name in HYPERA_STRATEGIES:
        check_samplers([name])
        from optuna_hypera import HyperaSampler
        from optuna_hypera import SACConfig

        kwargs = dict(HYPERA_STRATEGIES[name])
        core = kwargs.pop("core", {})
        if kwargs.get("weights") == NEW_WEIGHTS_ENV:
            path = os.environ.get(NEW_WEIGHTS_ENV)
            if not path:
                raise ValueError(f"{name} needs the weights file in ${NEW_WEIGHTS_ENV}.")
            kwargs["weights"] = path
        if kwargs.get("agents") == "equal":
            from dataclasses import replace

            from optuna_hypera import DEFAULT_AGENTS

            mean = sum(a.action_scale for a in DEFAULT_AGENTS) / len(DEFAULT_AGENTS)
            kwargs["agents"] = tuple(replace(a, action_scale=mean) for a in DEFAULT_AGENTS)
        if kwargs.get("sac") == "frozen":
            kwargs["sac"] = SACConfig(gradient_steps=0)
        elif kwargs.get("sac") == "fixed":
            kwargs["sac"] = SACConfig(stretch_after=0)
        if "startup_design" in kwargs:
            from optuna_hypera._startup import StudySobol

            kwargs["startup_sampler"] = StudySobol(seed, design=kwargs.pop("startup_design"))
        hypera = HyperaSampler(seed=seed, **kwargs)
        hypera._core_options.update(core)
        return hypera
    builtin = _builtin(seed)
    if name not in builtin:
        raise ValueError(f"Unknown sampler {name!r}; choose from {list(SAMPLER_NAMES)}.")
    return builtin[name]()


class TimedSampler(BaseSampler):
    """Delegates to ``sampler`` and adds the seconds of every call to the trial's total.

    ``seconds[trial_number]`` sums ``before_trial``, ``infer_relative_search_space``,
    ``sample_relative``, every ``sample_independent`` and ``after_trial`` of that trial.
    """

    def __init__(self, sampler: BaseSampler) -> None:
        self.sampler = sampler
        self.seconds: defaultdict[int, float] = defaultdict(float)

    def __str__(self) -> str:
        return str(self.sampler)

    def _timed(self, trial_number: int, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds[trial_number] += time.perf_counter() - start

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._timed(trial.number, lambda: self.sampler.before_trial(study, trial))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space: dict[str, BaseDistribution] = self._timed(
            trial.number, lambda: self.sampler.infer_relative_search_space(study, trial)
        )
        return space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        params: dict[str, Any] = self._timed(
            trial.number, lambda: self.sampler.sample_relative(study, trial, search_space)
        )
        return params

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._timed(
            trial.number,
            lambda: self.sampler.sample_independent(study, trial, param_name, param_distribution),
        )

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._timed(trial.number, lambda: self.sampler.after_trial(study, trial, state, values))

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()

    def seconds_per_trial(self, n_trials: int) -> list[float]:
        """Seconds spent in the sampler for trials ``0 .. n_trials-1``."""
        return [self.seconds.get(i, 0.0) for i in range(n_trials)]
