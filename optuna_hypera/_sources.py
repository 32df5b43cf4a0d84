"""Past studies read from Optuna storage, for ``HyperaSampler(source_studies=...)`` and
``python -m optuna_hypera pretrain --storage ...``.

Any single-objective study works, whatever sampler made it: its finished trials are read once
per process. A parameter of a past study *matches* a parameter of the new study when the name
is the same and so is the kind of distribution (float, int or categorical; the same log flag;
for categoricals the same set of choices); ranges may differ, and a past trial with a value
outside the new range is left out of the model. Only reading: nothing from storage is
unpickled or written here.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.search_space import intersection_search_space
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_hypera._conditional import IMPUTED
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._encoding import trial_row
from optuna_hypera._experience import PastStudy
from optuna_hypera._storage import read_proposal
from optuna_hypera._table import build_history
from optuna_hypera._table import trial_loss
from optuna_hypera._transfer import SourceData


def matches(a: BaseDistribution, b: BaseDistribution) -> bool:
    """Same kind of parameter (see the module docstring); ranges may differ."""
    if isinstance(a, CategoricalDistribution) and isinstance(b, CategoricalDistribution):
        return set(a.choices) == set(b.choices)
    if isinstance(a, (FloatDistribution, IntDistribution)) and type(a) is type(b):
        return a.log == b.log
    return False


@dataclass
class Source:
    """One past study, read."""

    name: str
    minimize: bool
    trials: list[FrozenTrial]
    """Its finished trials, by number."""
    ident: tuple[Any, ...]
    """What identifies this reading of it (for caches): name, id, trials, last completion."""

    @classmethod
    def read(cls, study: Study, name: str) -> Source:
        if len(study.directions) != 1:
            raise ValueError(f"Source study {name!r} is multi-objective; HyperaSampler learns "
                             "from single-objective studies only.")
        trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state.is_finished()),
                        key=lambda t: t.number)
        last = max((str(t.datetime_complete) for t in trials), default="")
        return cls(name, study.direction == StudyDirection.MINIMIZE, trials,
                   (study.study_name, study._study_id, len(trials), last))

    def completed(self) -> list[tuple[FrozenTrial, float]]:
        """Completed, feasible trials with a finite value, and their losses."""
        out = []
        for t in self.trials:
            if t.state != TrialState.COMPLETE:
                continue
            loss = trial_loss(t, self.minimize)
            if loss is not None:
                out.append((t, loss))
        return out

    def param_names(self) -> set[str]:
        return {name for t in self.trials for name in t.params}


def read_sources(studies: Sequence[Study]) -> list[Source]:
    """Each study read once; sources that share a study name get ``#k`` suffixes."""
    names = [s.study_name for s in studies]
    out = []
    for k, (study, name) in enumerate(zip(studies, names, strict=True)):
        if names.count(name) > 1:
            name = f"{name}#{k}"
        out.append(Source.read(study, name))
    return out


@dataclass
class Alignment:
    """A source in the new study's coordinates."""

    data: SourceData
    matched: list[str]
    """The new study's parameters the source has."""
    ignored: list[str]
    """The source's parameters that match none of the new study's."""
    n_completed: int


def align(source: Source, enc: SpaceEncoder, impute: bool = False) -> Alignment:
    """The source's completed trials on the parameters that match ``enc``'s. A parameter
    counts as matched when at least half of the completed trials have it; trials lacking a
    matched parameter, or with a value outside the new range, are left out. With
    ``impute`` (``HyperaSampler(conditional="model")``) one completed trial that has it is
    enough, and a trial without it enters at ``IMPUTED``, as the study's own trials do."""
    done = source.completed()
    dims = []
    for j, (name, dist) in enumerate(zip(enc.names, enc.distributions, strict=True)):
        has = sum(1 for t, _ in done if name in t.params and matches(t.distributions[name], dist))
        if has and (impute or 2 * has >= len(done)):
            dims.append(j)
    rows, losses = [], []
    for t, loss in done:
        row = []
        for j in dims:
            name, dist = enc.names[j], enc.distributions[j]
            if impute and name not in t.params:
                row.append(IMPUTED)
                continue
            if name not in t.params or not matches(t.distributions[name], dist):
                break
            internal = dist.to_internal_repr(t.params[name])
            if not dist._contains(internal):
                break
            row.append(enc.encode_internal(j, internal))
        else:
            rows.append(row)
            losses.append(loss)
    matched = [enc.names[j] for j in dims]
    data = SourceData(source.name, np.array(dims, dtype=np.int64),
                      np.array(rows, dtype=np.float64).reshape(len(rows), len(dims)),
                      np.array(losses, dtype=np.float64))
    return Alignment(data, matched, sorted(source.param_names() - set(matched)), len(done))


def shares_parameter(source: Source, distributions: dict[str, BaseDistribution]) -> bool:
    """Whether any completed trial of the source has one of these parameters (same kind)."""
    for t, _ in source.completed():
        for name, dist in distributions.items():
            if name in t.params and matches(t.distributions[name], dist):
                return True
    return False


def best_configurations(sources: Sequence[Source], k: int,
                        ) -> list[dict[str, tuple[BaseDistribution, Any]]]:
    """Up to ``k`` distinct configurations: each source's best, then each one's second best,
    and so on (each with its distributions, to check against the new study's)."""
    ranked = [sorted(s.completed(), key=lambda p: p[1]) for s in sources]
    out: list[dict[str, tuple[BaseDistribution, Any]]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for r in range(max((len(x) for x in ranked), default=0)):
        for trials in ranked:
            if len(out) >= k:
                return out
            if r >= len(trials):
                continue
            t = trials[r][0]
            key = tuple(sorted((n, repr(v)) for n, v in t.params.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append({n: (t.distributions[n], v) for n, v in t.params.items()})
    return out


def start_value(start: dict[str, tuple[BaseDistribution, Any]], name: str,
                dist: BaseDistribution) -> tuple[bool, Any]:
    """The start configuration's value of ``name`` if it fits ``dist``."""
    if name not in start:
        return False, None
    src, value = start[name]
    if not matches(src, dist):
        return False, None
    try:
        ok = dist._contains(dist.to_internal_repr(value))
    except ValueError:
        ok = False
    return ok, value if ok else None


def past_study(source: Source, key: Hashable) -> PastStudy | None:
    """The source on its own search space (the parameters every finished trial has), with
    its stored proposals; ``None`` when that space is empty."""
    space = {n: d for n, d in intersection_search_space(source.trials,
                                                        include_pruned=True).items()
             if not d.single()}
    if not space or not source.trials:
        return None
    enc = SpaceEncoder(space)
    history = build_history(source.trials, source.minimize, lambda t: trial_row(enc, t),
                            len(enc))
    proposals = {}
    for t in source.trials:
        p = read_proposal(t)
        if p is not None:
            proposals[t.number] = p
    return PastStudy(key, enc.space, history, proposals)
