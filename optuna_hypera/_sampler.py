from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from collections.abc import Sequence
import logging
import os
import threading
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import torch

from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._core import KERNELS
from optuna_hypera._core import HyperaCore
from optuna_hypera._dashboard import Refresher
from optuna_hypera._groups import validate_groups
from optuna_hypera._rules import AUTO_STAGE_TRIALS
from optuna_hypera._rules import STAGE_TRIALS
from optuna_hypera._rules import check_rules
from optuna_hypera._source_set import STARTS
from optuna_hypera._source_set import SourceSet
from optuna_hypera._source_set import checked_sources
from optuna_hypera._startup import StudySobol
from optuna_hypera._startup import startup_done
from optuna_hypera._study_cache import StudyCache
from optuna_hypera._study_cache import trim_record
from optuna_hypera._table import Intersection
from optuna_hypera._threads import torch_threads
from optuna_hypera._weights import PRETRAINED
from optuna_hypera._weights import starting_state


_logger = optuna.logging.get_logger("optuna.hypera")
_MAX_MODES = 10_000
SCORERS: dict[str, tuple[str, int | None]] = {
    "auto": ("staged", AUTO_STAGE_TRIALS), "log-ei": ("teacher", None),
    "staged": ("staged", STAGE_TRIALS), "critics": ("critic", None)}
