"""The agents' experience and how they learn from it: replay, transition pairing, update clock.

A transition is what one agent saw and did for one proposed trial, and the trial's outcome:

- state and action: as stored with the proposal; where the trial ran other values than
  proposed (``enqueue_trial`` fixing a parameter, a user-supplied value), the executed action is
  recomputed from the values it really ran, so the agent is paid for what happened;
- reward: ``_features.rewards`` from the study's *current* ranks, recomputed at every draw;
- next state: the state of the first later proposal whose base is this trial, i.e. the
  decision the action led to (``done`` until one exists). Pairing depends only on the set of
  proposals, not on the order they arrive in. With ``gamma = 0``, the default, the next state
  is never read, so transitions stay terminal and pairing costs nothing.

No Optuna import; one ``Learner`` serves one study in the sampler and a batch of simulated
studies in pre-training (their transitions pooled, each rewarded by its own study's ranks).
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import logging

import numpy as np
import torch

from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._history import History
from optuna_hypera._history import future_gains
from optuna_hypera._history import label_rewards
from optuna_hypera._history import rewards
from optuna_hypera._replay import AgentReplay
from optuna_hypera._sac import MultiAgentSAC
from optuna_hypera._schema import ACTION_LIMIT
from optuna_hypera._schema import CLONED
from optuna_hypera._schema import N_CAND
from optuna_hypera._schema import N_GLOBAL
from optuna_hypera._schema import N_TOKEN
from optuna_hypera._schema import G
from optuna_hypera._schema import Proposal
from optuna_hypera._schema import T
from optuna_hypera._space import Space


_logger = logging.getLogger("optuna.hypera")
_MOVED = G["moved"]
_SAME = 1e-4
"""Coordinates closer than this count as the proposed value (proposals are rounded to 1e-5)."""


@dataclass
class _StudyLog:
    """What the learner knows of one study."""

    index: int
    seen: set[int] = field(default_factory=set)
    """Proposal numbers already registered as successors."""
    observed: set[int] = field(default_factory=set)
    """Trials whose transitions are in replay."""
    successor: dict[int, int] = field(default_factory=dict)
    """base trial -> the lowest-numbered later proposal made from it."""
    slots: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """trial -> (agent, transition id) of its transitions."""
    history: History | None = None
    """The latest history seen: rewards come from its ranks."""


@dataclass
class _Staged:
    """One agent's transition of one newly finished trial, before it joins the replay."""

    log: _StudyLog
    proposals: Mapping[int, Proposal]
    number: int
    proposal: Proposal
    tokens: np.ndarray
    action: np.ndarray
    """As executed (recomputed where the trial ran other values than proposed)."""
    moved: float


