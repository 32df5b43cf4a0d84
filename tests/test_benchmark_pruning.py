"""The pruning benchmark: epoch accounting, the curve objective, the statistics on hand-made
records, and the quick run end to end (a few seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from benchmarks import pruning
from benchmarks import pruning_report
from benchmarks import pruning_run
from benchmarks.objectives import make_objective
from benchmarks.objectives.curves import NOISE_FREE_ATTR
from benchmarks.objectives.curves import CurveObjective
from benchmarks.pruning_run import EpochBudget
from benchmarks.pruning_run import best_curve
from benchmarks.pruning_run import load_pruning_records
from benchmarks.samplers import hypera_import_error
from optuna_hypera._curve_tasks import EVALUATION_SEEDS_START
from optuna_hypera._curve_tasks import VALIDATION_SEEDS_START


optuna.logging.set_verbosity(optuna.logging.WARNING)


# ----------------------------------------------------------------------------- statistics


def test_epochs_to_reach_and_censored_median() -> None:
    epochs = [27, 30, 33, 60, 87]
    best = [None, None, 0.8, 0.5, 0.5]
    assert pruning_report.epochs_to_reach(epochs, best, 0.8) == 33  # ties count
    assert pruning_report.epochs_to_reach(epochs, best, 0.6) == 60
    assert pruning_report.epochs_to_reach(epochs, best, 0.4) is None
    assert pruning_report.epochs_to_reach([], [], 1.0) is None
    assert pruning_report.censored_median([10, 20, None]) == 20.0
    assert pruning_report.censored_median([10, None]) == math.inf  # half censored: >budget
    assert math.isnan(pruning_report.censored_median([]))



def test_the_median_interval_is_the_binomial_order_statistics() -> None:
    """Ten runs: the 2nd and 9th values (P(B <= 1) = 0.0107 <= 0.025 < P(B <= 2), B ~
    Bin(10, 1/2); coverage 97.9%); runs that never reach count as infinitely late; five runs
    are too few for 95%."""
    interval = pruning_report.median_interval
    assert interval(list(range(10, 0, -1))) == (2.0, 9.0)
    assert interval([None] * 4 + [1, 2, 3, 4, 5, 6]) == (2.0, math.inf)
    assert interval([1, 2, 3, 4, 5]) == (-math.inf, math.inf)
    assert interval([1, 2, 3, 4, 5, 6]) == (1.0, 6.0)  # P(B <= 0) = 1/64 <= 0.025
    assert all(math.isnan(v) for v in interval([]))
    # It covers the median of draws at about its level (at least 95%).
    rng = np.random.default_rng(0)
    hits = [lo <= 0.0 <= hi for lo, hi in
            (interval(rng.normal(size=40).tolist()) for _ in range(2000))]
    assert 0.95 <= float(np.mean(hits)) <= 0.985


def test_best_curve_and_grid() -> None:
    trials: list[dict[str, Any]] = [
        {"epochs": 3, "loss": None}, {"epochs": 27, "loss": 0.7}, {"epochs": 1, "loss": None},
        {"epochs": 27, "loss": 0.9}, {"epochs": 27, "loss": 0.4},
    ]
    curve = best_curve(trials)
    assert curve == {"epochs": [3, 30, 31, 58, 85], "best": [None, 0.7, 0.7, 0.7, 0.4]}
    grid = np.array([0.0, 3.0, 29.0, 30.0, 84.0, 85.0, 100.0])
    np.testing.assert_array_equal(pruning_report.best_on_grid({"curve": curve}, grid),
                                  [math.inf, math.inf, math.inf, 0.7, 0.7, 0.4, 0.4])


def _record(task: str, sampler: str, pruner: str, seed: int,
            points: list[tuple[int, float | None]], group: str = "g") -> dict[str, Any]:
    return {
        "task": task, "group": group, "sampler": sampler, "pruner": pruner, "seed": seed,
        "budget": 100, "max_steps": 10, "loss_label": "loss", "n_trials": len(points),
        "n_pruned": 1, "epochs_used": points[-1][0],
        "curve": {"epochs": [e for e, _ in points], "best": [b for _, b in points]},
    }


def test_summary_ranks_and_epochs_to_the_reference_target() -> None:
    records = []
    for seed in (0, 1):
        records += [
            _record("a", "tpe", "hyperband", seed, [(10, 0.9), (50, 0.5), (100, 0.4)]),
            _record("a", "fast", "hyperband", seed, [(10, 0.4), (100, 0.3)]),
            _record("a", "slow", "hyperband", seed, [(10, None), (100, 0.6)]),
            _record("a", "tpe", "none", seed, [(100, 0.45 + 0.1 * seed)]),
        ]
    summary = pruning_report.summarize(records)["groups"]["g"]
    assert summary["targets"] == {"a": 0.4}
    hb = summary["tables"]["hyperband"]
    assert hb["n_pairs"] == 2
    rows = hb["rows"]
    assert {s: r["mean_rank"] for s, r in rows.items()} == {"tpe": 2.0, "fast": 1.0, "slow": 3.0}
    assert rows["fast"]["epochs_to_target"] == 10.0
    assert rows["tpe"]["epochs_to_target"] == 100.0
    assert rows["slow"]["epochs_to_target"] == "inf" and rows["slow"]["reached"] == [0, 2]
    assert rows["tpe"]["median_final"] == {"a": 0.4}
    # tpe+none never reaches 0.4 (0.45, 0.55); every combination is ranked on the same pairs.
    assert summary["tables"]["none"]["rows"]["tpe"]["epochs_to_target"] == "inf"
    combos = summary["combinations"]
    assert combos["n_pairs"] == 2 and list(combos["mean_rank"])[0] == "fast+hyperband"
    assert combos["mean_rank"]["tpe+none"] == 3.0
    text = pruning_report.render_markdown(pruning_report.summarize(records), command="cmd")
    assert text.splitlines()[2] == "Command: `cmd`" and ">budget" in text


# ----------------------------------------------------------------------------- objective


class _PruneAt(optuna.pruners.BasePruner):
    """Prunes every trial at ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.step