"""``HyperaSampler(scorer=...)`` -> the core's chooser and, for a staged one, the number of
trainings from which the critics pick (``Coordinator.stage_trials``)."""
_SOURCE_STARTUP = 5
"""With sources: the startup phase is ``_SOURCE_STARTUP`` trials, the first ``STARTS`` of
them the sources' best configurations."""
_STARTUP_MODE, _SOURCE_MODE, _AGENTS = "startup", "source", "agents"
class HyperaSampler(BaseSampler):
    """Five Soft Actor-Critic agents, each owning a group of hyperparameters, propose changes
    to a good trial; a coordinator merges them. See the README for the state, action, reward and
    the strategies.

    Args:
        seed: Seed of every random choice the sampler makes (numpy and torch generators it
            owns; global seeds are never touched).
        strategy: ``"independent"``, ``"sequential"`` or ``"cooperative"``.
        conflict: ``"value"``, ``"specialization"`` or ``"thompson"``.
        n_startup_trials: Finished trials sampled by ``startup_sampler`` before the agents act
            (default: 7, ``_startup.STARTUP_TRIALS``; 0.19-0.20 took the number of
            parameters clipped to [7, 10]; 5 with ``source_studies``, whose best
            configurations come first).
        groups: ``{agent_name: [names or glob patterns]}`` overriding the built-in name rules.
        agents: The agents' configurations (default: the write-up's five).
        sac: Soft Actor-Critic settings.
        independent_sampler: Samples parameters outside the relative search space: new or
            changed ones, and conditional ones under ``conditional="independent"`` (default
            ``RandomSampler(seed=seed)``).
        startup_sampler: Samples the startup trials (default: the study's scrambled Sobol
            sequence, indexed by trial number, so every worker gives a trial the same point;
            see ``_startup``).
        device: Torch device of the networks (``"cpu"`` or e.g. ``"cuda"``).
        weights: The agents' starting weights: ``"pretrained"`` (default) loads the weights
            that ship inside the package (pre-trained on synthetic tasks, see
            ``python -m optuna_hypera.pretrain``); ``None`` starts from random initialisation;
            a path loads a file saved by :meth:`save_weights` or the pre-training command. A
            file that does not fit the networks raises ``ValueError``. The agents keep learning
            online within the study from this start.
        scorer: What picks among a cooperative decision's candidates: ``"auto"`` (the
            default since 0.16: log-EI until the study has ``_rules.AUTO_STAGE_TRIALS`` =
            150 trials that were not pruned, the agents' critics from then on), ``"log-ei"``
            (the default of 0.14-0.15: the surrogate's log expected improvement, the rule
            the critics were pre-trained to imitate, throughout), ``"staged"`` (the default
            of 0.5-0.13: the same switch at ``_rules.STAGE_TRIALS`` = 50) or ``"critics"``
            (the critics from the first decision on). Until trial 150 ``"auto"`` and
            ``"log-ei"`` are the same study. The critics lose to log-EI in short studies
            (at 100 trials 284/363 on 768 generated tasks,
            ``docs/benchmarks/critics-fresh-0.14.md``) and gain with a study's length: from
            trial 150 on they were ahead at 300 trials on three fresh generated draws
            (126/84, ``docs/benchmarks/levers-0.15.md``; the test split in
            ``docs/benchmarks/auto-0.16.md``). The agents propose half of the candidates
            and keep learning online under every scorer.
        surrogate: Fit the Gaussian-process model whose view the agents read (``False``: the
            ablation without a model).
        kernel: How that model reads discrete parameters: ``"mixed"`` (the default, what
            the shipped weights were pre-trained with: categorical choices by the overlap
            distance, equal for any two different choices; integers at the integer they
            decode to) or ``"ordinal"`` (every coordinate as it is, categorical choices as
            ordered bins, as before 0.3).
        torch_threads: Intra-op threads used while the sampler runs its networks (restored
            afterwards); ``None`` leaves torch's setting alone.
        dashboard_every: Refresh the optuna-dashboard note and figure at most every this many
            finished trials, and only while refreshing takes under ~2% of the study's time
            (0 turns it off); needs the ``dashboard`` extra.
        warn_independent_sampling: Log when a parameter falls back to ``independent_sampler``.
        source_studies: Past studies of related tasks to learn from (any storage, made by any
            sampler, single-objective). Parameters match by name and kind of distribution;
            what does not match is ignored with one warning, and a source that shares no
            parameter with the new study is a ``ValueError``. The sources' best
            configurations are the first trials; their data form a prior on the surrogate
            model whose weight follows how well each source ranks the new study's trials (a
            misleading source loses its weight within a few trials); and the agents adapt
            from ``weights`` on the sources' experience once per process before the first
            proposal. See the README's "Transfer from past studies".
        source_steps: Gradient steps of that adaptation, at most: fewer when the sources'
            experience is small (it stops after 50 passes over it); 0: none, the agents start
            from ``weights`` as they are.
        conditional: Define-by-run parameters only some trials ask (SGD's momentum):
            ``"model"`` (default since 0.20) puts them in the agents' space, a trial without
            one at the centre of its range (README, "Search space to agents");
            ``"independent"`` (0.19's) leaves them to ``independent_sampler``. Without
            conditional parameters the two are the same study.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        strategy: str = "cooperative",
        conflict: str = "thompson",
        n_startup_trials: int | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        agents: Sequence[AgentConfig] = DEFAULT_AGENTS,
        sac: SACConfig | None = None,
        independent_sampler: BaseSampler | None = None,
        startup_sampler: BaseSampler | None = None,
        device: str | torch.device = "cpu",
        weights: str | os.PathLike[str] | None = PRETRAINED,
        scorer: str = "auto",
        surrogate: bool = True,
        kernel: str = "mixed",
        torch_threads: int | None = 1,
        dashboard_every: int = 10,
        warn_independent_sampling: bool = True,
        source_studies: Sequence[Study] | None = None,
        source_steps: int = 200,
        conditional: str = "model",
    ) -> None:
        sources = checked_sources(source_studies, source_steps)
        if conditional not in ("model", "independent"):
            raise ValueError("conditional must be 'model' or 'independent'.")
        if n_startup_trials is None and sources:
            n_startup_trials = _SOURCE_STARTUP
        if n_startup_trials is not None and n_startup_trials < 0:
            raise ValueError("n_startup_trials must be non-negative.")
        if not agents:
            raise ValueError("agents must hold at least one AgentConfig.")
        if len({a.name for a in agents}) != len(agents):
            raise ValueError("agent names must be unique.")
        if torch_threads is not None and torch_threads < 1:
            raise ValueError("torch_threads must be None or >= 1.")
        if torch_threads is None:
            warnings.warn(
                "HyperaSampler(torch_threads=None) leaves torch and BLAS on all cores: on a busy "
                "machine its small matrices then run many times slower (a 200-point kernel fit "
                "in seconds instead of 0.1 s); the default 1 is the safe value.", stacklevel=2)
        if dashboard_every < 0:
            raise ValueError("dashboard_every must be non-negative.")
        self._agents = tuple(agents)
        self._groups = validate_groups(groups, self._agents)
        check_rules(strategy, conflict)
        self._strategy, self._conflict = strategy, conflict
        self._sac_config = sac or SACConfig()
        self._seed = seed
        self._rng = LazyRandomState(seed)
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._startup_sampler = startup_sampler or StudySobol(seed)
        self._device = torch.device(device)
        self._weights = weights
        if scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {tuple(SCORERS)}, got {scorer!r}.")
        self._scorer = scorer
        self._surrogate = surrogate
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
        self._kernel = kernel
        self._torch_threads = torch_threads
        self._dashboard_every = dashboard_every
        self._warn_independent_sampling = warn_independent_sampling
        self._source_studies = sources
        self._source_steps = source_steps
        self._conditional = conditional
        # Read now: a missing, unreadable or mismatched file fails here, not trials later.
        self._start = starting_state(weights, self._agents, self._sac_config)
        self._core_options: dict[str, Any] = {}
        """Attributes set on every study's ``HyperaCore`` when it is built (benchmark variants
        of settings the constructor does not expose; ``"coordinator.name"`` for its parts)."""
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._caches: dict[tuple[int, int], StudyCache] = {}
        self._spaces: dict[tuple[int, int], Intersection] = {}
        self._startup: OrderedDict[int, str] = OrderedDict()
        self._dashboard = Refresher(self._dashboard_every)
        n_startup = (_SOURCE_STARTUP if self._n_startup_trials is None
                     else self._n_startup_trials)  # None only without sources
        self._sources = SourceSet(self._source_studies, min(STARTS, n_startup),
                                  self._source_steps, impute=self._conditional == "model")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_caches", "_spaces", "_startup", "_dashboard", "_sources"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    @property
    def strategy(self) -> str:
        return self._strategy

    @property
    def conflict(self) -> str:
        return self._conflict

    def reseed_rng(self) -> None:
        # Agents' torch generators are drawn from this RNG at each call, so they follow it.
        self._rng.rng.seed()
        self._independent_sampler.reseed_rng()
        self._startup_sampler.reseed_rng()

    # -- Optuna's sampler protocol ------------------------------------------------------------
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._raise_error_if_multi_objective(study)
        self._startup_sampler.before_trial(study, trial)
        # Here rather than in after_trial: Optuna's heartbeat has stopped by then, so a slow
        # refresh there could get a healthy trial failed as stale. Under HyperbandPruner Optuna
        # hands over a bracket's view of the study, which has no attributes to write: the note
        # is about the whole study.
        whole: Study = getattr(study, "_study", study)  # a bracket's view keeps the study
        self._dashboard.maybe_refresh(whole, trial.number)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._raise_error_if_multi_objective(study)
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        finished = study._get_trials(deepcopy=False, states=states, use_cache=True)
        mode = _AGENTS
        # The startup design goes on until the agents have a base, a completed trial (all
        # startup trials pruned or failed leaves them none).
        if (not startup_done(finished, self._n_startup_trials)
                or not any(t.state == TrialState.COMPLETE for t in finished)):
            mode = _STARTUP_MODE
            if self._sources and trial.number < len(self._sources.starts()):
                mode = _SOURCE_MODE
        with self._lock:
            self._startup[trial._trial_id] = mode
            while len(self._startup) > _MAX_MODES:
                self._startup.popitem(last=False)
        if self._sources and finished:
            self._sources.check(self._key(study), study, finished[0])
        if mode == _SOURCE_MODE:
            return {}  # the source's values come through sample_independent, checked there
        if mode == _STARTUP_MODE:
            return self._startup_sampler.infer_relative_search_space(study, trial)
        with self._lock:
            space = self._spaces.setdefault(self._key(study), Intersection(
                union=self._conditional == "model"))
            return dict(space.update(study._get_trials(deepcopy=False, use_cache=True)))

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._raise_error_if_multi_objective(study)
        mode = self._startup.get(trial._trial_id)
        if mode == _STARTUP_MODE:
            return self._startup_sampler.sample_relative(study, trial, search_space)
        if not search_space or mode == _SOURCE_MODE:
            return {}
        with self._lock, torch_threads(self._torch_threads):
            return self._sample(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        self._raise_error_if_multi_objective(study)
        mode = self._startup.get(trial._trial_id)
        if mode == _SOURCE_MODE:
            found, value = self._sources.start_value(trial.number, param_name,
                                                     param_distribution)
            if found:
                return value
            mode = _STARTUP_MODE
        if mode == _STARTUP_MODE:
            return self._startup_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        if self._warn_independent_sampling and mode == _AGENTS:
            _logger.warning(
                f"Trial {trial.number}: {param_name!r} is outside the relative search space "
                f"(conditional or dynamic) and is sampled by "
                f"{type(self._independent_sampler).__name__}."
            )
        return self._independent_sampler.sample_independent(
            study, trial, param_name, param_distribution
        )

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        mode = self._startup.pop(trial._trial_id, None)
        if mode in (_STARTUP_MODE, _SOURCE_MODE):
            self._startup_sampler.after_trial(study, trial, state, values)
        elif mode == _AGENTS and self._conditional == "model":
            trim_record(study, trial)

    # -- weights ------------------------------------------------------------------------------
    def save_weights(self, path: str | os.PathLike[str], study: Study | None = None) -> None:
        """Save the agents' networks (safe tensor-only format) learnt on ``study`` (optional
        when the sampler has served one study)."""
        with self._lock:
            if study is not None:
                cache = self._caches.get(self._key(study))
            elif len(self._caches) == 1:
                cache = next(iter(self._caches.values()))
            else:
                raise ValueError("Pass the study whose agents to save.")
            if cache is None:
                raise ValueError("The sampler has not proposed any trial of this study yet.")
            cache.core.sac.save(path)

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _key(study: Study) -> tuple[int, int]:
        return id(study._storage), study._study_id

    def _cache_for(self, study: Study) -> StudyCache:
        key = self._key(study)
        cache = self._caches.get(key)
        if cache is None:
            chooser, stage = SCORERS[self._scorer]
            core = HyperaCore(agents=self._agents, sac=self._sac_config, strategy=self._strategy,
                              conflict=self._conflict, groups=self._groups,
                              seed=int(self._rng.rng.randint(2**31 - 1)), device=self._device,
                              surrogate=self._surrogate, chooser=chooser, kernel=self._kernel)
            if stage is not None:
                core.coordinator.stage_trials = stage
            for name, value in self._core_options.items():
                *path, attr = name.split(".")  # "coordinator.x": an attribute of core's part
                target: Any = core
                for part in path:
                    target = getattr(target, part)
                setattr(target, attr, value)
            if self._start is not None:
                core.sac.load_state_dict({k: v.to(core.sac.device)
                                          for k, v in self._start.items()})
            self._sources.adapt(core)
            cache = StudyCache(core, study.direction == StudyDirection.MINIMIZE)
            self._caches[key] = cache
        return cache

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        # The list this ask read for the search space (Optuna clears it at every ask and tell).
        trials = study._get_trials(deepcopy=False, use_cache=True)
        cache = self._cache_for(study)
        enc = cache.encoder_for(study, search_space, self._agents)
        if self._sources:
            self._sources.attach(self._key(study), study, cache.core, enc)
        asked = cache.core.ask(cache.study_input(trials, trial.number, enc,
                                                 _prunes_at_rungs(study.pruner),
                                                 _bar_quantile(study.pruner),
                                                 _first_rung(study)))
        if asked.losses is not None and _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("HyperaSampler SAC update, per agent: " + ", ".join(
                f"{k} {np.array2string(v, precision=4)}" for k, v in asked.losses.items()))
        decision = asked.decisions[0]
        if decision is None:
            return {}  # nothing valid to improve on yet: the independent sampler takes over
        return cache.record(study, trial, enc, decision, self._agents, self.strategy,
                            self.conflict)



def _inner(pruner: optuna.pruners.BasePruner) -> optuna.pruners.BasePruner:
    """The pruner that decides: the one a ``PatientPruner`` wraps (it only adds patience)."""
    inner = getattr(pruner, "_wrapped_pruner", None)
    if isinstance(pruner, optuna.pruners.PatientPruner) and inner is not None:
        return _inner(inner)
    return pruner


def _prunes_at_rungs(pruner: optuna.pruners.BasePruner) -> bool:
    """Successive halving and Hyperband (also inside ``PatientPruner``): trials stopped by
    rank at fixed rungs (``StudyInput.rungs``)."""
    return isinstance(_inner(pruner), (optuna.pruners.SuccessiveHalvingPruner,
                                       optuna.pruners.HyperbandPruner))


def _first_rung(study: Study) -> float | None:
    """The share of a full training after which ``HyperbandPruner`` first compares the trial
    being asked for (``StudyInput.first_rung``): ``eta ** (bracket - last bracket)``, 1 in
    its last bracket; ``None`` outside Hyperband or with one bracket. Optuna hands the
    sampler a study of the trial's bracket (``pruners._filter_study``) that knows its
    ``_bracket_id``: private, tested in ``tests/test_pruners.py`` for the Optuna range
    ``pyproject.toml`` pins."""
    pruner = study.pruner
    bracket = getattr(study, "_bracket_id", None)
    brackets = getattr(pruner, "_n_brackets", None)
    eta = getattr(pruner, "_reduction_factor", None)
    if (isinstance(pruner, optuna.pruners.HyperbandPruner) and isinstance(bracket, int)
            and isinstance(brackets, int) and isinstance(eta, int) and eta > 1
            and 0 <= bracket < brackets and brackets > 1):
        return float(eta) ** (bracket - brackets + 1)
    return None


def _bar_quantile(pruner: optuna.pruners.BasePruner) -> float:
    """The quantile of the completed trials' values below which a trial passes a comparing
    pruner (``StudyInput.bar_quantile``): a ``PercentilePruner``'s percentile (``MedianPruner``
    is its 50th), also inside ``PatientPruner``; the median for any other pruner."""
    decides = _inner(pruner)
    percentile = getattr(decides, "_percentile", None)
    if isinstance(decides, optuna.pruners.PercentilePruner) and isinstance(percentile,
                                                                        (int, float)):
        return min(max(percentile / 100.0, 0.0), 1.0)
    return 0.5