class Learner:
    """``observe`` turns a study's proposals and results into transitions; ``train`` runs
    the gradient steps that are due and returns the SAC losses."""

    def __init__(self, agents: Sequence[AgentConfig], config: SACConfig,
                 sac: MultiAgentSAC) -> None:
        self.agents = tuple(agents)
        self.config = config
        self.sac = sac
        self.index = {a.name: i for i, a in enumerate(self.agents)}
        self.replays = [AgentReplay(config.replay_capacity) for _ in self.agents]
        self.freq = np.array([a.update_frequency for a in self.agents])
        self.new = np.zeros(len(self.agents), dtype=np.int64)  # transitions since last update
        self.since_tick = 0  # proposed trials observed since the last update tick
        self._studies: dict[Hashable, _StudyLog] = {}
        self._tables: list[_StudyLog] = []
        self._signs: list[dict[int, tuple[np.ndarray, np.ndarray]]] = [{} for _ in self.agents]
        """Per agent and study: (known, positive) by transition id (``outcomes``)."""

    # -- experience -------------------------------------------------------------------------
    def observe(self, key: Hashable, history: History, proposals: Mapping[int, Proposal],
                space: Space) -> int:
        """Register new proposals (finished or not) and add the transitions of newly finished
        proposed trials; returns how many trials were added."""
        return self.observe_batch([(key, history, proposals, space)])

    def observe_batch(self, studies: Sequence[tuple[Hashable, History, Mapping[int, Proposal],
                                                    Space]]) -> int:
        """``observe`` for many studies, their transitions appended together."""
        staged: list[list[_Staged]] = [[] for _ in self.agents]
        added = sum(self._collect(key, history, proposals, space, staged)
                    for key, history, proposals, space in studies)
        for a, entries in enumerate(staged):
            if not entries:
                continue
            globs = np.stack([e.proposal.glob for e in entries])
            globs[:, _MOVED] = [e.moved for e in entries]  # each agent's own "moved"
            uids = self.replays[a].add(
                [e.tokens for e in entries], globs, [e.action for e in entries],
                [e.log.index for e in entries], [e.number for e in entries],
                [e.proposal.base for e in entries],
                np.stack([e.proposal.cand for e in entries]),
                np.array([e.proposal.origin in CLONED for e in entries], np.float32))
            self.new[a] += len(entries)
            for e, uid in zip(entries, uids.tolist(), strict=True):
                e.log.slots.setdefault(e.number, []).append((a, uid))
                if e.number in e.log.successor:
                    self._pair(a, uid, e.proposals, e.log.successor[e.number])
        self.since_tick += added
        return added

    def _collect(self, key: Hashable, history: History, proposals: Mapping[int, Proposal],
                 space: Space, staged: list[list[_Staged]]) -> int:
        log = self._studies.get(key)
        if log is None:
            log = _StudyLog(len(self._tables))
            self._studies[key] = log
            self._tables.append(log)
        log.history = history

        for number in sorted(proposals.keys() - log.seen):
            log.seen.add(number)
            base = proposals[number].base
            if base < number and number < log.successor.get(base, 1 << 62):
                log.successor[base] = number
                for a, uid in log.slots.get(base, []):
                    self._pair(a, uid, proposals, number)

        new, rows = _finished(sorted(proposals.keys() - log.observed), history)
        log.observed.update(new)
        bases = [proposals[number].base for number in new]
        _, base_rows = _finished(bases, history, keep=True)
        added = 0
        for number, row, base, base_row in zip(new, rows, bases, base_rows, strict=True):
            if base >= number or base_row < 0:
                _logger.warning(f"Skipping the proposal of trial {number}: its base trial "
                                f"{base} is not an earlier finished trial.")
                continue
            p = proposals[number]
            ran = history.x[row] if p.names == space.names else None
            proposed = None
            if ran is not None and not np.isnan(ran[0]) and not np.array_equal(ran, p.x):
                proposed = space.snap(p.x)
                if np.abs(ran - proposed).max() <= _SAME:
                    proposed = None  # the trial ran what was proposed
            for name, rec in p.agents.items():
                if name not in self.index:
                    continue
                action = rec.action
                if proposed is not None and ran is not None:
                    action = executed_action(rec.tokens[:, T["x"]], rec.step, rec.action,
                                             ran[rec.params], proposed[rec.params])
                staged[self.index[name]].append(_Staged(log, proposals, number, p, rec.tokens,
                                                        action, rec.moved))
            added += 1
        return added

    def add_labels(self, key: Hashable, proposals: Sequence[Proposal],
                   values: np.ndarray) -> int:
        """Dense hindsight (pre-training only): candidates of a decision that were not
        executed, each with the loss the simulator says it would have had (NaN: it would
        fail). They join every agent's replay as transitions the actors do not clone; their
        reward is ``q(base) - q(value)``, the value ranked as if it were one more completed
        trial of the study (``inserted_quantiles``), recomputed at every draw like a trial's.
        Returns how many were added."""
        log = self._studies.get(key)
        if log is None or not len(proposals):
            return 0
        values = np.asarray(values, dtype=np.float64)
        for a, agent in enumerate(self.agents):
            have = [k for k, p in enumerate(proposals) if agent.name in p.agents]
            if not have:
                continue
            recs = [proposals[k].agents[agent.name] for k in have]
            self.replays[a].add(
                [r.tokens for r in recs],
                np.stack([proposals[k].agent_glob(agent.name) for k in have]),
                [r.action for r in recs], [log.index] * len(have), [-1] * len(have),
                [proposals[k].base for k in have],
                np.stack([proposals[k].cand for k in have]), 0.0, values[have])
        return len(proposals)

    def _pair(self, a: int, uid: int, proposals: Mapping[int, Proposal], nxt: int) -> None:
        if self.config.gamma == 0.0:
            return  # a bandit never reads the next state: keep the transition terminal
        p = proposals[nxt]
        rec = p.agents.get(self.agents[a].name)
        if rec is not None:
            self.replays[a].set_next(uid, rec.tokens, p.agent_glob(self.agents[a].name), p.cand)

    def freeze(self) -> None:
        """Fix the rewards of every transition in replay at their studies' current ranks
        (pre-training calls it once a round's studies are over: their ranks cannot change,
        and a draw then reads rewards instead of re-ranking hundreds of studies)."""
        for a, rep in enumerate(self.replays):
            todo = np.flatnonzero(np.isnan(rep.reward[: rep.n]))
            if len(todo):
                rep.reward[todo] = self._rewards(a, todo)

    def rewards(self, a: int, idx: np.ndarray) -> np.ndarray:
        """Rewards of agent ``a``'s transitions ``idx`` from their studies' current ranks
        (or as ``freeze`` fixed them)."""
        out = self.replays[a].reward[idx].copy()
        todo = np.isnan(out)
        if todo.all():
            return self._rewards(a, idx)
        if todo.any():
            out[todo] = self._rewards(a, idx[todo])
        return out

    def _rewards(self, a: int, idx: np.ndarray) -> np.ndarray:
        rep = self.replays[a]
        out = np.empty(len(idx), dtype=np.float32)
        studies = rep.study[idx]
        trial, base = rep.trial[idx], rep.base[idx]
        labelled = trial < 0
        for s in np.unique(studies).tolist():
            sel = studies == s
            h = self._tables[s].history
            assert h is not None
            real = sel & ~labelled
            if real.all():
                out[:] = self._executed(h, trial, base)
                continue
            if real.any():
                out[real] = self._executed(h, trial[real], base[real])
            hyp = sel & labelled
            if hyp.any():
                out[hyp] = label_rewards(h, rep.value[idx][hyp], h.index_of(base[hyp]))
        return out

    def _executed(self, h: History, trial: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Rewards of executed trials: myopic, plus the discounted gains of the study's
        best-so-far over the next ``SACConfig.horizon`` trials when that is set."""
        rows = h.index_of(trial)
        r = rewards(h.quantiles, h.valid, rows, h.index_of(base))
        cfg = self.config
        if cfg.horizon > 0:
            r = r + future_gains(h.quantiles, h.valid, cfg.horizon, cfg.horizon_discount)[rows]
        return r

    def outcomes(self, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        """Per agent: (successes, other outcomes) of its transitions in study ``key``.

        A success is a reward above 0. Its magnitude moves with the ranks as trials arrive,
        its sign does not where the reward is myopic and the trial failed or both the trial
        and its base completed (two completed trials keep their order, a failed one its
        penalty): those signs are kept by transition id and only the others are re-ranked,
        so the statistics cost what the study's pruned and new trials cost, not its size."""
        n = len(self.agents)
        succ, fail = np.zeros(n), np.zeros(n)
        log = self._studies.get(key)
        if log is None:
            return succ, fail
        for a, rep in enumerate(self.replays):
            idx = np.flatnonzero((rep.study[: rep.n] == log.index) & (rep.trial[: rep.n] >= 0))
            ok = self._signs[a].get(log.index)
            if ok is None or len(ok[0]) < rep.dropped + rep.n:
                ok = _grown(ok, rep.dropped + rep.n + 64)
                self._signs[a][log.index] = ok
            known, positive = ok
            uid = idx + rep.dropped
            todo = idx[~known[uid]]
            if len(todo):
                r = self.rewards(a, todo)
                positive[todo + rep.dropped] = r > 0
                known[todo[self._stable(log, rep, todo)] + rep.dropped] = True
            succ[a] = np.count_nonzero(positive[uid])
            fail[a] = len(idx) - succ[a]
        return succ, fail

    def _stable(self, log: _StudyLog, rep: AgentReplay, idx: np.ndarray) -> np.ndarray:
        """Which of executed transitions ``idx`` have a reward whose sign no later trial can
        change (``outcomes``)."""
        h = log.history
        if h is None or self.config.horizon > 0 or not len(idx):
            return np.zeros(len(idx), bool)
        rows, base = h.index_of(rep.trial[idx]), h.index_of(rep.base[idx])
        done = rows >= 0
        failed = done & ~h.valid[np.maximum(rows, 0)]
        both = (done & (base >= 0) & h.complete[np.maximum(rows, 0)]
                & h.complete[np.maximum(base, 0)])
        return failed | both

    # -- learning ---------------------------------------------------------------------------
    def due_steps(self) -> np.ndarray:
        """Gradient steps due per agent, advancing the clock: each agent takes
        ``gradient_steps`` per ``update_frequency`` new transitions (the write-up's schedule,
        exact on average), on a common clock that ticks every min(update_frequency) trials so
        the agents that are due share one batched step; a catching-up process is capped."""
        cfg = self.config
        steps = np.zeros(len(self.agents), dtype=np.int64)
        freq = self.freq
        if cfg.stretch_after > 0:  # periods stretched in proportion to the replay's size
            sizes = np.array([r.n for r in self.replays], dtype=np.int64)
            freq = np.maximum(freq, freq * sizes // cfg.stretch_after)
        if cfg.gradient_steps == 0 or self.since_tick < int(freq.min()):
            return steps
        self.since_tick = 0
        events = self.new // freq
        self.new -= events * freq
        cap = max(cfg.max_catchup_steps, cfg.gradient_steps)
        steps = np.minimum(events * cfg.gradient_steps, cap)
        steps[[len(r) == 0 for r in self.replays]] = 0
        return steps

    def train(self, rng: np.random.RandomState,
              gen: torch.Generator | None) -> dict[str, np.ndarray] | None:
        """Run the due steps; the mean SAC losses per agent (NaN where it took none), or
        ``None`` when no step was due."""
        steps = self.due_steps()
        if not steps.any():
            return None
        totals: dict[str, np.ndarray] = {}
        for k in range(int(steps.max())):
            due = steps > k
            batch, mask = self.draw(due, rng)
            for name, value in self.sac.update(batch, mask, gen).items():
                totals[name] = totals.get(name, 0.0) + value.cpu().numpy() * due
        counts = np.where(steps > 0, steps, np.nan)
        return {name: total / counts for name, total in totals.items()}

    def draw(self, due: np.ndarray, rng: np.random.RandomState,
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """A batch ``[A, B, ...]`` with agents that are not due (or have no data) masked."""
        n_agents = len(self.replays)
        p = max(r.p for r in self.replays)
        # Early on, a full batch drawn with replacement would only repeat the few transitions.
        b = max(1, min(self.config.batch_size,
                       max(r.n for r, d in zip(self.replays, due, strict=True) if d)))
        out = {
            "tokens": np.zeros((n_agents, b, p, N_TOKEN), np.float32),
            "mask": np.zeros((n_agents, b, p), np.float32),
            "glob": np.zeros((n_agents, b, N_GLOBAL), np.float32),
            "cand": np.zeros((n_agents, b, N_CAND), np.float32),
            "action": np.zeros((n_agents, b, p), np.float32),
            "reward": np.zeros((n_agents, b), np.float32),
            "next_tokens": np.zeros((n_agents, b, p, N_TOKEN), np.float32),
            "next_mask": np.zeros((n_agents, b, p), np.float32),
            "next_glob": np.zeros((n_agents, b, N_GLOBAL), np.float32),
            "next_cand": np.zeros((n_agents, b, N_CAND), np.float32),
            "done": np.ones((n_agents, b), np.float32),
            "clone": np.zeros((n_agents, b), np.float32),
        }
        agent_mask = np.zeros(n_agents, np.float32)
        bootstrap = self.config.gamma > 0  # with gamma 0 the next state is never read
        for a, (rep, is_due) in enumerate(zip(self.replays, due, strict=True)):
            if not is_due or rep.n == 0:
                continue
            agent_mask[a] = 1.0
            idx = rng.randint(0, rep.n, size=b)
            q = rep.p
            for name in ("tokens", "mask", "action"):
                out[name][a, :, :q] = getattr(rep, name)[idx]
            out["glob"][a] = rep.glob[idx]
            out["cand"][a] = rep.cand[idx]
            out["reward"][a] = self.rewards(a, idx)
            out["clone"][a] = rep.clone[idx]
            if bootstrap:
                for name in ("next_tokens", "next_mask"):
                    out[name][a, :, :q] = getattr(rep, name)[idx]
                out["next_glob"][a] = rep.next_glob[idx]
                out["next_cand"][a] = rep.next_cand[idx]
                out["done"][a] = rep.done[idx]
        device = self.sac.device
        tensors = {k: torch.from_numpy(v).to(device) for k, v in out.items()}
        return tensors, torch.from_numpy(agent_mask).to(device)


def _grown(arrays: tuple[np.ndarray, np.ndarray] | None, size: int,
           ) -> tuple[np.ndarray, np.ndarray]:
    """(known, positive) flags of ``size`` transition ids, the old ones kept."""
    known, positive = np.zeros(size, bool), np.zeros(size, bool)
    if arrays is not None:
        known[: len(arrays[0])], positive[: len(arrays[1])] = arrays
    return known, positive


def _finished(numbers: list[int], history: History,
              keep: bool = False) -> tuple[list[int], list[int]]:
    """The numbers of finished trials among ``numbers`` and their rows in ``history`` (with
    ``keep``, every number, -1 for the unfinished)."""
    n = len(history)
    if n and int(history.numbers[-1]) == n - 1:  # trials 0..n-1: the row is the number
        rows = [k if 0 <= k < n else -1 for k in numbers]
    else:
        rows = history.index_of(np.array(numbers, dtype=np.int64)).tolist()
    if keep:
        return numbers, rows
    kept = [(k, r) for k, r in zip(numbers, rows, strict=True) if r >= 0]
    return [k for k, _ in kept], [r for _, r in kept]


def executed_action(start: np.ndarray, step: float, stored: np.ndarray, ran: np.ndarray,
                    proposed: np.ndarray) -> np.ndarray:
    """The stored action, except where the trial ran another value than proposed: there, the
    action that takes ``start`` to the value it ran."""
    other = np.abs(ran - proposed) > _SAME
    if not other.any():
        return stored
    recomputed = np.clip((ran - start) / step, -ACTION_LIMIT, ACTION_LIMIT)
    return np.where(other, recomputed, stored)
