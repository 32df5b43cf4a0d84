"""The leave-one-out transfer benchmark: metrics on hand-made numbers, a tiny run end to end."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
import subprocess
import sys
from typing import Any

import optuna
import pytest
from rich.progress import Progress

from benchmarks import transfer
from benchmarks import transfer_plan
from benchmarks import transfer_run
from benchmarks import transfer_stats
from benchmarks.objectives.tabular_mlp import DATASETS
from benchmarks.objectives.tabular_mlp import NUMERIC_FIXED
from benchmarks.objectives.tabular_mlp import TabularMLPObjective
from benchmarks.runner import run_in_workers
from benchmarks.samplers import SamplerUnavailableError


def _has_source_studies() -> bool:
    """Only the transfer samplers depend on it; everything else runs either way."""
    try:
        from optuna_hypera import HyperaSampler
    except Exception:
        return False
    return "source_studies" in inspect.signature(HyperaSampler).parameters


MEMBERS = ["wine", "iris"]
FAMILIES = ["numeric", "full"]
SAMPLERS = ["tpe", "random", "ws-cmaes", "hypera"] + (
    ["hypera-transfer", "hypera-flipped"] if _has_source_studies() else []
)
TRIALS = 4
SOURCE_TRIALS = 10  # WS-CMA-ES keeps the best 10% of the source trials: needs >= 10


# ----------------------------------------------------------------------------- metrics


def test_mean_final_ranks_average_ties_over_common_pairs() -> None:
    finals = {
        "a": {("x", 0): 1.0, ("x", 1): 3.0, ("y", 0): 5.0},
        "b": {("x", 0): 2.0, ("x", 1): 3.0, ("y", 0): 4.0},
        "c": {("x", 0): 3.0, ("x", 1): 1.0, ("y", 0): 6.0, ("y", 1): 0.0},  # (y, 1): c only
    }
    ranks, n_pairs = transfer_stats.mean_final_ranks(finals)
    assert n_pairs == 3
    # (x, 0): a 1, b 2, c 3; (x, 1): c 1, a and b tie at 2.5; (y, 0): b 1, a 2, c 3.
    assert ranks == pytest.approx({"a": 5.5 / 3, "b": 5.5 / 3, "c": 7 / 3})
    assert transfer_stats.mean_final_ranks({})[1] == 0


def test_trials_to_reach_the_references_final_value() -> None:
    curves = {
        "hypera": {("x", 0): [5.0, 4.0, 2.0], ("x", 1): [3.0, 3.0, 3.0]},
        "fast": {("x", 0): [2.0, 1.0, 1.0], ("x", 1): [9.0, 3.0, 1.0]},
        "slow": {("x", 0): [6.0, 6.0, 6.0], ("x", 1): [4.0, 4.0, 2.5]},
    }
    reach = transfer_stats.trials_to_reach(curves, "hypera")
    assert reach["hypera"] == {("x", 0): 3, ("x", 1): 1}  # <= its own final: ties count
    assert reach["fast"] == {("x", 0): 1, ("x", 1): 2}
    assert reach["slow"] == {("x", 0): None, ("x", 1): 3}
    assert transfer_stats.censored_median([1, 2]) == 1.5
    assert transfer_stats.censored_median([None, 3]) == math.inf  # half censored: median > budget
    assert transfer_stats.censored_median([None, 3, 1]) == 3.0
    assert math.isnan(transfer_stats.censored_median([]))


def test_head_to_head_and_normalisation() -> None:
    first = {("x", 0): 1.0, ("x", 1): 2.0, ("y", 0): 3.0, ("y", 1): 9.0}
    second = {("x", 0): 2.0, ("x", 1): 2.0, ("y", 0): 1.0}
    assert transfer_stats.head_to_head(first, second) == {"better": 1, "worse": 1, "tied": 1}
    assert transfer_stats.normalized_curve([5.0, 3.0, 1.0], 1.0, 3.0) == [2.0, 1.0, 0.0]
    assert transfer_stats.normalized_curve([5.0, 3.0], 2.0, 2.0) == [0.0, 0.0]


def test_summary_of_hand_made_records() -> None:
    def record(target: str, sampler: str, seed: int, losses: list[float]) -> dict[str, Any]:
        best = [min(losses[: i + 1]) for i in range(len(losses))]
        return {
            "family": "numeric", "target": target, "sampler": sampler, "seed": seed,
            "n_trials": len(losses), "options": {"source_trials": 5}, "status": "ok",
            "losses": losses, "best_loss": best, "sampler_seconds": [0.1] * len(losses),
            "wall_seconds": 1.0,
        }

    records = [
        record("x", "hypera-transfer", 0, [1.0, 0.5, 0.5]),
        record("x", "hypera", 0, [2.0, 1.0, 0.8]),
        record("x", "tpe", 0, [3.0, 0.8, 0.9]),
        record("y", "hypera-transfer", 0, [4.0, 2.0, 1.0]),
        record("y", "hypera", 0, [3.0, 2.0, 1.0]),
        record("y", "tpe", 0, [5.0, 5.0, 5.0]),
    ]
    fam = transfer_stats.summarize_transfer(records)["families"]["numeric"]
    assert fam["pairs"] == 2
    # x: transfer 1, hypera and tpe tie at 2.5; y: transfer and hypera tie at 1.5, tpe 3.
    assert fam["mean_rank"] == pytest.approx({"hypera-transfer": 1.25, "hypera": 2.0,
                                              "tpe": 2.75})
    # hypera's finals: 0.8 on x, 1.0 on y.
    reach = fam["trials_to_reach"]
    assert reach["hypera-transfer"]["median"] == 2.5  # trials 2 (x) and 3 (y)
    assert reach["hypera"]["median"] == 3.0
    assert reach["hypera"]["ratio_to_transfer"] == pytest.approx(1.2)
    assert not reach["hypera"]["ratio_is_lower_bound"]
    assert reach["tpe"]["median"] == math.inf and reach["tpe"]["reached"] == 1  # 2 (x), never (y)
    assert reach["tpe"]["ratio_to_transfer"] == pytest.approx(4 / 2.5)  # >= (3 + 1) / 2.5
    assert reach["tpe"]["ratio_is_lower_bound"]
    assert fam["head_to_head"]["hypera-transfer vs hypera"] == {"better": 1, "worse": 0,
                                                                "tied": 1}


# ----------------------------------------------------------------------------- samplers


class _FakeHypera(optuna.samplers.RandomSampler):
    def __init__(self, *, seed: int | None = None, source_studies: Any = None) -> None:
        super().__init__(seed=seed)
        self.source_studies = source_studies


class _OldHypera(optuna.samplers.RandomSampler):
    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)


def test_transfer_samplers_get_the_right_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna_hypera

    monkeypatch.setattr(optuna_hypera, "HyperaSampler", _FakeHypera)
    sources = [optuna.create_study(study_name="s1"), optuna.create_study(study_name="s2")]
    flipped = [optuna.create_study(study_name="f1")]
    sampler = transfer_run.make_transfer_sampler("hypera-transfer", 3, sources=sources,
                                                 flipped=flipped)
    assert isinstance(sampler, _FakeHypera) and sampler.source_studies == sources
    sampler = transfer_run.make_transfer_sampler("hypera-flipped", 3, sources=sources,
                                                 flipped=flipped)
    assert isinstance(sampler, _FakeHypera) and sampler.source_studies == flipped
    with pytest.raises(ValueError, match="at least 10"):  # too few trials for WS-CMA-ES
        transfer_run.make_transfer_sampler("ws-cmaes", 0, sources=sources)

    monkeypatch.setattr(optuna_hypera, "HyperaSampler", _OldHypera)
    with pytest.raises(SamplerUnavailableError, match="source_studies"):
        transfer_plan.check_transfer_samplers(["tpe", "hypera-flipped"])
    transfer_plan.check_transfer_samplers(["tpe", "ws-cmaes"])  # no hypera sources needed
    with pytest.raises(ValueError, match="Unknown"):
        transfer_plan.check_transfer_samplers(["nope"])


def test_flipped_trial_negates_values_and_keeps_params() -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) + 1.0, n_trials=2)
    for trial in study.trials:
        flipped = transfer_run.flip_trial(trial)
        assert flipped.value == -trial.value  # type: ignore[operator]
        assert flipped.params == trial.params and flipped.state == trial.state


def test_tabular_objective_spaces_and_data_sets() -> None:
    assert transfer_plan.cannot_run_reason("ws-cmaes", "full") is not None
    assert transfer_plan.cannot_run_reason("ws-cmaes", "numeric") is None
    params = {
        "n_layers": 1, "width": 32, "activation": "tanh", "lr": 0.1, "momentum": 0.9,
        "weight_decay": 1e-4, "batch_size": 64, "dropout": 0.0, "input_noise": 0.0,
        "normalize": "unit", "label_smoothing": 0.0, "focal_gamma": 0.0,
    }
    for dataset in DATASETS:
        objective = TabularMLPObjective(dataset, seed=0, epochs=2, device="cpu")
        x = objective.data.x_train
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0  # scaled to [0, 1]
        assert 2 <= objective.n_classes <= 10
        value = objective(optuna.trial.FixedTrial(params))
        assert 0.0 < value < 10.0
        assert value == objective(optuna.trial.FixedTrial(params))  # deterministic
    numeric = TabularMLPObjective("iris", seed=0, space="numeric", epochs=2, device="cpu")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(numeric, n_trials=1)
    names = set(study.trials[0].params)
    assert len(names) == 10 and not set(NUMERIC_FIXED) & names
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(TabularMLPObjective("iris", seed=0, epochs=2, device="cpu"), n_trials=1)
    assert len(study.trials[0].params) == 12


# ----------------------------------------------------------------------------- worker pool


def test_worker_pool_finishes_every_item_and_reports_each_failure() -> None:
    finished: dict[float, float] = {}

    def finish(item: float, result: float) -> None:
        if item == 16.0:
            raise OSError("disk full")
        finished[item] = result

    with Progress(disable=True) as progress:
        task_id = progress.add_task("items", total=4)
        failed = run_in_workers(math.sqrt, [4.0, -1.0, 9.0, 16.0], finish, jobs=2,
                                progress=progress, task_id=task_id, name=lambda x: f"item {x}")
        assert progress.tasks[0].completed == 4
    assert finished == {4.0: 2.0, 9.0: 3.0}
    # Errors in the worker and in the parent's finish both fail their item only.
    assert sorted(failed) == ["item -1.0: ValueError: math domain error",
                              "item 16.0: OSError: disk full"]
    assert run_in_workers(math.sqrt, [], finish, jobs=1, progress=progress, task_id=task_id,
                          name=str) == []


# ----------------------------------------------------------------------------- end to end


def test_smallest_run_from_the_command_line(tmp_path: Path) -> None:
    """``python -m benchmarks.transfer`` at the smallest budget: one family, the two members
    leave-one-out needs, one seed, two trials, one worker; then ``--report-only``."""
    out = tmp_path / "t"
    samplers = ["hypera", "tpe", "ws-cmaes"]
    command = [
        sys.executable, "-m", "benchmarks.transfer", "--out", str(out), "--families", "numeric",
        "--members", "wine,iris", "--seeds", "1", "--trials", "2", "--source-trials", "10",
        "--epochs", "1", "--samplers", ",".join(samplers), "--jobs", "1", "--no-progress",
    ]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "6 run(s) recorded, 0 already recorded, 0 failed" in done.stdout
    summary = (out / "summary.md").read_text()
    cells = [[c.strip() for c in line.strip("|").split("|")]
             for line in summary.splitlines() if line.startswith("| ")]
    rows = {row[0]: row for row in cells}  # the main table's, then the per-target table's
    assert rows["sampler"][:2] == ["sampler", "mean rank (1-3)"] and len(rows["sampler"]) == 8
    assert rows["target"] == ["target", *samplers]
    for sampler in samplers:
        row = rows[sampler]
        assert len(row) == 8 and 1.0 <= float(row[1]) <= 3.0  # mean rank over the 2 pairs
        assert row[5].endswith("/2")  # pairs reaching hypera's final best
    assert sum(float(rows[s][1]) for s in samplers) == pytest.approx(6.0)  # ranks 1..3
    assert rows["hypera"][5] == "2/2"  # its own final best: always reached
    assert len(rows["wine"]) == len(rows["iris"]) == 1 + len(samplers)
    assert "cannot run" not in summary
    report = subprocess.run([*command[:5], "--report-only"], cwd=root, capture_output=True,
                            text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert (out / "summary.md").read_text() == summary  # rebuilt from the records alone


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("transfer")
    code = transfer.main([
        "--out", str(out), "--families", ",".join(FAMILIES), "--members", ",".join(MEMBERS),
        "--seeds", "1", "--trials", str(TRIALS), "--source-trials", str(SOURCE_TRIALS),
        "--samplers", ",".join(SAMPLERS), "--epochs", "2", "--jobs", "1", "--no-progress",
    ])
    assert code == 0
    return out


def test_records_cover_every_run(tiny_run: Path) -> None:
    records = [json.loads(line) for line in (tiny_run / "results.jsonl").read_text().splitlines()]
    expected = {(f"{f}-{m}", s, 0) for f in FAMILIES for m in MEMBERS for s in SAMPLERS}
    assert {(r["task"], r["sampler"], r["seed"]) for r in records} == expected
    assert len(records) == len(expected)
    for r in records:
        assert r["family"] in FAMILIES and r["target"] in MEMBERS
        if r["sampler"] == "ws-cmaes" and r["family"] == "full":
            assert r["status"] == "cannot run" and "categorical" in r["reason"]
            continue
        assert r["status"] == "ok"
        assert len(r["losses"]) == len(r["best_loss"]) == len(r["sampler_seconds"]) == TRIALS
        curve = r["best_loss"]
        assert all(a >= b for a, b in zip(curve, curve[1:], strict=False))
        assert curve[-1] == min(x for x in r["losses"] if x is not None) == r["best"]["loss"]
        assert r["wall_seconds"] > 0 and r["threads"]["torch"] == 1
        others = [m for m in MEMBERS if m != r["target"]]
        assert r["options"]["sources"] == others
        if r["sampler"] in ("hypera-transfer", "hypera-flipped"):
            kind = "source" if r["sampler"] == "hypera-transfer" else "flipped"
            assert r["source_studies"] == [f"{kind}/{r['family']}/{m}" for m in others]
        if r["family"] == "numeric":
            assert not set(NUMERIC_FIXED) & set(r["best"]["params"])


def test_design_seeds_give_each_target_its_own_sampler_seed(tiny_run: Path) -> None:
    """``--design-seeds``: a target run's sampler seed follows (target, seed), the same for
    every sampler of the pair; the tiny run's records (seed k for every target) are rerun."""
    from benchmarks.runner import is_done
    from benchmarks.runner import load_records

    setup = transfer_plan.Setup(
        families=tuple(FAMILIES), members=tuple(MEMBERS), samplers=tuple(SAMPLERS), seeds=1,
        trials=TRIALS, source_trials=SOURCE_TRIALS, epochs=2)
    _, shared = transfer_plan.plan(setup, tiny_run)
    _, own = transfer_plan.plan(
        transfer_plan.Setup(**{**setup.__dict__, "design_seeds": True}), tiny_run)
    assert [r.run_spec().key for r in own] == [r.run_spec().key for r in shared]
    seeds = {(r.family, r.target): r.run_spec().sampler_seed for r in own}
    assert all(r.run_spec().sampler_seed == seeds[(r.family, r.target)] for r in own)
    assert len(set(seeds.values())) == len(FAMILIES) * len(MEMBERS)
    records = load_records(tiny_run / "results.jsonl")
    assert all(records[r.run_spec().key]["sampler_seed"] == 0 for r in shared)
    assert all(is_done(records[r.run_spec().key], r.run_spec()) for r in shared)
    assert not any(is_done(records[r.run_spec().key], r.run_spec()) for r in own)


