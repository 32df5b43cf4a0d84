"""The benchmark's sampler table: hypera variants reach the study's core."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from benchmarks.samplers import HYPERA_STRATEGIES
from benchmarks.samplers import NEW_WEIGHTS_ENV
from benchmarks.samplers import make_sampler
from benchmarks.strategy_selection import mixed as six_param
import optuna_hypera
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


def test_hypera_new_loads_the_weights_its_variable_names(monkeypatch) -> None:
    monkeypatch.delenv(NEW_WEIGHTS_ENV, raising=False)
    with pytest.raises(ValueError, match=NEW_WEIGHTS_ENV):
        make_sampler("hypera-new", seed=0)
    path = str(Path(optuna_hypera.__file__).parent / "weights" / "default.pt")
    monkeypatch.setenv(NEW_WEIGHTS_ENV, path)
    sampler = make_sampler("hypera-new", seed=0)
    assert sampler._weights == path  # type: ignore[attr-defined]
    monkeypatch.setenv(NEW_WEIGHTS_ENV, path + ".missing")
    with pytest.raises(FileNotFoundError):
        make_sampler("hypera-new", seed=0)
