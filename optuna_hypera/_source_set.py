"""The sampler's past studies (``HyperaSampler(source_studies=...)``): read once, checked
against the new study, turned into start configurations, a model prior and adapted agents.

This is the transfer orchestration that the Optuna glue delegates to; the maths lives in
``_transfer`` (RGPE ensemble), ``_experience`` (hindsight moves, adaptation) and ``_sources``
(reading and matching). Everything here is per sampler instance and guarded by one lock, so
two samplers (or two threads of one) never share or race on it.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Sequence
import threading
import time
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
import torch

from optuna_hypera._core import HyperaCore
from optuna_hypera._encoding import SpaceEncoder
from optuna_hypera._experience import adapt
from optuna_hypera._sources import Source
from optuna_hypera._sources import align
from optuna_hypera._sources import best_configurations
from optuna_hypera._sources import past_study
from optuna_hypera._sources import read_sources
from optuna_hypera._sources import shares_parameter
from optuna_hypera._sources import start_value
from optuna_hypera._transfer import TransferPrior


_logger = optuna.logging.get_logger("optuna.hypera")
SOURCES_ATTR = "hypera_sources"
"""Study user attribute: per source, the matched parameters and trials (for the dashboard)."""
STARTS = 3
"""With sources, this many of the startup trials are the sources' best configurations."""
PASSES = 50
"""The one-off adaptation stops after this many passes of its draws over the sources'
experience, short of ``steps`` when that experience is small: on a 40-trial source, 100 or
200 passes brought the first agent proposals no nearer its optimum than 50 did (within
noise), at two to four times the cost."""
Start = dict[str, tuple[BaseDistribution, Any]]


def checked_sources(studies: Sequence[Study] | None, steps: int) -> tuple[Study, ...]:
    """``source_studies`` as given to the sampler, checked (``TypeError``/``ValueError``)."""
    sources = tuple(studies or ())
    if not all(isinstance(s, Study) for s in sources):
        raise TypeError("source_studies must hold optuna.Study objects (load a stored one "
                        "with optuna.load_study).")
    if any(len(s.directions) != 1 for s in sources):
        raise ValueError("source_studies must be single-objective studies.")
    if steps < 0:
        raise ValueError("source_steps must be non-negative.")
    return sources


class SourceSet:
    """Past studies of one sampler.

    Args:
        studies: The source studies.
        n_starts: How many start configurations to take from them.
        steps: Gradient steps of the one-off adaptation of the agents, at most (0: none;
            fewer where ``PASSES`` passes over the experience come first).
        impute: ``HyperaSampler(conditional="model")``: the sources' conditional parameters
            enter their models as the study's own do (``align``).
    """

    def __init__(self, studies: Sequence[Study], n_starts: int, steps: int,
                 impute: bool = False) -> None:
        self.studies = tuple(studies)
        self.impute = impute
        """Conditional parameters a source trial lacks at ``IMPUTED`` (``align``)."""
        self.n_starts = n_starts
        self.steps = steps
        self._lock = threading.RLock()
        self._sources: list[Source] | None = None
        self._starts: list[Start] = []
        self._checked: set[Hashable] = set()
        self._adapted: list[torch.Tensor] | None = None
        self._attached: dict[Hashable, tuple[SpaceEncoder, list[dict[str, Any]]]] = {}

    def __bool__(self) -> bool:
        return bool(self.studies)

    def read(self) -> list[Source]:
        """The sources, read from storage once (under the lock)."""
        with self._lock:
            if self._sources is None:
                sources = read_sources(self.studies)
                self._starts = best_configurations(sources, self.n_starts)
                self._sources = sources
            return self._sources

    def starts(self) -> list[Start]:
        """The configurations of the first startup trials."""
        with self._lock:
            self.read()
            return self._starts

    def start_value(self, number: int, name: str, dist: BaseDistribution) -> tuple[bool, Any]:
        return start_value(self.starts()[number], name, dist)

    def check(self, key: Hashable, study: Study, first: FrozenTrial) -> None:
        """``ValueError`` once a finished trial shows a source shares no parameter."""
        with self._lock:
            if key in self._checked or not first.distributions:
                return
            self._checked.add(key)
            for source in self.read():
                if not shares_parameter(source, first.distributions):
                    raise ValueError(
                        f"Source study {source.name!r} shares no parameter with study "
                        f"{study.study_name!r} (same name and kind of distribution): its "
                        f"parameters are {sorted(source.param_names())}, this study's "
                        f"{sorted(first.distributions)}.")

    def adapt(self, core: HyperaCore) -> None:
        """Fine-tune ``core``'s agents on the sources' experience: computed once per sampler,
        then loaded, and both paths leave ``core``'s generators in the same state."""
        if not self.studies or not self.steps:
            return
        with self._lock:
            sources = self.read()
            # Drawn on both paths, so a hit and a miss consume the core's generator alike.
            seed = int(core.rng.randint(2**31 - 1))
            if self._adapted is None:
                start = time.perf_counter()
                past = [p for k, s in enumerate(sources) if (p := past_study(s, k)) is not None]
                n = adapt(core, past, self.steps, np.random.RandomState(seed),
                          torch.Generator(device=core.sac.device).manual_seed(seed),
                          max_passes=PASSES)
                self._adapted = core.sac.snapshot()
                _logger.info(f"HyperaSampler adapted its agents on {n} trials of "
                             f"{len(sources)} source studies in "
                             f"{time.perf_counter() - start:.1f} s.")
            else:
                core.sac.restore(self._adapted)

    def attach(self, key: Hashable, study: Study, core: HyperaCore, enc: SpaceEncoder) -> None:
        """The sources' models in the encoder's coordinates as ``core``'s prior for the study
        (rebuilt when the space changes); warns once per source about what it cannot use and
        records what matched in the study user attribute ``hypera_sources``."""
        with self._lock:
            previous = self._attached.get(key)
            if previous is not None and previous[0] is enc:
                return
            usable, info = [], []
            for source in self.read():
                al = align(source, enc, self.impute)
                if not al.matched:
                    raise ValueError(
                        f"Source study {source.name!r} shares no parameter with study "
                        f"{study.study_name!r}'s search space {list(enc.names)}.")
                unmatched = sorted(set(al.ignored) | (set(enc.names) - set(al.matched)))
                if unmatched:
                    warnings.warn(
                        f"HyperaSampler: source study {source.name!r} does not match the "
                        f"parameters {unmatched} (name or kind of distribution); they are "
                        f"ignored for it.", stacklevel=5)
                info.append({"study": source.name, "completed": al.n_completed,
                             "matched_trials": len(al.data.loss), "params": al.matched,
                             "ignored": unmatched})
                if len(al.data.loss) >= 2:
                    usable.append(al.data)
            if usable:
                core.priors[0] = TransferPrior(usable, len(enc), core.kernel_space(enc.space))
            else:
                core.priors.pop(0, None)
            if previous is None or info != previous[1]:
                study._storage.set_study_user_attr(study._study_id, SOURCES_ATTR, info)
            self._attached[key] = (enc, info)
