"""Helpers shared by the sampler tests."""

from __future__ import annotations

import logging

import optuna
import pytest

from benchmarks.strategy_selection import mixed as six_param


def warnings_while_optimizing(study: optuna.Study, sampler: optuna.samplers.BaseSampler,
                              n_trials: int, caplog: pytest.LogCaptureFixture) -> str:
    """Run ``n_trials`` of the six-parameter objective with ``sampler``; the warnings logged."""
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            study.sampler = sampler
            study.optimize(six_param, n_trials=n_trials)
    finally:
        optuna.logging.disable_propagation()
    return caplog.text
