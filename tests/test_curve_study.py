"""Generated learning curves under the median pruning rule, in the simulator and pre-training."""

from __future__ import annotations

import numpy as np
import pytest

from optuna_hypera._curve_study import CurveStudy
from optuna_hypera._curve_study import draw_curve_studies
from optuna_hypera._curve_tasks import EVALUATION_SEEDS_START
from optuna_hypera._curve_tasks import VALIDATION_SEEDS_START
from optuna_hypera._curve_tasks import CurveTask
from optuna_hypera._simulate import simulate
from optuna_hypera.pretrain import PretrainConfig
from optuna_hypera.pretrain import make_core
from optuna_hypera.pretrain import tasks_for


def test_the_median_rule_prunes_after_warmup_and_only_below_the_median() -> None:
    study = CurveStudy(CurveTask.sample(4, 3), rungs=(3, 9), warmup=5)
    run = study.start(60)
    rng = np.random.RandomState(0)
    x = np.random.RandomState(1).rand(60, 4)
    values = [run.run(i, x[i], rng) for i in range(60)]
    first_pruned = int(np.argmax(run.pruned))
    assert run.pruned.sum() >= 10 and first_pruned >= 5
    assert (~run.pruned[:first_pruned]).all()
    complete = np.isfinite(values) & ~run.pruned
    for i in range(60):  # the median is over completed trials only, as Optuna's
        for r, step in enumerate(study.rungs):
            if np.isnan(run.at[i, r]):
                continue  # stopped before this rung
            earlier = run.at[:i, r][complete[:i]]
            above = len(earlier) >= study.warmup and run.at[i, r] > np.median(earlier)
            pruned_here = bool(run.pruned[i]) and run.step[i] == step
            assert pruned_here == above, (i, step)
            if pruned_here:
                assert values[i] == run.at[i, r]
                assert np.isnan(run.at[i, r + 1:]).all()  # it never reported later rungs
    pred = run.final(60)
    assert np.isfinite(pred.score[run.pruned]).mean() > 0.8
    assert np.isnan(pred.score[~run.pruned]).all()


def test_pretraining_draws_no_validation_or_evaluation_curve_seeds() -> None:
    """Pre-training's curve tasks stay below the validation range (``curves-val`` groups)."""
    seeds = [s.task.seed for s in draw_curve_studies(4000, np.random.RandomState(0), (4, 5))]
    assert max(seeds) < VALIDATION_SEEDS_START < EVALUATION_SEEDS_START
    assert max(seeds) > VALIDATION_SEEDS_START - 100  # the whole training range is drawn


def test_evaluation_seeds_and_bad_rungs_are_refused() -> None:
    with pytest.raises(ValueError, match="evaluation"):
        CurveStudy(CurveTask.sample(3, EVALUATION_SEEDS_START))
    with pytest.raises(ValueError, match="rungs"):
        CurveStudy(CurveTask.sample(3, 1), rungs=(0, 3))


def test_simulated_studies_of_curves_have_pruned_trials_and_their_best_ignores_them() -> None:
    cfg = PretrainConfig(studies=6, candidates=8, prior="families", curves_share=0.5)
    tasks, _ = tasks_for(0, cfg)
    curves = [t for t in tasks if isinstance(t, CurveStudy)]
    assert len(curves) == 3 and all(t.task.seed < EVALUATION_SEEDS_START for t in curves)
    sim = simulate(make_core(cfg), tasks, 30, n_startup=6, seed=0)
    assert sim.pruned is not None
    for t, y, p, best in zip(tasks, sim.y, sim.pruned, sim.best_so_far(), strict=True):
        if isinstance(t, CurveStudy):
            assert p.any()
            assert best[-1] == np.nanmin(np.where(p, np.nan, y))
        else:
            assert not p.any()