def test_curve_objective_reports_each_step_and_honours_pruning() -> None:
    objective = make_objective("curves", seed=3, task_seed=10_000, dim=4, n_steps=9)
    assert isinstance(objective, CurveObjective)
    task = objective.task
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=40)
    for trial in study.trials:
        x = np.array([[trial.params[f"x{i}"] for i in range(4)]])
        clean = task.curves(x)[0]
        steps = sorted(trial.intermediate_values)
        if np.isnan(clean).any():  # diverged: one report of the diverged value, then stop
            assert trial.value == task.diverged_value == trial.intermediate_values[steps[-1]]
            assert steps == list(range(1, int(np.argmax(np.isnan(clean))) + 2))
        else:
            assert steps == list(range(1, 10))
            assert trial.user_attrs[NOISE_FREE_ATTR] == pytest.approx(task.final(x)[0])
            assert abs(trial.value - clean[-1]) < 0.2  # noisy, close
    pruned = optuna.create_study(pruner=_PruneAt(3))
    pruned.optimize(objective, n_trials=5)
    assert all(len(t.intermediate_values) <= 3 for t in pruned.trials)
    assert any(t.state == TrialState.PRUNED for t in pruned.trials)


def test_epoch_budget_stops_within_one_training() -> None:
    objective = make_objective("curves", seed=0, task_seed=10_000, dim=4, n_steps=27)
    study = optuna.create_study(pruner=optuna.pruners.HyperbandPruner(max_resource=27),
                                sampler=optuna.samplers.RandomSampler(seed=1))
    budget = EpochBudget(200)
    study.optimize(objective, n_trials=1000, callbacks=[budget])
    used = sum(len(t.intermediate_values) for t in study.trials)
    assert budget.used == used
    assert 200 <= used < 200 + 27
    assert used - len(study.trials[-1].intermediate_values) < 200


# ----------------------------------------------------------------------------- end to end


