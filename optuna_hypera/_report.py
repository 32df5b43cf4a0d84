from __future__ import annotations

import math
from typing import Any

import optuna


STATS_KEY = "hypera_stats"
"""Trial user attribute that holds ``report_stats`` values."""


def report_stats(trial: optuna.trial.BaseTrial, **stats: float) -> None:
    """Record training statistics of a trial for the agents' state (and the dashboard).

    Known names feed the state: ``grad_norm``, ``train_loss``, ``val_loss``, ``gpu_mem``; any
    other finite number is stored too. Repeated calls update the stored values, so call it after
    each epoch or once at the end::

        report_stats(trial, grad_norm=3.2, train_loss=0.41, val_loss=0.52, gpu_mem=1.8e9)

    Values are kept in the trial user attribute ``hypera_stats``.
    """
    clean: dict[str, float] = {}
    for name, value in stats.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"report_stats({name}=...) needs a number, got {value!r}.") from None
        if not math.isfinite(v):
            raise ValueError(f"report_stats({name}=...) needs a finite number, got {v}.")
        clean[name] = v
    current: Any = trial.user_attrs.get(STATS_KEY)
    merged = dict(current) if isinstance(current, dict) else {}
    merged.update(clean)
    trial.set_user_attr(STATS_KEY, merged)
