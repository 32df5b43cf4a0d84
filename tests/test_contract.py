"""Optuna's own sampler contract suites, with the agents acting from the second trial on."""

from __future__ import annotations

from collections.abc import Callable

from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import RelativeSamplerTestCase
from optuna.testing.pytest_samplers import SingleOnlySamplerTestCase
import pytest

from optuna_hypera import HyperaSampler


@pytest.fixture(params=["independent", "sequential", "cooperative"])
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestHyperaSampler(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self, strategy: str) -> Callable[[], BaseSampler]:
        return lambda: HyperaSampler(
            n_startup_trials=1, strategy=strategy, warn_independent_sampling=False
        )
