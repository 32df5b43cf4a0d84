"""Which agent owns which parameter.

Order of precedence for each parameter name:

1. ``groups=`` (user override): every agent whose names or glob patterns match claims it; two
   agents may claim one parameter, which the coordinator then settles by its conflict rule.
2. Built-in name rules: the name is split into lower-case words (on ``_``, ``-``, ``.``, ``/``,
   and camelCase); a rule of one or more words matches consecutive words, so
   ``lr`` matches ``lr`` and ``lr_decay`` but not ``blr_x``. The match that starts at the earliest
   word wins (``focal_gamma`` -> loss, ``lr_gamma`` -> optimization); ties go to agent order.
3. Everything else is spread over the agents in natural-sort order of the names, each going to
   the agent that owns the fewest parameters so far (ties to agent order), so on ``x0..x9`` every
   agent owns two parameters and adding a parameter never moves a matched one.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import fnmatch
from functools import cached_property
import re

import numpy as np

from optuna_hypera._config import AgentConfig


_WORD_SPLIT = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NATURAL = re.compile(r"(\d+)")

DOMAIN_WEIGHT = 1.0
"""Specialization weight of an agent on a parameter it owns by rule or by `groups=`."""
FALLBACK_WEIGHT = 0.5
"""Specialization weight on a parameter it received only by the even spread."""


def split_words(name: str) -> list[str]:
    """Lower-case words of a parameter name (``learningRate`` -> ``learning``, ``rate``)."""
    words: list[str] = []
    for part in _WORD_SPLIT.split(name):
        words.extend(w.lower() for w in _CAMEL.split(part) if w)
    return words


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in _NATURAL.split(name)]


def _rule_match_position(words: Sequence[str], rule: str) -> int | None:
    rule_words = split_words(rule)
    n = len(rule_words)
    if n == 0:
        return None
    for i in range(len(words) - n + 1):
        if list(words[i : i + n]) == rule_words:
            return i
    return None


def match_rules(name: str, agents: Sequence[AgentConfig]) -> int | None:
    """Index of the agent whose built-in rules match ``name`` first, or ``None``."""
    words = split_words(name)
    best: tuple[int, int] | None = None
    for a, agent in enumerate(agents):
        for rule in agent.rules:
            pos = _rule_match_position(words, rule)
            if pos is not None and (best is None or (pos, a) < best):
                best = (pos, a)
    return None if best is None else best[1]


def validate_groups(
    groups: Mapping[str, Sequence[str]] | None, agents: Sequence[AgentConfig]
) -> dict[str, tuple[str, ...]]:
    """Check a ``groups=`` argument and return it normalised; raise ``ValueError`` naming the
    offending entry."""
    if groups is None:
        return {}
    if not isinstance(groups, Mapping):
        raise ValueError(f"groups must be a mapping of agent name to names, got {groups!r}.")
    names = [a.name for a in agents]
    out: dict[str, tuple[str, ...]] = {}
    for key, patterns in groups.items():
        if key not in names:
            raise ValueError(f"groups key {key!r} is not an agent name; expected one of {names}.")
        if isinstance(patterns, str) or not isinstance(patterns, Sequence):
            raise ValueError(
                f"groups[{key!r}] must be a list of parameter names or glob patterns, "
                f"got {patterns!r}."
            )
        for p in patterns:
            if not isinstance(p, str) or not p:
                raise ValueError(
                    f"groups[{key!r}] entry {p!r} must be a non-empty parameter name or pattern."
                )
        out[key] = tuple(patterns)
    return out


@dataclass(frozen=True)
class GroupAssignment:
    """Owners of every parameter and each owner's specialization weight."""

    names: tuple[str, ...]
    owners: tuple[tuple[int, ...], ...]
    """For parameter j, the indices of the agents that claim it."""
    weights: tuple[tuple[float, ...], ...]
    """For parameter j, the specialization weight of each claiming agent (same order)."""

    def params_of(self, agent: int) -> list[int]:
        return self._params[agent] if agent < len(self._params) else []

    @cached_property
    def _params(self) -> tuple[list[int], ...]:
        n_agents = 1 + max((a for own in self.owners for a in own), default=-1)
        return tuple([j for j, own in enumerate(self.owners) if a in own]
                     for a in range(n_agents))

    def indices(self, agent: int) -> np.ndarray:
        """``params_of(agent)`` as an index array."""
        return self._indices[agent] if agent < len(self._indices) else np.zeros(0, np.int64)

    @cached_property
    def _indices(self) -> tuple[np.ndarray, ...]:
        return tuple(np.array(p, dtype=np.int64) for p in self._params)

    def domain(self, agent: int) -> np.ndarray:
        """The agent's specialization weight on each of its parameters."""
        return self._domains[agent] if agent < len(self._domains) else np.zeros(0)

    @cached_property
    def _domains(self) -> tuple[np.ndarray, ...]:
        return tuple(np.array([self.weight(a, j) for j in p]) for a, p in enumerate(self._params))

    @cached_property
    def disjoint(self) -> bool:
        """No parameter has two owners (the conflict rules have nothing to settle)."""
        return all(len(own) == 1 for own in self.owners)

    def weight(self, agent: int, param: int) -> float:
        own = self.owners[param]
        return self.weights[param][own.index(agent)] if agent in own else 0.0

    def as_dict(self, agents: Sequence[AgentConfig]) -> dict[str, list[str]]:
        return {
            agent.name: [self.names[j] for j in self.params_of(a)]
            for a, agent in enumerate(agents)
        }


def assign_groups(
    names: Sequence[str],
    agents: Sequence[AgentConfig],
    groups: Mapping[str, tuple[str, ...]] | None = None,
) -> GroupAssignment:
    """Map parameter names to agents (see the module docstring for the rules)."""
    index = {a.name: i for i, a in enumerate(agents)}
    owners: dict[str, tuple[int, ...]] = {}
    weights: dict[str, tuple[float, ...]] = {}
    unmatched: list[str] = []
    for name in names:
        claimed = tuple(
            index[key]
            for key, patterns in (groups or {}).items()
            if any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)
        )
        if claimed:
            owners[name] = tuple(sorted(set(claimed)))
            weights[name] = tuple(DOMAIN_WEIGHT for _ in owners[name])
            continue
        agent = match_rules(name, agents)
        if agent is not None:
            owners[name] = (agent,)
            weights[name] = (DOMAIN_WEIGHT,)
        else:
            unmatched.append(name)

    load = [0] * len(agents)
    for own in owners.values():
        for a in own:
            load[a] += 1
    for name in sorted(unmatched, key=_natural_key):
        agent = min(range(len(agents)), key=lambda a: (load[a], a))
        load[agent] += 1
        owners[name] = (agent,)
        weights[name] = (FALLBACK_WEIGHT,)

    return GroupAssignment(
        names=tuple(names),
        owners=tuple(owners[n] for n in names),
        weights=tuple(weights[n] for n in names),
    )
