"""The agents' batched states: per-parameter tokens, their mask and the study features, for
many (context, configuration, study features) items at once (``Coordinator.states``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optuna_hypera._decision import Context
from optuna_hypera._features import Evidence
from optuna_hypera._features import token_features
from optuna_hypera._schema import N_TOKEN


def states(items: Sequence[tuple[Context, np.ndarray, np.ndarray]], agents: Sequence[int],
           scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched state ``[A, B, P, T]`` for B (context, x, study features), only ``agents``
    filled (``scales``: every agent's action scale); items that share a group assignment are
    featurized together, and repeated items (a cooperative decision's candidates share their
    base) once."""
    tok, mask, glob, where = distinct_states(items, agents, scales)
    if len(where) == tok.shape[1]:
        return tok, mask, glob
    return tok[:, where], mask[:, where], glob[:, where]


def distinct_states(items: Sequence[tuple[Context, np.ndarray, np.ndarray]],
                    agents: Sequence[int], scales: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``states`` of the distinct items only, and which of them each item is."""
    unique: dict[tuple[int, int, int], int] = {}
    first: list[tuple[Context, np.ndarray, np.ndarray]] = []
    where = np.empty(len(items), np.int64)
    for k, (c, x, g) in enumerate(items):
        key = (id(c), id(x), id(g))
        if key not in unique:
            unique[key] = len(first)
            first.append((c, x, g))
        where[k] = unique[key]
    return (*_states(first, agents, scales), where)

def _states(items: Sequence[tuple[Context, np.ndarray, np.ndarray]],
            agents: Sequence[int], scales: np.ndarray,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_agents, b = len(scales), len(items)
    groups = by_assignment(items)
    p = max(1, max(len(g[0][0].assignment.params_of(a)) for g in groups.values()
                   for a in range(n_agents)))
    tok = np.zeros((n_agents, b, p, N_TOKEN), np.float32)
    mask = np.zeros((n_agents, b, p), np.float32)
    glob = np.zeros((n_agents, b, len(items[0][2])), np.float32)
    for ks, group in groups.items():
        ctxs = [c for c, _, _ in group]
        asg = ctxs[0].assignment
        x = np.stack([x for _, x, _ in group])
        evidence = Evidence.stack([c.evidence for c in ctxs])
        flags = np.stack([c.space.flags for c in ctxs])
        g = np.stack([g for _, _, g in group])
        kk = np.array(ks)
        surrogate = None
        if any(c.surrogate is not None for c in ctxs):
            rows = []
            for c, xi, _ in group:
                t = c.surrogate_tokens(xi[None])
                rows.append(t[0] if t is not None else np.zeros((len(xi), 2)))
            surrogate = np.stack(rows)
        for a in agents:
            params = asg.indices(a)
            if not len(params):
                continue
            tok[a, kk, : len(params)] = token_features(
                x, params, evidence, flags, asg.domain(a), float(scales[a]), surrogate)
            mask[a, kk, : len(params)] = 1.0
            glob[a, kk] = g
    return tok, mask, glob


def by_assignment(items: Sequence[tuple[Context, Any, Any]],
                   ) -> dict[tuple[int, ...], list[tuple[Context, Any, Any]]]:
    """Items grouped by their context's group assignment (positions, items)."""
    groups: dict[int, list[int]] = {}
    for k, item in enumerate(items):
        groups.setdefault(id(item[0].assignment), []).append(k)
    return {tuple(ks): [items[k] for k in ks] for ks in groups.values()}
