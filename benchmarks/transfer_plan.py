"""The transfer benchmark's plan: families, members, samplers, source studies and target runs.

What :mod:`benchmarks.transfer` runs (see its docstring); :mod:`benchmarks.transfer_run` executes
the plan and :mod:`benchmarks.transfer_report` summarises the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import inspect
from pathlib import Path
from typing import Any

from benchmarks.objectives.tabular_mlp import DATASETS
from benchmarks.objectives.tabular_mlp import SPACES
from benchmarks.runner import RunSpec
from benchmarks.samplers import SAMPLER_NAMES
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import check_samplers
from benchmarks.samplers import hypera_import_error
from benchmarks.suites import Task


MEMBERS = ("digits", "wine", "breast_cancer", "iris")
"""The default family members (``digits_small`` is available through ``--members``)."""
TRANSFER = "hypera-transfer"
FLIPPED = "hypera-flipped"
REFERENCE = "hypera"
WS_CMAES = "ws-cmaes"
SAMPLERS = (TRANSFER, FLIPPED, REFERENCE, "tpe", "gp", WS_CMAES)
"""The default samplers, in table order."""
SOURCE_SEED = 1000
"""Source study of member ``i`` (index in ``DATASETS``): sampler and objective seed 1000+i."""
SOURCES_DB = "sources.db"
STUDIES_DB = "studies.db"
CANNOT_RUN = "cannot run"


def source_studies_supported() -> bool:
    """Whether ``HyperaSampler`` imports and its constructor takes ``source_studies``."""
    if hypera_import_error() is not None:
        return False
    from optuna_hypera import HyperaSampler

    return "source_studies" in inspect.signature(HyperaSampler).parameters


def check_transfer_samplers(names: Sequence[str]) -> None:
    """``ValueError`` for unknown names, :class:`SamplerUnavailableError` for missing ones."""
    extra = (TRANSFER, FLIPPED, WS_CMAES)
    unknown = [n for n in names if n not in extra and n not in SAMPLER_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown sampler(s) {unknown}; choose from {[*extra, *SAMPLER_NAMES]}."
        )
    if not names:
        raise ValueError("No samplers given.")
    check_samplers([n for n in names if n not in extra])
    needs_sources = [n for n in names if n in (TRANSFER, FLIPPED)]
    if needs_sources and not source_studies_supported():
        why = hypera_import_error() or "HyperaSampler.__init__ has no `source_studies` argument"
        raise SamplerUnavailableError(
            f"{needs_sources} need HyperaSampler(source_studies=...): {why}. Drop them with "
            f"--samplers, e.g. --samplers {','.join(n for n in names if n not in needs_sources)}."
        )


def cannot_run_reason(sampler: str, space: str) -> str | None:
    """Why ``sampler`` cannot run in ``space``, or ``None`` when it can."""
    if sampler == WS_CMAES and space != "numeric":
        return (
            "WS-CMA-ES (CmaEsSampler with source_trials) handles only numeric parameters; "
            "this space has categorical ones"
        )
    return None


@dataclass(frozen=True)
class Setup:
    """What one invocation asks for."""

    families: tuple[str, ...]
    members: tuple[str, ...]
    samplers: tuple[str, ...]
    seeds: int
    trials: int
    source_trials: int
    epochs: int | None = None
    """Training epochs of every member; ``None``: each data set's default (tests use fewer)."""
    design_seeds: bool = False
    """Target runs' sampler seeds from (task, seed) (``RunSpec.design_seeds``); the source
    studies keep their fixed seeds."""


@dataclass(frozen=True)
class SourceSpec:
    """The source study of one member in one family, and where it is stored."""

    family: str
    member: str
    n_trials: int
    storage_url: str
    epochs: int | None = None

    @property
    def seed(self) -> int:
        return SOURCE_SEED + list(DATASETS).index(self.member)

    @property
    def name(self) -> str:
        return source_name(self.family, self.member)


def source_name(family: str, member: str) -> str:
    return f"source/{family}/{member}"


def flipped_name(family: str, member: str) -> str:
    return f"flipped/{family}/{member}"


@dataclass(frozen=True)
class TransferSpec:
    """One target run: a member of a family optimised by one sampler with one seed."""

    family: str
    target: str
    sampler: str
    seed: int
    n_trials: int
    members: tuple[str, ...]
    source_trials: int
    sources_url: str
    epochs: int | None = None
    design_seeds: bool = False
    """As :class:`benchmarks.runner.RunSpec`'s: the four targets of a family share one space,
    so with seed k as every target's sampler seed they share a seed's startup design."""

    @property
    def others(self) -> list[str]:
        return [m for m in self.members if m != self.target]

    @property
    def options(self) -> dict[str, Any]:
        """What the result depends on besides (task, sampler, seed, trials)."""
        return {
            "dataset": self.target, "space": self.family, "members": list(self.members),
            "sources": self.others, "source_trials": self.source_trials, "epochs": self.epochs,
        }

    def run_spec(self) -> RunSpec:
        """The runner's spec: task ``<family>-<target>``, study ``<task>/<sampler>/seed<k>``."""
        task = Task(f"{self.family}-{self.target}", self.family, self.n_trials, self.options)
        return RunSpec(task, self.sampler, self.seed, self.design_seeds)


def plan(setup: Setup, out_dir: Path) -> tuple[list[SourceSpec], list[TransferSpec]]:
    """Source studies, then target runs in seed-major order (an interrupted run has all
    samplers on its first seeds)."""
    unknown = [f for f in setup.families if f not in SPACES]
    if unknown:
        raise ValueError(f"Unknown famil(ies) {unknown}; expected some of {SPACES}.")
    bad = [m for m in setup.members if m not in DATASETS]
    if bad:
        raise ValueError(f"Unknown member(s) {bad}; expected some of {list(DATASETS)}.")
    if len(set(setup.members)) < 2:
        raise ValueError("Leave-one-out needs at least two distinct members.")
    if setup.seeds < 1 or setup.trials < 1 or setup.source_trials < 1:
        raise ValueError("--seeds, --trials and --source-trials must be >= 1.")
    check_transfer_samplers(setup.samplers)
    url = f"sqlite:///{out_dir / SOURCES_DB}"
    uses_sources = any(cannot_run_reason(s, f) is None and s in (TRANSFER, FLIPPED, WS_CMAES)
                       for s in setup.samplers for f in setup.families)
    sources = [
        SourceSpec(f, m, setup.source_trials, url, setup.epochs)
        for f in setup.families for m in setup.members
    ] if uses_sources else []
    runs = [
        TransferSpec(f, m, s, k, setup.trials, setup.members, setup.source_trials, url,
                     setup.epochs, setup.design_seeds)
        for k in range(setup.seeds)
        for f in setup.families
        for m in setup.members
        for s in setup.samplers
    ]
    return sources, runs

