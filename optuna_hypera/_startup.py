"""The startup: how many trials it lasts (``STARTUP_TRIALS``), and its default design, a
scrambled Sobol sequence that belongs to the study.

Optuna's ``QMCSampler`` numbers its points with a counter in the study's system attributes
(read, then written: two workers can take the same number) and scrambles with each process's
own seed (``seed=None`` gives every worker another sequence). Here the point of a startup trial
is a function of what is in storage only, so every worker, fresh or long-running, gives trial
k the same configuration:

- the scrambling seed is the study's: the first worker to start the study stores its seed (or
  a random one) in the study system attribute ``hypera:startup_seed`` and every worker reads
  it from there;
- the point's index is the trial number, unique by construction (no counter to race on);
- the first trial, before any search space is known, draws each parameter from a generator
  seeded by (study seed, trial number, parameter name); later ones take the Sobol point on the
  intersection search space of the finished trials, decoded as the agents' coordinates are.

Trial k takes point k, so a startup of 7 trials uses points 1-6, which miss one quarter of
the range in some coordinates (the first, the fourth and the fifth of six) for every
scrambling: a parameter of four choices declared there sees only three of them unless the
random first trial draws the fourth. Designs that cover every choice (``DESIGNS``) were
measured after 0.20 and are not the default: level on generated landscapes from the 15th
trial, worse on real training on generated data (``docs/benchmarks/startup-design.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
import hashlib
import threading
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from scipy.stats import qmc

from optuna_hypera._encoding import SpaceEncoder


SEED_KEY = "hypera:startup_seed"
DESIGNS = {"sobol-skip": (False, False), "balanced": (True, True), "sobol": (True, False),
           "skip-blocks": (False, True)}
"""``StudySobol``'s designs, each (Sobol points from the first, categorical choices in
permuted blocks): ``"sobol-skip"`` (the default: trial k takes Sobol point k, a categorical
choice follows the point), and three measured after 0.20, not adopted
(``docs/benchmarks/startup-design.md``): ``"balanced"`` (trial k takes point k - 1, so trials
1-8 are the first 8 points, a balanced net, and each categorical parameter of c choices
takes them from a permutation per block of c trials, ``block_choice``: every choice once in
each block), ``"sobol"`` (point k - 1, the choice follows the point) and ``"skip-blocks"``
(point k, choices in permuted blocks)."""
_sobol_lock = threading.Lock()  # scipy's Sobol engines share state between threads


STARTUP_TRIALS = 7
"""Without sources the agents act after this many finished trials, whatever the number of
parameters, since 0.21 (10 up to 0.17, 7 in 0.18, the number of parameters clipped to
[7, 10] in 0.19-0.20). Chosen on validation tasks only: 7 is better than 10 on generated
landscapes in 3-9 dimensions and level in 10 (each task its own startup design;
``docs/benchmarks/startup-0.19.md``); on torch training of 10 parameters with a startup
design per run it is better at 20 trials (53/36 of 96 pairs), level under ``MedianPruner``
(33/30) and behind under ``HyperbandPruner`` (26/37, from one of two draws;
``docs/benchmarks/startup-0.21.md``). 0.19's case for 10 there, 33/57 pairs, came from runs
whose 16 tasks shared three designs."""


def startup_done(finished: Sequence[FrozenTrial], fixed: int | None) -> bool:
    """Whether the startup is over after ``finished`` trials: ``fixed`` of them, or
    ``STARTUP_TRIALS`` (``fixed=None``). Every worker counts the same finished trials in
    storage, so all agree on the switch."""
    return len(finished) >= (STARTUP_TRIALS if fixed is None else fixed)


def block_choice(seed: int, name: str, index: int, n_choices: int) -> float:
    """The coordinate (bin centre) of a categorical parameter's choice at design point
    ``index``: position ``index % n_choices`` of a permutation of the choices drawn per block
    ``index // n_choices`` from (study seed, parameter name, block)."""
    block, pos = divmod(index, n_choices)
    order = _hashed_rng(f"{seed}:{name}:{block}").permutation(n_choices)
    return (float(order[pos]) + 0.5) / n_choices


def _hashed_rng(key: str) -> np.random.RandomState:
    """A generator seeded by ``key`` alone (the same in every worker and process)."""
    return np.random.RandomState(
        int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little"))


class StudySobol(BaseSampler):
    """Scrambled Sobol points indexed by trial number, scrambled by the study's seed;
    ``design`` one of ``DESIGNS``."""

    def __init__(self, seed: int | None = None, design: str = "sobol-skip") -> None:
        if design not in DESIGNS:
            raise ValueError(f"design must be one of {tuple(DESIGNS)}, got {design!r}.")
        self.design = design
        self._seed = seed
        self._rng = np.random.RandomState(seed)
        self._stored: dict[tuple[int, int], int] = {}
        """Seeds read back from storage, per study (a stored seed never changes)."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_stored"] = {}  # keyed by this process's storage objects
        return state

    def reseed_rng(self) -> None:
        # A new study then gets a random scrambling (a stored one is the study's and stays).
        self._seed = None
        self._rng.seed()

    def study_seed(self, study: Study) -> int:
        """The study's scrambling seed, stored by the first worker that asks."""
        key = (id(study._storage), study._study_id)
        if key in self._stored:
            return self._stored[key]
        attrs = study._storage.get_study_system_attrs(study._study_id)
        seed = attrs.get(SEED_KEY)
        if isinstance(seed, int) and not isinstance(seed, bool):
            self._stored[key] = seed
            return seed
        seed = self._seed if self._seed is not None else int(self._rng.randint(2**31 - 1))
        study._storage.set_study_system_attr(study._study_id, SEED_KEY, seed)
        return seed

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial,
                                    ) -> dict[str, BaseDistribution]:
        from optuna.search_space import intersection_search_space

        finished = study._get_trials(deepcopy=False, use_cache=True)
        space = intersection_search_space(
            [t for t in finished if t.state.is_finished()], include_pruned=True)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        enc = SpaceEncoder(search_space)
        seed = self.study_seed(study)
        from_first, blocks = DESIGNS[self.design]
        index = max(trial.number - 1, 0) if from_first else trial.number
        with _sobol_lock:
            engine = qmc.Sobol(len(enc), scramble=True, seed=seed)
            if index > 0:
                engine.fast_forward(index)
            point = engine.random(1)[0]
        if blocks:
            for j in np.flatnonzero(enc.is_categorical):
                point[j] = block_choice(seed, enc.names[j], index, int(enc.space.n_bins[j]))
        return enc.decode(point)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        u = _hashed_rng(f"{self.study_seed(study)}:{trial.number}:{param_name}").rand()
        enc = SpaceEncoder({param_name: param_distribution})
        return enc.decode(np.array([u]))[param_name]
