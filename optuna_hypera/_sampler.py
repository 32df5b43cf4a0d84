from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import math
import os
import threading
import time
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import QMCSampler
from optuna.samplers import RandomSampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import torch

from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._coordinator import Base
from optuna_hypera._coordinator import Context
from optuna_hypera._coordinator import Coordinator
from optuna_hypera._coordinator import Decision
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._features import MOVED
from optuna_hypera._features import N_GLOBAL
from optuna_hypera._features import N_TOKEN
from optuna_hypera._features import Evidence
from optuna_hypera._features import base_features
from optuna_hypera._features import study_features
from optuna_hypera._features import trust_radius
from optuna_hypera._groups import GroupAssignment
from optuna_hypera._groups import assign_groups
from optuna_hypera._groups import validate_groups
from optuna_hypera._replay import AgentReplay
from optuna_hypera._replay import Step
from optuna_hypera._replay import draw_batch
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._storage import read_proposal
from optuna_hypera._storage import write_proposal
from optuna_hypera._table import TrialTable


_logger = optuna.logging.get_logger("optuna.hypera")
USER_ATTR = "hypera"
GROUPS_ATTR = "hypera_groups"
_ELITE_FRACTION = 0.2
_MAX_MODES = 10_000
_torch_lock = threading.Lock()


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads for the sampler's small networks, then restore the user's."""
    if n is None:
        yield
        return
    with _torch_lock:
        previous = torch.get_num_threads()
        if previous != n:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if previous != n:
                torch.set_num_threads(previous)


class _StudyCache:
    """What one process keeps for one study: networks, replay, parsed proposals and finished
    trials. Everything here can be rebuilt from storage, so losing it (a new process,
    unpickling) costs only time."""

    def __init__(self, sac: MultiAgentSAC, n_agents: int, capacity: int, minimize: bool) -> None:
        self.sac = sac
        self.replays = [AgentReplay(capacity) for _ in range(n_agents)]
        self.new = np.zeros(n_agents, dtype=np.int64)  # transitions since each agent's update
        self.since_tick = 0  # trials replayed since the last update tick
        self.table = TrialTable(minimize)
        self.proposals: dict[int, dict[str, Any]] = {}
        self.proposal_numbers: list[int] = []  # sorted
        self.pending: set[int] = set()  # finished, proposed, waiting for a successor proposal
        self.keys: set[tuple[float, ...]] = set()  # snapped coordinates of finished trials
        self.encoder: SpaceEncoder | None = None
        self.assignment: GroupAssignment | None = None
        self.groups_written: dict[str, list[str]] | None = None


class HyperaSampler(BaseSampler):
    """Five Soft Actor-Critic agents, each owning a group of hyperparameters, propose changes
    to a good trial; a coordinator merges them. See the README for the state, action, reward and
    the strategies.

    Args:
        seed: Seed of every random choice the sampler makes (numpy and torch generators it
            owns; global seeds are never touched).
        strategy: ``"independent"``, ``"sequential"`` or ``"cooperative"``.
        conflict: ``"value"``, ``"specialization"`` or ``"thompson"``.
        n_startup_trials: Finished trials sampled by ``startup_sampler`` before the agents act.
        groups: ``{agent_name: [names or glob patterns]}`` overriding the built-in name rules.
        agents: The agents' configurations (default: the write-up's five).
        sac: Soft Actor-Critic settings.
        independent_sampler: Samples parameters outside the relative search space (default
            ``RandomSampler(seed=seed)``).
        startup_sampler: Samples the startup trials (default scrambled Sobol ``QMCSampler``).
        device: Torch device of the networks (``"cpu"`` or e.g. ``"cuda"``).
        weights: Path of weights saved by :meth:`save_weights`, loaded when a study starts.
        torch_threads: Intra-op threads used while the sampler runs its networks (restored
            afterwards); ``None`` leaves torch's setting alone.
        dashboard_every: Refresh the optuna-dashboard note and figure at most every this many
            finished trials, and only while refreshing takes under ~5% of the study's time
            (0 turns it off); needs the ``dashboard`` extra.
        warn_independent_sampling: Log when a parameter falls back to ``independent_sampler``.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        strategy: str = "independent",
        conflict: str = "value",
        n_startup_trials: int = 10,
        groups: Mapping[str, Sequence[str]] | None = None,
        agents: Sequence[AgentConfig] = DEFAULT_AGENTS,
        sac: SACConfig | None = None,
        independent_sampler: BaseSampler | None = None,
        startup_sampler: BaseSampler | None = None,
        device: str | torch.device = "cpu",
        weights: str | os.PathLike[str] | None = None,
        torch_threads: int | None = 1,
        dashboard_every: int = 10,
        warn_independent_sampling: bool = True,
    ) -> None:
        if n_startup_trials < 0:
            raise ValueError("n_startup_trials must be non-negative.")
        if not agents:
            raise ValueError("agents must hold at least one AgentConfig.")
        if len({a.name for a in agents}) != len(agents):
            raise ValueError("agent names must be unique.")
        if torch_threads is not None and torch_threads < 1:
            raise ValueError("torch_threads must be None or >= 1.")
        if dashboard_every < 0:
            raise ValueError("dashboard_every must be non-negative.")
        self._agents = tuple(agents)
        self._groups = validate_groups(groups, self._agents)
        self._coordinator = Coordinator(self._agents, strategy, conflict)
        self._sac_config = sac or SACConfig()
        self._seed = seed
        self._rng = LazyRandomState(seed)
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._startup_sampler = startup_sampler or _default_startup_sampler(seed)
        self._device = torch.device(device)
        self._weights = weights
        self._torch_threads = torch_threads
        self._dashboard_every = dashboard_every
        self._warn_independent_sampling = warn_independent_sampling
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._caches: dict[tuple[int, int], _StudyCache] = {}
        self._startup: OrderedDict[int, bool] = OrderedDict()
        self._refreshes: dict[tuple[int, int], tuple[int, float, float]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_caches", "_startup", "_refreshes"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    @property
    def strategy(self) -> str:
        return self._coordinator.strategy

    @property
    def conflict(self) -> str:
        return self._coordinator.conflict

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
        # refresh there could get a healthy trial failed as stale.
        self._maybe_refresh_dashboard(study, trial.number)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._raise_error_if_multi_objective(study)
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        n_finished = len(study._get_trials(deepcopy=False, states=states, use_cache=True))
        startup = n_finished < self._n_startup_trials
        with self._lock:
            self._startup[trial._trial_id] = startup
            while len(self._startup) > _MAX_MODES:
                self._startup.popitem(last=False)
        if startup:
            return self._startup_sampler.infer_relative_search_space(study, trial)
        return {
            name: dist
            for name, dist in self._search_space.calculate(study).items()
            if not dist.single()
        }

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._raise_error_if_multi_objective(study)
        if self._startup.get(trial._trial_id, False):
            return self._startup_sampler.sample_relative(study, trial, search_space)
        if not search_space:
            return {}
        with self._lock, _torch_threads(self._torch_threads):
            return self._sample(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        self._raise_error_if_multi_objective(study)
        if self._startup.get(trial._trial_id, False):
            return self._startup_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        if self._warn_independent_sampling and trial._trial_id in self._startup:
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
        if self._startup.pop(trial._trial_id, False):
            self._startup_sampler.after_trial(study, trial, state, values)

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
            cache.sac.save(path)

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _key(study: Study) -> tuple[int, int]:
        return id(study._storage), study._study_id

    def _cache_for(self, study: Study) -> _StudyCache:
        key = self._key(study)
        cache = self._caches.get(key)
        if cache is None:
            seed = int(self._rng.rng.randint(2**31 - 1))
            sac = MultiAgentSAC(self._agents, self._sac_config, seed, self._device)
            if self._weights is not None:
                sac.load(self._weights)
            cache = _StudyCache(sac, len(self._agents), self._sac_config.replay_capacity,
                                study.direction == StudyDirection.MINIMIZE)
            self._caches[key] = cache
        return cache

    def _encoder_for(self, study: Study, cache: _StudyCache,
                     search_space: dict[str, BaseDistribution]) -> SpaceEncoder:
        enc = cache.encoder
        if enc is None or enc.names != tuple(search_space) or enc.distributions != tuple(
            search_space.values()
        ):
            enc = SpaceEncoder(search_space)
            cache.encoder = enc
            cache.table.set_rows(lambda t: _row(enc, t), len(enc))
            _, x, _ = cache.table.view()
            cache.keys = {tuple(r.round(12)) for r in x if not np.isnan(r[0])}
            cache.assignment = assign_groups(enc.names, self._agents, self._groups)
            mapping = cache.assignment.as_dict(self._agents)
            if mapping != cache.groups_written:
                _logger.info(f"HyperaSampler parameter groups: {mapping}")
                study._storage.set_study_user_attr(study._study_id, GROUPS_ATTR, mapping)
                cache.groups_written = mapping
        return enc

    def _proposal(self, cache: _StudyCache, trial: FrozenTrial) -> dict[str, Any] | None:
        p = cache.proposals.get(trial.number)
        if p is None:
            p = read_proposal(trial)
            if p is not None:
                cache.proposals[trial.number] = p
                bisect.insort(cache.proposal_numbers, trial.number)
        return p

    def _ingest(self, cache: _StudyCache, new_finished: Sequence[FrozenTrial]) -> None:
        """Add transitions of finished trials whose successor proposal (the next proposal in
        trial-number order, the state the agents moved on to) is known."""
        index = {a.name: i for i, a in enumerate(self._agents)}
        for t in new_finished:
            if t.number in cache.proposals:
                cache.pending.add(t.number)
        for number in sorted(cache.pending):
            k = bisect.bisect_right(cache.proposal_numbers, number)
            if k == len(cache.proposal_numbers):
                continue
            cache.pending.discard(number)
            cache.since_tick += 1
            p = cache.proposals[number]
            nxt = cache.proposals[cache.proposal_numbers[k]]
            for name, rec in p["agents"].items():
                a = index.get(name)
                if a is None:
                    continue
                nrec = nxt["agents"].get(name)
                try:
                    step = _step(rec, p["glob"])
                    nstep = _step(nrec, nxt["glob"]) if nrec is not None else None
                except (TypeError, ValueError) as e:
                    _logger.warning(f"Skipping a malformed transition of trial {number}: {e}")
                    continue
                cache.replays[a].add(step, nstep, trial=number, base=int(p["base"]))
                cache.new[a] += 1

    def _train(self, cache: _StudyCache, quantile_of: dict[int, float],
               penalized: set[int]) -> None:
        """Each agent takes one gradient step per `update_frequency` new transitions (the
        write-up's schedule, exact on average). Updates run on a common clock that ticks every
        min(update_frequency) trials, so the agents that are due share one batched step instead
        of each paying for its own; a process catching up runs the steps it missed, capped."""
        cfg = self._sac_config
        freq = np.array([a.update_frequency for a in self._agents])
        if cfg.gradient_steps == 0 or cache.since_tick < int(freq.min()):
            return
        cache.since_tick = 0
        events = cache.new // freq
        cache.new -= events * freq
        cap = max(cfg.max_catchup_steps, cfg.gradient_steps)
        steps = np.minimum(events * cfg.gradient_steps, cap)
        steps[[len(r) == 0 for r in cache.replays]] = 0
        if not steps.any():
            return
        rng = self._rng.rng
        gen = torch.Generator(device=cache.sac.device).manual_seed(int(rng.randint(2**31 - 1)))
        for k in range(int(steps.max())):
            due = (steps > k).tolist()
            batch, mask = draw_batch(cache.replays, due, cfg.batch_size, rng, quantile_of,
                                     penalized, cache.sac.device)
            cache.sac.update(batch, mask, gen)

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        trials = study._get_trials(deepcopy=False, use_cache=False)
        cache = self._cache_for(study)
        enc = self._encoder_for(study, cache, search_space)
        table = cache.table
        new_finished = table.update(trials)
        unfinished = [t for t in trials  # one pass: other workers' running and waiting trials
                      if t.state in (TrialState.RUNNING, TrialState.WAITING)
                      and t.number != trial.number]
        running = [t for t in unfinished if t.state == TrialState.RUNNING]
        for t in new_finished:
            self._proposal(cache, t)
            row = table.row(t.number)  # encoded once, by the table
            if row is not None:
                cache.keys.add(tuple(row.round(12)))
        history, x_all, order = table.view()
        quantile_of = history.quantile_of()
        penalized = history.penalized()
        for t in running:
            self._proposal(cache, t)
        self._ingest(cache, new_finished)
        self._train(cache, quantile_of, penalized)

        cover = np.flatnonzero(history.valid & ~np.isnan(x_all[:, 0]))
        if len(cover) == 0:
            return {}  # nothing valid to improve on yet: the independent sampler takes over
        x_valid = x_all[cover]
        losses = history.losses[cover]
        evidence = Evidence.build(x_valid, losses)
        rank = np.argsort(losses, kind="stable")
        n_elite = max(3, math.ceil(_ELITE_FRACTION * len(rank)))
        radius = trust_radius(history, cache.proposals, len(enc))
        g_study = study_features(history, radius)
        medians = table.stats_medians()
        durations = history.durations[np.isfinite(history.durations)]
        dur_median = float(np.median(durations)) if len(durations) else 0.0

        def make_base(k: int) -> Base:
            i = int(cover[k])
            ft = table.trials[int(order[i])]
            g = base_features(g_study, float(history.quantiles[i]),
                              float(history.durations[i]), ft, medians, dur_median)
            return Base(number=ft.number, x=x_valid[k], glob=g)

        taken = set(cache.keys)
        points: list[np.ndarray] = []
        for t in unfinished:
            row = _row(enc, t)
            if row is None and t.number in cache.proposals:
                p = cache.proposals[t.number]
                if p["names"] == list(enc.names):
                    row = enc.snap(np.asarray(p["x"], dtype=np.float64))
            if row is not None:
                taken.add(tuple(row.round(12)))
                if t.state == TrialState.RUNNING:
                    points.append(row)

        n_agents = len(self._agents)
        successes, failures = np.zeros(n_agents), np.zeros(n_agents)
        if self._coordinator.conflict == "thompson":
            for a, rep in enumerate(cache.replays):
                successes[a], failures[a] = rep.successes(quantile_of, penalized)

        assert cache.assignment is not None
        ctx = Context(
            encoder=enc,
            evidence=evidence,
            assignment=cache.assignment,
            incumbent=make_base(int(rank[0])),
            elites=[int(k) for k in rank[:n_elite]],
            make_base=make_base,
            taken=taken,
            running=np.array(points) if points else np.zeros((0, len(enc))),
            successes=successes,
            failures=failures,
            radius=radius,
        )
        rng = self._rng.rng
        gen = torch.Generator(device=cache.sac.device).manual_seed(int(rng.randint(2**31 - 1)))
        decision = self._coordinator.decide(cache.sac, ctx, rng, gen)
        params = enc.decode(decision.x)
        self._record(study, trial, enc, decision, params)
        return params

    def _record(self, study: Study, trial: FrozenTrial, enc: SpaceEncoder, decision: Decision,
                params: dict[str, Any]) -> None:
        """The proposal for replay (system attrs) and its explanation (user attrs)."""
        base_params = enc.decode(decision.base.x)
        agents_sys: dict[str, Any] = {}
        agents_user: dict[str, Any] = {}
        for a, agent in enumerate(self._agents):
            move = decision.moves.get(a)
            if move is None:  # owns no parameter of this search space
                agents_user[agent.name] = {"value": None, "params": {}}
                continue
            agents_sys[agent.name] = {
                "i": move.params,
                "a": _round(move.action),
                "f": [_round(row) for row in move.tokens],
                "q": round(move.value, 5),
                "m": round(move.moved, 5),
            }
            changed = {}
            for j in move.params:
                name = enc.names[j]
                if params[name] != base_params[name]:
                    changed[name] = {
                        "from": base_params[name],
                        "to": params[name],
                        "delta": round(float(decision.x[j] - decision.base.x[j]), 5),
                    }
            agents_user[agent.name] = {"value": round(move.value, 5), "params": changed}
        write_proposal(study._storage, trial._trial_id, {
            "names": list(enc.names),
            "x": _round(decision.x),
            "base": decision.base.number,
            "strategy": self.strategy,
            "conflict": self.conflict,
            "glob": _round(decision.base.glob),
            "agents": agents_sys,
        })
        study._storage.set_trial_user_attr(trial._trial_id, USER_ATTR, {
            "base_trial": decision.base.number,
            "strategy": self.strategy,
            "conflict": self.conflict,
            "value_estimate": round(decision.value, 5),
            "agents": agents_user,
        })

    def _maybe_refresh_dashboard(self, study: Study, n: int) -> None:
        """Refresh at most every `dashboard_every` trials, and only once the time since the
        last refresh is 20x what that refresh took: the O(n) refresh stays under ~5% of the
        study's time, yet a study of real training refreshes every `dashboard_every` trials."""
        if not self._dashboard_every or n == 0:
            return
        key = self._key(study)
        last_n, last_end, last_cost = self._refreshes.get(key, (0, -math.inf, 0.0))
        now = time.monotonic()
        if n - last_n < self._dashboard_every or now - last_end < 20 * last_cost:
            return
        try:  # imported before the clock starts: a one-off cost must not throttle refreshes
            from optuna_hypera._dashboard import publish_dashboard
            from optuna_hypera._dashboard import warm_imports

            warm_imports()
        except ImportError:
            self._dashboard_every = 0  # the dashboard extra is not installed
            return
        start = time.monotonic()
        try:
            publish_dashboard(study)
        except Exception as e:  # never let a report break the study
            _logger.warning(f"HyperaSampler could not refresh the dashboard note: {e!r}")
        end = time.monotonic()
        self._refreshes[key] = (n, end, end - start)


def _row(enc: SpaceEncoder, trial: FrozenTrial) -> np.ndarray | None:
    """Coordinates of a trial's parameters, or ``None`` if it does not cover the space."""
    row = np.empty(len(enc))
    for j, (name, dist) in enumerate(zip(enc.names, enc.distributions, strict=True)):
        if name not in trial.params:
            return None
        internal = trial.distributions[name].to_internal_repr(trial.params[name])
        if not dist._contains(internal):
            return None
        row[j] = enc.encode_internal(j, internal)
    return row


def _default_startup_sampler(seed: int | None) -> BaseSampler:
    """Scrambled Sobol points: better coverage than random for the first trials."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)


def _round(values: Any) -> list[float]:
    return [round(float(v), 5) for v in values]


def _step(rec: dict[str, Any], glob: list[float]) -> Step:
    tokens = np.asarray(rec["f"], dtype=np.float32)
    action = np.asarray(rec["a"], dtype=np.float32)
    g = np.array(glob, dtype=np.float32)
    if tokens.ndim != 2 or len(tokens) != len(action) or g.ndim != 1:
        raise ValueError("inconsistent shapes")
    if tokens.shape[1] != N_TOKEN or len(g) != N_GLOBAL:
        raise ValueError("state written by another version")
    g[MOVED] = float(rec.get("m", 0.0))
    return Step(tokens=tokens, glob=g, action=action)