def test_sources_and_their_flipped_copies_are_stored(tiny_run: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tiny_run / 'sources.db'}")
    for family in FAMILIES:
        for member in MEMBERS:
            source = optuna.load_study(study_name=f"source/{family}/{member}", storage=storage)
            flipped = optuna.load_study(study_name=f"flipped/{family}/{member}", storage=storage)
            assert len(source.trials) == len(flipped.trials) == SOURCE_TRIALS
            for a, b in zip(source.trials, flipped.trials, strict=True):
                assert a.params == b.params
                if a.value is not None:
                    assert b.value == -a.value


def test_summary_rows_and_rerun_skips_everything(tiny_run: Path) -> None:
    summary = (tiny_run / "summary.md").read_text()
    assert "python -m benchmarks.transfer --out" in summary
    assert "numpy" in summary and "OMP_NUM_THREADS=1" in summary
    sections = {part.split("`", 2)[1]: part for part in summary.split("## Family ")[1:]}
    assert set(sections) == set(FAMILIES)
    for family, text in sections.items():
        for sampler in SAMPLERS:
            in_table = f"| {sampler} |" in text
            assert in_table == (family == "numeric" or sampler != "ws-cmaes"), (family, sampler)
    assert "ws-cmaes: cannot run on this family" in sections["full"]
    assert "cannot run" not in sections["numeric"]
    data = json.loads((tiny_run / "summary.json").read_text())
    for family in FAMILIES:
        fam = data["families"][family]
        assert fam["pairs"] == len(MEMBERS)
        ran = [s for s in SAMPLERS if family == "numeric" or s != "ws-cmaes"]
        assert set(fam["mean_rank"]) == set(ran)
        ranks = fam["mean_rank"].values()
        assert sum(ranks) == pytest.approx(len(ran) * (len(ran) + 1) / 2)  # ranks 1..n
        assert set(fam["trials_to_reach"]) == set(ran)
    assert set(data["families"]["full"]["cannot_run"]) == {"ws-cmaes"}
    assert (tiny_run / "transfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = (tiny_run / "results.jsonl").read_text()
    assert transfer.main([
        "--out", str(tiny_run), "--families", ",".join(FAMILIES), "--members",
        ",".join(MEMBERS), "--seeds", "1", "--trials", str(TRIALS), "--source-trials",
        str(SOURCE_TRIALS), "--samplers", ",".join(SAMPLERS), "--epochs", "2", "--no-progress",
    ]) == 0
    assert (tiny_run / "results.jsonl").read_text() == before  # nothing rerun
