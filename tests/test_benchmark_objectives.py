"""Each benchmark objective runs one real trial at a tiny size and returns sane numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pytest
import torch

from benchmarks.objectives import make_objective
from benchmarks.objectives.digits_mlp import MAX_LOSS
from benchmarks.objectives.digits_mlp import focal_loss


DIGITS_PARAMS: dict[str, Any] = {
    "n_layers": 1, "width": 64, "activation": "relu", "lr": 0.1, "momentum": 0.9,
    "weight_decay": 1e-4, "batch_size": 32, "dropout": 0.1, "input_noise": 0.05,
    "normalize": "unit", "label_smoothing": 0.05, "focal_gamma": 1.0,
}
MONAI_PARAMS: dict[str, Any] = {
    "base_channels": 4, "depth": 2, "num_res_units": 1, "activation": "prelu", "lr": 1e-2,
    "beta1": 0.9, "weight_decay": 1e-4, "batch_size": 2, "dropout": 0.1, "norm": "instance",
    "flip_prob": 0.5, "rotate_prob": 0.5, "intensity_scale": 0.1, "normalize": "zscore",
    "lambda_dice": 0.5, "lambda_focal": 0.5, "focal_gamma": 2.0, "smooth_nr": 1e-4,
}


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _one_trial(objective: Any, params: dict[str, Any], **kwargs: Any) -> optuna.trial.FrozenTrial:
    study = optuna.create_study(direction=objective.direction, **kwargs)
    study.enqueue_trial(params)
    study.optimize(objective, n_trials=1)
    return study.trials[0]


def test_bbob_regret_is_exact_at_the_optimum() -> None:
    objective = make_objective("bbob", seed=2, fid=8, dim=3)
    assert objective.instance == 3  # type: ignore[attr-defined]  # seed k -> instance k + 1
    x_opt = objective.problem.optimum.x  # type: ignore[attr-defined]
    at_optimum = objective(optuna.trial.FixedTrial({f"x{i}": v for i, v in enumerate(x_opt)}))
    assert objective.loss(at_optimum) == pytest.approx(0.0, abs=1e-9)
    trial = _one_trial(objective, {"x0": 4.0, "x1": -4.0, "x2": 0.0})
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.value is not None and objective.loss(trial.value) > 0.0
    assert objective.score(trial.value, trial.user_attrs) is None


def test_bbob_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_objective("bbob", seed=0, fid=25, dim=2)
    with pytest.raises(ValueError):
        make_objective("nope", seed=0)


def test_focal_loss_with_gamma_zero_is_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 10, generator=gen)
    target = torch.randint(0, 10, (8,), generator=gen)
    expected = torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.1)
    assert float(focal_loss(logits, target, 0.0, 0.1)) == pytest.approx(float(expected), rel=1e-5)
    assert float(focal_loss(logits, target, 2.0, 0.1)) < float(expected)


def test_digits_trial_is_finite_deterministic_and_leaves_global_rngs_alone() -> None:
    objective = make_objective("digits", seed=0, epochs=3, n_samples=400, device="cpu")
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    trial = _one_trial(objective, DIGITS_PARAMS)
    assert trial.value is not None and 0.0 < trial.value < math.log(10)  # better than chance
    assert 0.5 < trial.user_attrs["test_accuracy"] <= 1.0
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert objective.score(trial.value, trial.user_attrs) == trial.user_attrs["test_accuracy"]
    again = objective(optuna.trial.FixedTrial(DIGITS_PARAMS))
    assert again == pytest.approx(trial.value, rel=1e-6)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # type: ignore[index]


def test_digits_diverged_training_is_capped_and_pruning_is_honoured() -> None:
    objective = make_objective("digits", seed=1, epochs=2, n_samples=300, device="cpu")
    wild = {**DIGITS_PARAMS, "lr": 1.0, "momentum": 0.99, "normalize": "raw", "width": 256}
    value = objective(optuna.trial.FixedTrial(wild))
    assert 0.0 < value <= MAX_LOSS
    pruned = _one_trial(objective, DIGITS_PARAMS, pruner=_AlwaysPrune())
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert list(pruned.intermediate_values) == [0]


def test_monai_trial_returns_a_dice_per_epoch() -> None:
    objective = make_objective(
        "monai", seed=0, n_train=4, n_val=2, size=32, epochs=2, noise=1.0, device="cpu"
    )
    assert objective.direction == "maximize"
    torch_state = torch.get_rng_state()
    trial = _one_trial(objective, MONAI_PARAMS)
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.value is not None and 0.0 <= trial.value <= 1.0
    assert objective.loss(trial.value) == pytest.approx(1.0 - trial.value)
    assert sorted(trial.intermediate_values) == [0, 1]
    assert all(0.0 <= v <= 1.0 for v in trial.intermediate_values.values())
    assert torch.equal(torch.get_rng_state(), torch_state)
    # report_stats is a no-op when optuna_hypera does not import; here that is a failure.
    stats = trial.user_attrs["hypera_stats"]
    assert {"grad_norm", "train_loss", "val_loss", "gpu_mem"} <= set(stats)
    assert stats["grad_norm"] >= 0.0 and stats["gpu_mem"] == 0.0


def test_monai_images_are_deterministic_per_seed() -> None:
    from benchmarks.objectives.monai_seg import make_seg_data

    a = make_seg_data(seed=3, n_train=2, n_val=1, size=16)
    b = make_seg_data(seed=3, n_train=2, n_val=1, size=16)
    c = make_seg_data(seed=4, n_train=2, n_val=1, size=16)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, c.x_train)
    assert set(torch.unique(a.y_train).tolist()) <= {0.0, 1.0}
    assert a.x_train.shape == (2, 1, 16, 16)


def test_landscape_objectives_decode_to_the_tasks_own_coordinates() -> None:
    """Every kind of coordinate of a generated task becomes the Optuna parameter a user would
    declare, and decodes back to a value the task's space can take; training seeds are
    refused."""
    from benchmarks.objectives.landscape import LandscapeObjective
    from optuna_hypera._families import draw
    from optuna_hypera._families import split_of

    kinds = set()
    for task in draw("test", 6, 3, dims=(6,), families=("integer", "categorical", "log_scale")):
        obj = LandscapeObjective(family=task.family, dim=len(task.space), task_seed=task.seed)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(obj, n_trials=8)
        for t in study.trials:
            u = obj.coordinates(optuna.trial.FixedTrial(t.params))
            np.testing.assert_allclose(task.space.snap(u), u, atol=1e-12)
            assert t.value == pytest.approx(float(task(u[None], np.random.RandomState(
                [task.seed, 0, t.number]))[0]))
            kinds |= {type(d).__name__ for d in t.distributions.values()}
    assert kinds == {"FloatDistribution", "IntDistribution", "CategoricalDistribution"}
    train = next(s for s in range(100) if split_of(s) == "train")
    with pytest.raises(ValueError, match="training split"):
        LandscapeObjective(family="gp", dim=3, task_seed=train)


def test_a_define_by_run_conditional_task_asks_only_the_chosen_branch() -> None:
    """``define_by_run=True``: the selector first, then only the coordinates the chosen branch
    reads; the value is the task's at those coordinates (the others at 0.5 change nothing)."""
    from benchmarks.objectives.landscape import LandscapeObjective
    from optuna_hypera._families import draw

    (task,) = draw("validation", 1, 0, dims=(6,), families=("conditional",))
    shape = task.shape
    obj = LandscapeObjective(family=task.family, dim=6, task_seed=task.seed,
                             define_by_run=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(obj, n_trials=30)
    branches = set()
    for t in study.trials:
        u = obj.coordinates(optuna.trial.FixedTrial(t.params))
        b = int(shape.branch(u[None])[0])
        branches.add(b)
        asked = {int(n[1:]) for n in t.params}
        assert next(iter(t.params)) == f"x{shape.selector}"
        assert asked == {shape.selector} | set(np.flatnonzero(shape.active[b]).tolist())
        full = np.random.RandomState(1).uniform(size=6)
        full[sorted(asked)] = u[sorted(asked)]
        assert task.clean(full[None])[0] == pytest.approx(task.clean(u[None])[0])
    assert len(branches) > 1
    plain = LandscapeObjective(family=task.family, dim=6, task_seed=task.seed)
    assert plain.conditional is None


def test_model_selection_asks_each_classifier_its_own_parameters() -> None:
    from benchmarks.objectives import make_objective

    obj = make_objective("model_selection", seed=0, data="wine")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(obj, n_trials=16)
    prefix = {"svc": "svc_", "forest": "forest_", "logistic": "logistic_", "knn": "knn_"}
    for t in study.trials:
        kind = t.params["classifier"]
        assert all(n.startswith(prefix[kind]) for n in t.params if n != "classifier")
        assert 0.0 <= t.value <= 1.0
        assert obj.score(t.value, t.user_attrs) == pytest.approx(
            t.user_attrs["validation_accuracy"])
    assert len({t.params["classifier"] for t in study.trials}) > 2
    again = make_objective("model_selection", seed=0, data="wine")
    assert again(optuna.trial.FixedTrial(study.trials[0].params)) == study.trials[0].value
    with pytest.raises(ValueError, match="data"):
        make_objective("model_selection", seed=0, data="iris-remote")


def test_generated_training_is_reproducible_bounded_and_validation_only() -> None:
    from benchmarks.objectives.generated_training import task_data

    params = {"layers": 2, "width": 32, "activation": "relu", "alpha": 1e-4, "lr": 1e-2,
              "batch_size": 64}
    obj = make_objective("training", seed=0, task_seed=9003)
    assert obj.direction == "minimize"
    trial = optuna.trial.FixedTrial(params)
    value = obj(trial)
    assert 0.0 < value <= 3.0 * math.log(task_data(9003)[2])
    assert obj(optuna.trial.FixedTrial(params)) == value  # the same data, split and init
    assert make_objective("training", seed=1, task_seed=9003)(
        optuna.trial.FixedTrial(params)) != value  # another split
    x, y, k = task_data(9003)
    x2, _, _ = task_data(9004)
    assert x.shape[0] == 600 and 2 <= k <= 5 and set(np.unique(y)) == set(range(k))
    assert x.shape != x2.shape or not np.allclose(x, x2)  # tasks differ by their seed
    # a learning rate that diverges is capped, never inf or NaN
    wild = dict(params, lr=0.3, alpha=1e-6, activation="relu", width=256, layers=3)
    assert math.isfinite(obj(optuna.trial.FixedTrial(wild)))
    with pytest.raises(ValueError, match="validation range"):
        make_objective("training", seed=0, task_seed=10_000)


def test_generated_torch_training_is_reproducible_capped_and_validation_only() -> None:
    from benchmarks.objectives.generated_torch import task_data

    params = {"blocks": 1, "width": 32, "activation": "silu", "optimizer": "adam", "lr": 3e-3,
              "beta": 0.9, "weight_decay": 1e-4, "dropout": 0.1, "batch_size": 64,
              "warmup": 0.1}
    obj = make_objective("torch_training", seed=0, task_seed=9003, epochs=3)
    x, y, k = task_data(9003)
    cap = 3.0 * math.log(k)
    trial = optuna.trial.FixedTrial(params)
    value = obj(trial)
    assert 0.0 < value < math.log(k)  # learns something in three epochs
    assert 0.0 < trial.user_attrs["validation_accuracy"] <= 1.0
    assert obj(optuna.trial.FixedTrial(params)) == value  # the same split, init and batches
    assert make_objective("torch_training", seed=1, task_seed=9003, epochs=3)(
        optuna.trial.FixedTrial(params)) != value  # another split
    assert x.shape[0] == 1200 and 3 <= k <= 6 and 8 <= x.shape[1] <= 32
    assert x.shape != task_data(9004)[0].shape or not np.allclose(x, task_data(9004)[0])
    # Adam at a learning rate of 1 diverges: capped, never inf or NaN, and no accuracy
    wild = optuna.trial.FixedTrial(dict(params, lr=1.0, beta=0.0, warmup=0.0, width=256))
    assert obj(wild) == cap and "validation_accuracy" not in wild.user_attrs
    with pytest.raises(ValueError, match="validation range"):
        make_objective("torch_training", seed=0, task_seed=8999)
    # Define-by-run: the momentum under the optimizer's own name, dropout only with blocks;
    # the same settings train the same network.
    dbr = make_objective("torch_training", seed=0, task_seed=9003, epochs=3,
                         define_by_run=True)
    own = {k: v for k, v in params.items() if k != "beta"} | {"adam_beta1": 0.9}
    asked = optuna.trial.FixedTrial(own)
    assert dbr(asked) == value
    flat = dict(own, blocks=0, optimizer="sgd", lr=0.05)
    flat["sgd_momentum"] = flat.pop("adam_beta1")
    del flat["dropout"]
    assert dbr(optuna.trial.FixedTrial(flat)) == obj(optuna.trial.FixedTrial(
        dict(params, blocks=0, optimizer="sgd", lr=0.05, dropout=0.0)))
