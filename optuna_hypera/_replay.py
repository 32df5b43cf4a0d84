"""Per-agent replay of transitions decoded from the study's trials.

A transition is (state, action) as stored with a trial's proposal, the state stored with the
next proposal in trial-number order (the next decision of the same agent), and the trial and
base numbers; rewards are recomputed from the current ranks at every draw, so they stay
consistent as the study learns what a good value is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from optuna_hypera._features import N_GLOBAL
from optuna_hypera._features import N_TOKEN
from optuna_hypera._features import PENALTY


@dataclass
class Step:
    """What one agent saw and did for one trial."""

    tokens: np.ndarray  # [P, T]
    glob: np.ndarray  # [G]
    action: np.ndarray  # [P]


class AgentReplay:
    """Growable arrays of one agent's transitions, oldest dropped past ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.n = 0
        self.p = 1
        self._alloc(64)

    def _alloc(self, size: int) -> None:
        def grow(old: np.ndarray | None, shape: tuple[int, ...], dtype: type) -> np.ndarray:
            grown: np.ndarray = np.zeros(shape, dtype=dtype)
            if old is not None:
                grown[tuple(slice(0, s) for s in old.shape)] = old
            return grown

        p = self.p
        cur = getattr(self, "tokens", None)
        self.tokens = grow(cur, (size, p, N_TOKEN), np.float32)
        self.mask = grow(getattr(self, "mask", None), (size, p), np.float32)
        self.glob = grow(getattr(self, "glob", None), (size, N_GLOBAL), np.float32)
        self.action = grow(getattr(self, "action", None), (size, p), np.float32)
        self.next_tokens = grow(getattr(self, "next_tokens", None), (size, p, N_TOKEN),
                                np.float32)
        self.next_mask = grow(getattr(self, "next_mask", None), (size, p), np.float32)
        self.next_glob = grow(getattr(self, "next_glob", None), (size, N_GLOBAL), np.float32)
        self.done = grow(getattr(self, "done", None), (size,), np.float32)
        self.trial = grow(getattr(self, "trial", None), (size,), np.int64)
        self.base = grow(getattr(self, "base", None), (size,), np.int64)

    def __len__(self) -> int:
        return self.n

    def add(self, step: Step, nxt: Step | None, trial: int, base: int) -> None:
        p = max(len(step.action), len(nxt.action) if nxt is not None else 0)
        if p > self.p or self.n == len(self.done):
            self.p = max(self.p, p)
            self._alloc(max(len(self.done), 64) * (2 if self.n == len(self.done) else 1))
        i = self.n
        k = len(step.action)
        self.tokens[i] = 0.0
        self.tokens[i, :k] = step.tokens
        self.mask[i] = 0.0
        self.mask[i, :k] = 1.0
        self.glob[i] = step.glob
        self.action[i] = 0.0
        self.action[i, :k] = step.action
        self.next_tokens[i] = 0.0
        self.next_mask[i] = 0.0
        if nxt is None:
            self.next_glob[i] = step.glob
            self.done[i] = 1.0
        else:
            kn = len(nxt.action)
            self.next_tokens[i, :kn] = nxt.tokens
            self.next_mask[i, :kn] = 1.0
            self.next_glob[i] = nxt.glob
            self.done[i] = 0.0
        self.trial[i] = trial
        self.base[i] = base
        self.n += 1
        if self.n > self.capacity:
            drop = self.n - self.capacity
            for name in ("tokens", "mask", "glob", "action", "next_tokens", "next_mask",
                         "next_glob", "done", "trial", "base"):
                arr = getattr(self, name)
                arr[: self.capacity] = arr[drop : self.n].copy()
            self.n = self.capacity

    def successes(self, quantile_of: dict[int, float], penalized: set[int]) -> tuple[int, int]:
        """(improvements over the base, other outcomes) among finished transitions."""
        r = self.rewards(np.arange(self.n), quantile_of, penalized)
        return int((r > 0).sum()), int((r <= 0).sum())

    def rewards(
        self, idx: np.ndarray, quantile_of: dict[int, float], penalized: set[int]
    ) -> np.ndarray:
        out = np.empty(len(idx), dtype=np.float32)
        for k, i in enumerate(idx.tolist()):
            t = int(self.trial[i])
            if t in penalized:
                out[k] = PENALTY
            else:
                out[k] = quantile_of.get(int(self.base[i]), 1.0) - quantile_of.get(t, 1.0)
        return out


def draw_batch(
    replays: list[AgentReplay],
    due: list[bool],
    batch_size: int,
    rng: np.random.RandomState,
    quantile_of: dict[int, float],
    penalized: set[int],
    device: torch.device,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A batch ``[A, B, ...]`` with agents that are not due (or have no data) masked out."""
    n_agents = len(replays)
    p = max(r.p for r in replays)
    # Early on, a full batch drawn with replacement would only repeat the few transitions.
    b = max(1, min(batch_size, max(r.n for r, d in zip(replays, due, strict=True) if d)))
    out = {
        "tokens": np.zeros((n_agents, b, p, N_TOKEN), np.float32),
        "mask": np.zeros((n_agents, b, p), np.float32),
        "glob": np.zeros((n_agents, b, N_GLOBAL), np.float32),
        "action": np.zeros((n_agents, b, p), np.float32),
        "reward": np.zeros((n_agents, b), np.float32),
        "next_tokens": np.zeros((n_agents, b, p, N_TOKEN), np.float32),
        "next_mask": np.zeros((n_agents, b, p), np.float32),
        "next_glob": np.zeros((n_agents, b, N_GLOBAL), np.float32),
        "done": np.ones((n_agents, b), np.float32),
    }
    agent_mask = np.zeros(n_agents, np.float32)
    for a, (rep, is_due) in enumerate(zip(replays, due, strict=True)):
        if not is_due or rep.n == 0:
            continue
        agent_mask[a] = 1.0
        idx = rng.randint(0, rep.n, size=b)
        q = rep.p
        out["tokens"][a, :, :q] = rep.tokens[idx]
        out["mask"][a, :, :q] = rep.mask[idx]
        out["glob"][a] = rep.glob[idx]
        out["action"][a, :, :q] = rep.action[idx]
        out["reward"][a] = rep.rewards(idx, quantile_of, penalized)
        out["next_tokens"][a, :, :q] = rep.next_tokens[idx]
        out["next_mask"][a, :, :q] = rep.next_mask[idx]
        out["next_glob"][a] = rep.next_glob[idx]
        out["done"][a] = rep.done[idx]
    tensors = {k: torch.from_numpy(v).to(device) for k, v in out.items()}
    return tensors, torch.from_numpy(agent_mask).to(device)
