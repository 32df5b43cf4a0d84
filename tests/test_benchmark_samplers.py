"""The benchmark's sampler table: hypera variants reach the study's core."""

from __future__ import annotations

import optuna

from benchmarks.samplers import HYPERA_STRATEGIES
from benchmarks.samplers import make_sampler
from benchmarks.strategy_selection import mixed as six_param
from optuna_hypera._core import HyperaCore


def _core_of(name: str) -> HyperaCore:
    sampler = make_sampler(name, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(six_param, n_trials=11)
    (cache,) = sampler._caches.values()  # type: ignore[attr-defined]
    core: HyperaCore = cache.core
    return core


def test_core_settings_of_a_variant_reach_the_core_and_only_its_own() -> None:
    assert HYPERA_STRATEGIES["hypera-radius-skip"]["core"] == {"pruned_in_radius": False}
    assert _core_of("hypera-radius-skip").pruned_in_radius is False
    assert _core_of("hypera-nopseudo").pruned_in_model is False
    plain = _core_of("hypera")
    assert plain.pruned_in_radius is True
    assert plain.pruned_in_model is True
    assert plain.pseudo_shift == 0.0
