from __future__ import annotations

import pytest

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera._groups import FALLBACK_WEIGHT
from optuna_hypera._groups import assign_groups
from optuna_hypera._groups import match_rules
from optuna_hypera._groups import split_words
from optuna_hypera._groups import validate_groups


NAMES = [a.name for a in DEFAULT_AGENTS]


def owner(name: str) -> str | None:
    i = match_rules(name, DEFAULT_AGENTS)
    return None if i is None else NAMES[i]


@pytest.mark.parametrize(
    "name,agent",
    [
        ("n_layers", "architecture"), ("depth", "architecture"), ("hidden_units", "architecture"),
        ("base_channels", "architecture"), ("num_filters", "architecture"),
        ("kernel_size", "architecture"), ("activation", "architecture"),
        ("use_skip", "architecture"), ("residual_units", "architecture"),
        ("lr", "optimization"), ("learning_rate", "optimization"),
        ("learningRate", "optimization"), ("momentum", "optimization"),
        ("beta1", "optimization"), ("weight_decay", "optimization"),
        ("batch_size", "optimization"), ("scheduler", "optimization"),
        ("warmup_steps", "optimization"), ("lr_gamma", "optimization"),
        ("dropout", "regularization"), ("l1", "regularization"), ("l2_penalty", "regularization"),
        ("norm_type", "regularization"), ("batch_norm", "regularization"),
        ("label_smoothing", "regularization"),
        ("aug_prob", "data"), ("flip_prob", "data"), ("rotate_prob", "data"),
        ("crop_size", "data"), ("intensity_scale", "data"), ("normalize", "data"),
        ("class_weight", "data"), ("sampling", "data"), ("mixup_alpha", "data"),
        ("loss_weight", "loss"), ("focal_gamma", "loss"), ("gamma", "loss"),
        ("lambda_dice", "loss"), ("dice_smooth", "loss"), ("alpha", "loss"),
    ],
)
def test_builtin_rules(name: str, agent: str) -> None:
    assert owner(name) == agent


@pytest.mark.parametrize("name", ["blr_x", "x0", "clrx", "flr", "dropoutish", "normalizer_x"])
def test_rules_respect_word_boundaries(name: str) -> None:
    assert owner(name) is None


def test_split_words() -> None:
    assert split_words("learningRate") == ["learning", "rate"]
    assert split_words("model.lr-decay/v2") == ["model", "lr", "decay", "v2"]


def test_unmatched_parameters_are_spread_evenly_and_stably() -> None:
    names = [f"x{i}" for i in range(10)]
    a = assign_groups(names, DEFAULT_AGENTS)
    per_agent = a.as_dict(DEFAULT_AGENTS)
    assert all(len(v) == 2 for v in per_agent.values())
    # Natural order, fewest-first: x0..x4 to agents 0..4, then x5..x9 again.
    assert per_agent["architecture"] == ["x0", "x5"]
    assert per_agent["loss"] == ["x4", "x9"]
    assert all(w == (FALLBACK_WEIGHT,) for w in a.weights)
    # Stable: shuffled input gives the same mapping.
    shuffled = assign_groups(list(reversed(names)), DEFAULT_AGENTS).as_dict(DEFAULT_AGENTS)
    assert {k: sorted(v) for k, v in shuffled.items()} == {
        k: sorted(v) for k, v in per_agent.items()
    }


def test_spread_fills_agents_without_matches_first() -> None:
    a = assign_groups(["lr", "momentum", "x0", "x1"], DEFAULT_AGENTS).as_dict(DEFAULT_AGENTS)
    assert a["optimization"] == ["lr", "momentum"]
    assert a["architecture"] == ["x0"] and a["regularization"] == ["x1"]


def test_groups_override_with_globs_and_overlap() -> None:
    groups = validate_groups(
        {"loss": ["my_*", "lr"], "data": ["my_weight"]}, DEFAULT_AGENTS
    )
    a = assign_groups(["lr", "my_weight", "my_other", "dropout"], DEFAULT_AGENTS, groups)
    d = a.as_dict(DEFAULT_AGENTS)
    assert d["loss"] == ["lr", "my_weight", "my_other"]
    assert d["data"] == ["my_weight"]
    assert d["regularization"] == ["dropout"]
    assert d["optimization"] == []
    j = a.names.index("my_weight")
    assert a.owners[j] == (NAMES.index("data"), NAMES.index("loss"))


@pytest.mark.parametrize(
    "groups,needle",
    [
        ({"optimizer": ["lr"]}, "'optimizer'"),
        ({"loss": "lr"}, "groups['loss']"),
        ({"loss": ["lr", ""]}, "''"),
        ({"loss": ["lr", 3]}, "3"),
        (["loss"], "mapping"),
    ],
)
def test_invalid_groups_name_the_offending_entry(groups: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        validate_groups(groups, DEFAULT_AGENTS)  # type: ignore[arg-type]