def test_task_selection_keeps_gpu_tasks_out_unless_named() -> None:
    table = pruning.task_table(quick=False, trainings=None)
    default = pruning.select_tasks(table, None)
    assert {t.group for t in default} == {"curves", "digits"}
    assert all(t.options["task_seed"] >= 10_000 for t in default if t.group == "curves")
    monai = pruning.select_tasks(table, ["monai"])
    assert [t.name for t in monai] == ["monai-seg-2d-27"] and monai[0].gpu_only
    validation = pruning.select_tasks(table, ["curves-val"])
    second = pruning.select_tasks(table, ["curves-val2"])
    assert len(validation) == len(second) == 12
    for group in (validation, second):
        assert all(VALIDATION_SEEDS_START <= t.options["task_seed"] < EVALUATION_SEEDS_START
                   for t in group)
        assert not {t.name for t in group} & {t.name for t in default}
    assert not {t.name for t in validation} & {t.name for t in second}
    torch = pruning.select_tasks(table, ["torch-val", "torch-val2"])
    assert len(torch) == 32 and {t.family for t in torch} == {"torch_training"}
    assert len({t.options["task_seed"] for t in torch}) == 32
    assert all(VALIDATION_SEEDS_START <= t.options["task_seed"] < EVALUATION_SEEDS_START
               and t.budget == 50 * t.max_steps and t.first_step == 0 for t in torch)
    with pytest.raises(ValueError, match="Unknown task"):
        pruning.select_tasks(table, ["nope"])


def test_quick_run_records_every_cell_within_budget(tmp_path: Path) -> None:
    samplers = ["tpe", "random"] + (["hypera"] if hypera_import_error() is None else [])
    argv = ["run", "--quick", "--out", str(tmp_path), "--jobs", "2", "--seeds", "1",
            "--samplers", ",".join(samplers), "--no-progress"]
    assert pruning.main(argv) == 0
    records = load_pruning_records(tmp_path / "results.jsonl")
    cells = {(r["task"], r["sampler"], r["pruner"]) for r in records.values()}
    tasks = {t.name for t in pruning.select_tasks(pruning.task_table(quick=True, trainings=None),
                                                  None)}
    assert cells == {(t, s, p) for t in tasks for s in samplers
                     for p in pruning.DEFAULT_PRUNERS}
    for r in records.values():
        epochs = [t["epochs"] for t in r["trials"]]
        assert r["epochs_used"] == sum(epochs) == r["curve"]["epochs"][-1]
        assert r["budget"] <= r["epochs_used"] < r["budget"] + r["max_steps"]
        assert all(0 <= e <= r["max_steps"] for e in epochs)
        for t in r["trials"]:
            assert (t["value"] is not None) == (t["state"] == "COMPLETE")
    for pruner in ("median", "hyperband"):
        assert sum(r["n_pruned"] for r in records.values() if r["pruner"] == pruner) > 0
    assert all(r["n_pruned"] == 0 for r in records.values() if r["pruner"] == "none")

    summary = json.loads((tmp_path / "summary.json").read_text())
    for group in summary["groups"].values():
        for table in group["tables"].values():
            ranks = [row["mean_rank"] for row in table["rows"].values()]
            assert sum(ranks) == pytest.approx(len(ranks) * (len(ranks) + 1) / 2)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    assert lines[2].startswith("Command: `python -m benchmarks.pruning run --quick")
    assert (tmp_path / "pruning.png").stat().st_size > 1000

    # Resumable: everything is recorded, nothing runs again.
    assert pruning.main(argv) == 0
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == len(records)


