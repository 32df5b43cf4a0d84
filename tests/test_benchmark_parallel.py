"""The parallel-quality benchmark: the tasks' optima, the summary's numbers on hand-made
records, and a tiny run end to end (journal files; PostgreSQL when it is reachable)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from _services import PG_URL
from _services import needs_postgres
import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from benchmarks import parallel
from benchmarks.parallel_report import render
from benchmarks.parallel_run import ParallelRun
from benchmarks.parallel_tasks import make_task
from benchmarks.parallel_tasks import parse_task
from benchmarks.parallel_tasks import task_optimum
from optuna_hypera.storages import make_storage


SAMPLERS = ["random", "hypera"]
WORKERS = [1, 2]
TRIALS = 12  # more than HyperaSampler's 7 startup trials, so its agents propose too
TASK = "quadratic-d3"


# ----------------------------------------------------------------------------- tasks


def test_task_names_and_optima() -> None:
    assert parse_task("multimodal-d6") == ("multimodal", 6)
    for bad in ("rosenbrock-d2", "gp-d0", "gp"):
        with pytest.raises(ValueError, match=bad):
            parse_task(bad)
    points = np.random.default_rng(0).uniform(size=(20_000, 4))
    for family in ("quadratic", "multimodal", "gp"):
        task = make_task(f"{family}-d4", seed=1)
        optimum, exact = task_optimum(task)
        assert exact == (family != "gp")
        assert optimum <= task(points).min()
        if exact:  # attained at the bowl's centre
            assert task(task.params["opt"][None])[0] == pytest.approx(optimum, abs=1e-12)
    def weights(seed: int) -> list[float]:
        return make_task("gp-d4", seed=seed).params["w"].tolist()

    assert weights(1) == weights(1) != weights(2)  # the seed fixes the instance


# ----------------------------------------------------------------------------- summary


def _record(sampler: str, workers: int, seed: int, regret: float) -> dict[str, Any]:
    return {"task": "t-d2", "sampler": sampler, "workers": workers, "storage": "journal",
            "seed": seed, "n_trials": 10, "sleep": 0.1, "regret": regret,
            "optimum_exact": True, "overlap": float(workers), "sampler_seconds_per_trial": 0.01,
            "wall_seconds": 1.0}


def test_summary_medians_ratios_and_ranks() -> None:
    regrets = {("a", 1): [1.0, 3.0, 2.0], ("a", 4): [4.0, 4.0, 6.0],
               ("b", 1): [2.0, 1.0, 5.0], ("b", 4): [2.0, 2.0, 2.0]}
    records = [_record(s, w, k, v) for (s, w), vs in regrets.items() for k, v in enumerate(vs)]
    text = render(records, command="cmd", started="today", sampler_order=["b"])
    # Medians a: 2 (1 worker), 4 (4 workers): ratio 2; b: 2 and 2: ratio 1.
    assert "| b | journal | 1 | 3 | 2 | 1 |" in text
    assert "| a | journal | 4 | 3 | 4 | 2 |" in text
    assert "| b | journal | 4 | 3 | 2 | 1 |" in text
    assert "| a | journal | 1 | 2 |" in text  # geometric mean over the one task
    # 1 worker: seed 0 a, seed 1 b, seed 2 a win -> a 4/3, b 5/3; 4 workers: b wins all three.
    assert "| 1 | journal | 3 | 1.67 | 1.33 |" in text
    assert "| 4 | journal | 3 | 1 | 2 |" in text


# ----------------------------------------------------------------------------- end to end


def _args(out: Path, storage: str, *extra: str) -> list[str]:
    return ["--samplers", ",".join(SAMPLERS), "--workers", *map(str, WORKERS),
            "--storages", storage, "--trials", str(TRIALS), "--seeds", "1", "--sleep", "0.01",
            "--tasks", TASK, "--out", str(out), *extra]


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _overlapping(trials: list[FrozenTrial]) -> bool:
    spans = [(t.datetime_start, t.datetime_complete) for t in trials]
    return any(a0 < b1 and b0 < a1 for (a0, a1), (b0, b1) in itertools.combinations(spans, 2))


def _check_run(out: Path, storage: str, capsys: pytest.CaptureFixture[str]) -> None:
    records = _records(out)
    assert sorted((r["sampler"], r["workers"]) for r in records) == sorted(
        itertools.product(SAMPLERS, WORKERS))
    for r in records:
        assert r["storage"] == storage and r["task"] == TASK and r["seed"] == 0
        assert r["n_complete"] == TRIALS and r["states"] == {"COMPLETE": TRIALS}
        assert r["best_value"] == min(r["values"])
        assert r["regret"] == pytest.approx(r["best_value"] - r["optimum"]) and r["regret"] >= 0
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Parallel quality")
    assert "python -m benchmarks.parallel --samplers random,hypera" in summary
    for sampler, w in itertools.product(SAMPLERS, WORKERS):
        assert f"| {sampler} | {storage} | {w} | 1 |" in summary
    assert summary in capsys.readouterr().out


def _check_rerun_skips(out: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = (out / "results.jsonl").read_text()
    assert parallel.main(argv) == 0
    assert (out / "results.jsonl").read_text() == before
    assert "0 run(s) recorded, 4 already recorded" in capsys.readouterr().out


def test_tiny_run_on_journal_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, journals = tmp_path / "out", tmp_path / "journals"
    argv = _args(out, "journal", "--journal-dir", str(journals))
    assert parallel.main(argv) == 0
    _check_run(out, "journal", capsys)
    for r in _records(out):
        name = ParallelRun(TASK, r["sampler"], r["workers"], "journal", 0, TRIALS, 0.01).study_name
        study = optuna.load_study(study_name=name,
                                  storage=make_storage(str(journals / f"{name}.log")))
        trials = study.get_trials(deepcopy=False)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * TRIALS
        assert [t.value for t in trials] == r["values"]
        if r["workers"] == 2:  # both workers were in the study at once
            assert _overlapping(trials)
    _check_rerun_skips(out, argv, capsys)


@needs_postgres
def test_tiny_run_on_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = _args(out, "postgresql", "--postgresql-url", PG_URL)
    assert parallel.main(argv) == 0
    _check_run(out, "postgresql", capsys)
    names = optuna.get_all_study_names(storage=make_storage(PG_URL, heartbeat_interval=None))
    assert not [n for n in names if n.startswith(f"parallel-{TASK}-")]  # deleted after each run
    _check_rerun_skips(out, argv, capsys)
