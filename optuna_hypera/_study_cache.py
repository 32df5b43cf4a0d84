"""What one sampler process keeps for one study, and the glue between Optuna's trials and
the core's arrays: the encoded trial table, the parsed proposals, the search-space encoder;
the core's input built from them, and the decision written back as a proposal (system
attributes, for replay) and its explanation (the ``hypera`` user attribute).

Everything here can be rebuilt from storage, so losing it (a new process, unpickling) costs
only time (``docs/distributed.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_hypera._conditional import IMPUTED
from optuna_hypera._conditional import Activity
from optuna_hypera._config import AgentConfig
from optuna_hypera._core import HyperaCore
from optuna_hypera._core import StudyInput
from optuna_hypera._decision import Decision
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._encoding import trial_row
from optuna_hypera._explain import USER_ATTR
from optuna_hypera._explain import asked_only
from optuna_hypera._explain import explain
from optuna_hypera._history import History
from optuna_hypera._schema import Proposal
from optuna_hypera._storage import PROPOSAL_KEY
from optuna_hypera._storage import read_proposal
from optuna_hypera._storage import write_proposal
from optuna_hypera._table import TrialTable


GROUPS_ATTR = "hypera_groups"
_logger = optuna.logging.get_logger("optuna.hypera")


class StudyCache:
    """One study in one process: the core (networks, learner), the encoded trials and the
    parsed proposals."""

    def __init__(self, core: HyperaCore, minimize: bool) -> None:
        self.core = core
        self.table = TrialTable(minimize)
        self.proposals: dict[int, Proposal] = {}
        self.unreadable: set[int] = set()
        self.encoder: SpaceEncoder | None = None
        self.groups_written: dict[str, list[str]] | None = None
        self.asked: dict[int, frozenset[str]] = {}
        """The parameter names of each completed or pruned trial (``activity``)."""
        self._covered: tuple[frozenset[str], int] = (frozenset(), 0)
        """(names, k): the first k entries of ``asked`` have every one of names."""
        self._present: tuple[tuple[str, ...], dict[int, np.ndarray]] = ((), {})

    def encoder_for(self, study: Study, search_space: dict[str, BaseDistribution],
                    agents: Sequence[AgentConfig]) -> SpaceEncoder:
        """The encoder of ``search_space`` (a new one re-encodes every trial and records the
        parameter groups in the study user attribute ``hypera_groups``)."""
        enc = self.encoder
        if enc is None or enc.names != tuple(search_space) or enc.distributions != tuple(
            search_space.values()
        ):
            enc = SpaceEncoder(search_space)
            self.encoder = enc
            # A completed or pruned trial without a parameter of the space has a conditional
            # one of another branch (the intersection space never lacks one): at
            # ``IMPUTED``. A failed one may have stopped before it asked: left out, as before.
            self.table.set_rows(
                lambda t: trial_row(enc, t, impute=t.state != TrialState.FAIL), len(enc))
            mapping = self.core.assignment(enc.names).as_dict(agents)
            if mapping != self.groups_written:
                _logger.info(f"HyperaSampler parameter groups: {mapping}")
                study._storage.set_study_user_attr(study._study_id, GROUPS_ATTR, mapping)
                self.groups_written = mapping
        return enc

    def read(self, trial: FrozenTrial) -> Proposal | None:
        """The trial's parsed proposal, read from storage until found (a malformed one warns
        once)."""
        p = self.proposals.get(trial.number)
        if p is None and trial.number not in self.unreadable:
            p = read_proposal(trial)
            if p is not None:
                self.proposals[trial.number] = p
            elif f"{PROPOSAL_KEY}:n" in trial.system_attrs:
                self.unreadable.add(trial.number)
        return p

    def study_input(self, trials: Sequence[FrozenTrial], current: int,
                    enc: SpaceEncoder, rungs: bool = False,
                    bar_quantile: float = 0.5,
                    first_rung: float | None = None) -> StudyInput:
        """The core's input: the finished trials (read once each) and the coordinates of the
        other unfinished ones, every worker's, to keep away from."""
        new, unfinished = self.table.update(trials)
        for t in new:
            self.read(t)
            if t.state != TrialState.FAIL:
                self.asked[t.number] = frozenset(t.params)
        pending: list[np.ndarray] = []
        for t in unfinished:
            if t.number == current:
                continue
            p = self.read(t)
            row = trial_row(enc, t)
            if row is None and p is not None and p.names == enc.names:
                row = enc.snap(p.x)
            if row is not None:
                pending.append(row)
        history = self.table.view()
        activity = self.activity(enc, history)
        running = np.array(pending) if pending else None
        if running is not None and activity is not None:
            # Another worker's trial asks what its branch asks: compare what it will run.
            running = np.where(activity.inactive(running), IMPUTED, running)
        return StudyInput(space=enc.space, history=history, proposals=self.proposals,
                          pending=running, rungs=rungs, bar_quantile=bar_quantile,
                          first_rung=first_rung, activity=activity)

    def activity(self, enc: SpaceEncoder, history: History) -> Activity | None:
        """Which parameters a candidate's trial would ask, from the completed and pruned
        trials, where one of them lacks a parameter of the space (``None`` otherwise: a set
        comparison per new trial, no matrix; the masks are kept per trial while the space
        stays)."""
        names = frozenset(enc.names)
        seen, k = self._covered
        if seen != names:
            k = 0
        if all(names <= a for a in islice(self.asked.values(), k, None)):
            self._covered = (names, len(self.asked))
            return None
        self._covered = (names, k)
        if self._present[0] != enc.names:
            self._present = (enc.names, {})
        masks = self._present[1]
        numbers = history.numbers.tolist()
        covering = np.isfinite(history.x).all(axis=1)
        rows = [i for i, n in enumerate(numbers) if n in self.asked and covering[i]]
        for i in rows:
            if numbers[i] not in masks:
                masks[numbers[i]] = np.array([n in self.asked[numbers[i]] for n in enc.names])
        present = np.array([masks[numbers[i]] for i in rows], dtype=bool).reshape(
            len(rows), len(enc.names))
        return Activity(enc.space, history.x[rows], present)

    def record(self, study: Study, trial: FrozenTrial, enc: SpaceEncoder, decision: Decision,
               agents: Sequence[AgentConfig], strategy: str, conflict: str) -> dict[str, Any]:
        """The proposal for replay (system attrs) and its explanation (user attrs); returns
        the parameters."""
        params = enc.decode(decision.x)
        proposal = self.core.record(decision, enc.space)
        write_proposal(study._storage, trial._trial_id, proposal)
        self.proposals[trial.number] = proposal.stored()  # as any worker will read it
        prior = self.core.priors.get(0)
        base_params = enc.decode(decision.base.x)
        base_asked = self.asked.get(decision.base.number)
        if base_asked is not None:  # a conditional parameter the base did not ask: no value
            base_params = {k: (v if k in base_asked else None) for k, v in base_params.items()}
        info = explain(decision, enc.names, params, base_params,
                       [a.name for a in agents], strategy, conflict,
                       prior.names if prior is not None else ())
        study._storage.set_trial_user_attr(trial._trial_id, USER_ATTR, info)
        return params


def trim_record(study: Study, trial: FrozenTrial) -> None:
    """Rewrite the trial's ``hypera`` user attribute with only the moves of parameters it
    asked, where the proposal held others (define-by-run branches it did not take)."""
    info = trial.user_attrs.get(USER_ATTR)
    trimmed = asked_only(info, trial.params) if isinstance(info, dict) else None
    if trimmed is not None:
        study._storage.set_trial_user_attr(trial._trial_id, USER_ATTR, trimmed)