def test_design_seeds_draw_one_sampler_seed_per_task_and_seed() -> None:
    """``--design-seeds``: the sampler's seed follows (task, seed), the same for every sampler
    and pruner of the pair; run keys and study names (Hyperband's brackets) do not change;
    a record of the other seeding is rerun, not reused."""
    from benchmarks.pruning_run import is_current

    tasks = pruning.select_tasks(pruning.task_table(quick=False, trainings=None), ["curves"])
    shared = pruning.plan(tasks, ["tpe", "random"], ["none", "hyperband"], 2)
    own = pruning.plan(tasks, ["tpe", "random"], ["none", "hyperband"], 2, design_seeds=True)
    assert [s.key for s in own] == [s.key for s in shared]
    assert [s.study_name for s in own] == [s.study_name for s in shared]
    assert all(s.sampler_seed == s.seed for s in shared)
    by_pair = {(s.task.name, s.seed): s.sampler_seed for s in own}
    assert all(s.sampler_seed == by_pair[(s.task.name, s.seed)] for s in own)
    assert len(set(by_pair.values())) == len(by_pair) == len(tasks) * 2
    spec, twin = shared[0], own[0]
    record = {"schema": pruning_run.SCHEMA, "budget": spec.task.budget,
              "max_steps": spec.task.max_steps, "options": spec.task.options,
              "seed": spec.seed}
    assert is_current(record, spec) and not is_current(record, twin)  # older records: no key
    assert is_current({**record, "sampler_seed": twin.sampler_seed}, twin)
    assert not is_current({**record, "sampler_seed": twin.sampler_seed}, spec)


def test_the_pruners_are_sized_for_the_task() -> None:
    """Median and percentile pruners wait a fifth of a training (the step index counts from
    the task's first report); the percentile one is stricter; Hyperband's largest rung is a
    full training. ``percentile`` is asked for by name only."""
    from optuna.pruners import HyperbandPruner
    from optuna.pruners import MedianPruner
    from optuna.pruners import PercentilePruner

    from benchmarks.pruning_run import make_pruner

    task = pruning.curve_task(4, 10_000, 2)
    median, pct = make_pruner("median", task), make_pruner("percentile", task)
    assert isinstance(median, MedianPruner) and isinstance(pct, PercentilePruner)
    for p in (median, pct):
        assert p._n_warmup_steps == task.warmup_epochs - 1 + task.first_step
        assert p._n_startup_trials == 5
    assert pct._percentile == 25.0 and median._percentile == 50.0
    band = make_pruner("hyperband", task)
    assert isinstance(band, HyperbandPruner) and band._max_resource == task.max_steps
    assert "percentile" in pruning.PRUNERS and "percentile" not in pruning.DEFAULT_PRUNERS
    with pytest.raises(ValueError, match="Unknown pruner"):
        make_pruner("nope", task)


def test_pair_counts_compare_best_complete_losses_at_shares_of_the_budget() -> None:
    from benchmarks import pruning_pairs

    records = [
        # task a: "x" ahead at 30 epochs, behind at the end; task b: tied throughout
        _record("a", "x", "median", 0, [(20, 0.5), (100, 0.5)]),
        _record("a", "y", "median", 0, [(40, 0.6), (90, 0.1)]),
        _record("b", "x", "median", 0, [(10, 0.3)]),
        _record("b", "y", "median", 0, [(10, 0.3)]),
        _record("c", "x", "median", 0, [(10, 0.3)]),  # no "y" run: not a pair
        _record("a", "x", "hyperband", 0, [(10, 0.9)]),
        _record("a", "y", "hyperband", 0, [(10, 0.2)]),
    ]
    counts = pruning_pairs.count_pairs(records, "x", "y", (0.3, 1.0), pruner="median")
    assert [(c.better, c.worse, c.tied) for c in counts] == [(1, 0, 1), (0, 1, 1)]
    both = pruning_pairs.count_pairs(records, "x", "y", (1.0,))
    assert (both[0].better, both[0].worse, both[0].tied) == (0, 2, 1)


def test_pair_counts_command_reads_a_results_file(tmp_path: Path, capsys) -> None:
    from benchmarks import pruning_pairs

    lines = [_record("a", s, "median", 0, [(10, v)]) for s, v in (("x", 0.2), ("y", 0.4))]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert pruning_pairs.main([str(tmp_path), "x", "y", "--at", "1"]) == 0
    assert "| median | 100% | 1/0/0 |" in capsys.readouterr().out
