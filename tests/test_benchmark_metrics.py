"""Metric functions of the benchmark harness, on hand-made numbers with exact answers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from benchmarks import metrics
from benchmarks.summary import summarize


def test_best_so_far_skips_failed_trials_and_starts_at_inf() -> None:
    assert metrics.best_so_far([None, 5.0, 7.0, None, 2.0, math.nan, 3.0]) == [
        math.inf, 5.0, 5.0, 5.0, 2.0, 2.0, 2.0,
    ]


def test_quantile_interpolates_and_tolerates_inf() -> None:
    assert metrics.quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert metrics.quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.25) == 2.0
    assert metrics.median([1.0, math.inf]) == math.inf
    assert metrics.median([1.0, 2.0, math.inf]) == 2.0
    assert metrics.iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == 2.0
    with pytest.raises(ValueError):
        metrics.quantile([], 0.5)


def test_curve_band_is_per_trial_median_and_quartiles() -> None:
    mid, low, high = metrics.curve_band([[4.0, 3.0], [2.0, 1.0], [6.0, 5.0], [9.0]])
    assert mid.tolist() == [5.0]  # cut to the shortest curve
    mid, low, high = metrics.curve_band([[4.0, 3.0], [2.0, 1.0], [6.0, 5.0]])
    assert mid.tolist() == [4.0, 3.0]
    assert low.tolist() == [3.0, 2.0]
    assert high.tolist() == [5.0, 4.0]


def test_average_ranks_share_ties() -> None:
    assert metrics.average_ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert metrics.average_ranks([1.0, 1.0, 1.0]) == [2.0, 2.0, 2.0]
    assert metrics.average_ranks([math.inf, 0.5, math.inf]) == [2.5, 1.0, 2.5]


def test_mean_ranks_pair_seeds_and_drop_unshared_ones() -> None:
    finals = {
        "a": {0: 1.0, 1: 2.0},
        "b": {0: 1.0, 1: 1.0},
        "c": {0: 3.0, 1: 0.5, 2: 9.0},  # seed 2 is not shared, so it is ignored
    }
    # seed 0: [1, 1, 3] -> [1.5, 1.5, 3]; seed 1: [2, 1, 0.5] -> [3, 2, 1]
    assert metrics.mean_ranks(finals) == {"a": 2.25, "b": 1.75, "c": 2.0}
    assert all(math.isnan(v) for v in metrics.mean_ranks({"a": {0: 1.0}, "b": {1: 1.0}}).values())


def test_anytime_mean_ranks_follow_the_curves() -> None:
    ranks = metrics.anytime_mean_ranks({"a": {0: [5.0, 1.0]}, "b": {0: [3.0, 3.0]}})
    assert ranks["a"].tolist() == [2.0, 1.0]
    assert ranks["b"].tolist() == [1.0, 2.0]


def test_trials_to_target_is_one_based_and_none_when_never_reached() -> None:
    curve = [5.0, 4.0, 3.0, 2.0]
    assert metrics.trials_to_target(curve, 3.0) == 3
    assert metrics.trials_to_target(curve, 5.0) == 1
    assert metrics.trials_to_target(curve, 1.0) is None
    assert metrics.trials_to_target([math.inf, 2.0], 2.0) == 2


def test_efficiency_against_gp_median_final() -> None:
    curves = {
        "gp": [[4.0, 3.0, 2.0], [4.0, 2.0, 1.0], [5.0, 4.0, 3.0]],  # target = median(2, 1, 3) = 2
        "fast": [[2.0, 2.0, 2.0], [3.0, 1.0, 1.0], [2.0, 2.0, 1.0]],
        "never": [[9.0, 9.0, 9.0], [9.0, 9.0, 1.0]],
    }
    eff = metrics.efficiency(curves, "gp")
    assert eff["gp"].target == 2.0
    assert (eff["gp"].trials, eff["gp"].speedup) == (3, 1.0)
    assert eff["gp"].reached == pytest.approx(2 / 3)
    assert (eff["fast"].trials, eff["fast"].speedup, eff["fast"].reached) == (1, 3.0, 1.0)
    # median curve ends at median(9, 1) = 5 > 2: never; one seed of two reaches it alone
    assert (eff["never"].trials, eff["never"].speedup, eff["never"].reached) == (None, None, 0.5)


def test_relative_gain_for_scores_and_losses() -> None:
    assert metrics.relative_gain(0.84, 0.75, higher_is_better=True) == pytest.approx(0.12)
    assert metrics.relative_gain(0.66, 0.75, higher_is_better=True) == pytest.approx(-0.12)
    assert metrics.relative_gain(60.0, 100.0, higher_is_better=False) == pytest.approx(0.4)
    assert math.isnan(metrics.relative_gain(1.0, 0.0, higher_is_better=True))


def test_variance_ratio() -> None:
    assert metrics.variance_ratio([1.0, 2.0, 3.0], [0.0, 2.0, 4.0]) == pytest.approx(0.25)
    assert math.isnan(metrics.variance_ratio([1.0], [0.0, 2.0]))
    assert math.isnan(metrics.variance_ratio([1.0, 2.0], [3.0, 3.0]))


def test_scaling_exponent() -> None:
    assert metrics.scaling_exponent([2, 4, 8], [3.0, 6.0, 12.0]) == pytest.approx(1.0)
    assert metrics.scaling_exponent([1, 2, 4], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        metrics.scaling_exponent([2, 2], [1.0, 2.0])
    with pytest.raises(ValueError):
        metrics.scaling_exponent([1, 2], [0.0, 2.0])


def test_overhead_fraction() -> None:
    assert metrics.overhead_fraction([0.5, 0.25], 3.0) == 0.25
    assert math.isnan(metrics.overhead_fraction([0.1], 0.0))


def _record(
    task: str, sampler: str, seed: int, losses: list[float], score: float
) -> dict[str, Any]:
    curve = metrics.best_so_far(losses)
    return {
        "task": task, "family": "digits", "loss_label": "validation loss",
        "score_label": "test accuracy", "options": {}, "sampler": sampler, "seed": seed,
        "best_loss": curve, "best": {"score": score},
        "sampler_seconds": [0.1] * len(losses), "wall_seconds": 1.0,
    }


def test_summarize_combines_the_metrics_per_task() -> None:
    records = [
        _record("t", "gp", 0, [3.0, 2.0], 0.80),
        _record("t", "gp", 1, [3.0, 2.0], 0.80),
        _record("t", "random", 0, [4.0, 4.0], 0.75),
        _record("t", "random", 1, [4.0, 3.0], 0.75),
        _record("t", "tpe", 0, [1.0, 1.0], 0.84),
        _record("t", "tpe", 1, [2.0, 2.0], 0.84),
    ]
    summary = summarize(records)
    task = summary["tasks"]["t"]
    assert summary["samplers"] == ["tpe", "gp", "random"]
    # seed 0: tpe 1, gp 2, random 4; seed 1: tpe 2, gp 2, random 3 -> ranks (1.5, 1.5, 3)
    assert task["mean_rank"] == {"tpe": 1.25, "gp": 1.75, "random": 3.0}
    assert task["efficiency_vs_gp"]["tpe"]["speedup"] == 2.0  # 1 trial instead of GP's 2
    assert task["efficiency_vs_gp"]["random"]["trials"] is None
    gains = task["performance_vs_random"]["samplers"]
    assert gains["tpe"]["gain"] == pytest.approx(0.12)
    assert task["variance_ratio_vs_tpe"]["random"] == pytest.approx(1.0)
    assert summary["claims"]["random"]["speedup_vs_gp"] == 0.0  # never reached counts as 0
    assert np.isclose(task["sampler_seconds_per_trial"]["gp"], 0.1)


def test_summarize_a_partial_results_directory() -> None:
    """A suite stopped part-way (a sampler missing on one task) still reports: each
    sampler's counts cover the tasks it ran."""
    records = [
        _record("a", "gp", 0, [3.0, 2.0], 0.80),
        _record("a", "tpe", 0, [1.0, 1.0], 0.84),
        _record("a", "qmc", 0, [4.0, 3.0], 0.70),
        _record("b", "gp", 0, [3.0, 2.0], 0.80),
        _record("b", "tpe", 0, [1.0, 1.0], 0.84),
    ]
    summary = summarize(records)
    assert summary["claims"]["qmc"]["gp_target_reached"] == [0, 1]
    assert summary["claims"]["tpe"]["gp_target_reached"] == [2, 2]


def test_same_runs_counts_seeds_whose_every_value_repeats(tmp_path: Any) -> None:
    import json

    from benchmarks.runner import RESULTS_FILE
    from benchmarks.same_runs import same_runs

    rows = [("t", "a", 0, [1.0, 2.0]), ("t", "b", 0, [1.0, 2.0]), ("t", "a", 1, [1.0, 3.0]),
            ("t", "b", 1, [1.0, 2.5]), ("u", "a", 0, [4.0]), ("u", "c", 0, [4.0])]
    (tmp_path / RESULTS_FILE).write_text("\n".join(
        json.dumps({"task": t, "sampler": s, "seed": k, "values": v}) for t, s, k, v in rows))
    assert same_runs(tmp_path, "a", ["b", "c"]) == {"t": {"b": (1, 1)}, "u": {"c": (1, 0)}}
