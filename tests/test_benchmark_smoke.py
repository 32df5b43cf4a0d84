"""End to end: the runner on the `tiny` suite writes records, storage, summary and plots."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from benchmarks.cli import main
from benchmarks.runner import plan_runs
from benchmarks.runner import run_suite
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import TimedSampler
from benchmarks.samplers import check_samplers
from benchmarks.samplers import hypera_import_error
from benchmarks.suites import SUITES


# Always with hypera: a package that does not import fails the run (and so these tests).
SAMPLERS = ["random", "tpe", "hypera"]
TINY = SUITES["tiny"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    code = main([
        "run", "--suite", "tiny", "--samplers", ",".join(SAMPLERS), "--out", str(out),
        "--jobs", "2", "--no-progress",
    ])
    assert code == 0
    return out


def test_records_cover_every_run_with_consistent_curves(tiny_run: Path) -> None:
    lines = (tiny_run / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    expected = {(t.name, s, k) for t in TINY.tasks for s in SAMPLERS for k in range(TINY.seeds)}
    assert {(r["task"], r["sampler"], r["seed"]) for r in records} == expected
    for r in records:
        n = r["n_trials"]
        assert len(r["values"]) == len(r["best_loss"]) == len(r["sampler_seconds"]) == n
        curve = r["best_loss"]
        assert all(a >= b for a, b in zip(curve, curve[1:], strict=False))  # non-increasing
        assert curve[-1] == min(x for x in r["losses"] if x is not None) == r["best"]["loss"]
        assert all(s >= 0 for s in r["sampler_seconds"]) and sum(r["sampler_seconds"]) > 0
        assert r["wall_seconds"] >= sum(r["sampler_seconds"])
        if r["family"] == "bbob":
            assert r["optimum"] is not None and min(r["losses"]) >= 0  # regret
        else:
            accuracies = r["user_attrs"]["test_accuracy"]
            assert len(accuracies) == n and all(0 <= a <= 1 for a in accuracies)


def test_storage_holds_one_study_per_run(tiny_run: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tiny_run / 'studies.db'}")
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    for task in TINY.tasks:
        for sampler in SAMPLERS:
            for seed in range(TINY.seeds):
                name = f"{task.name}/{sampler}/seed{seed}"
                assert summaries[name].n_trials == task.n_trials


def test_summary_and_plots_name_every_sampler_and_task(tiny_run: Path) -> None:
    summary = (tiny_run / "summary.md").read_text()
    head = "\n".join(summary.splitlines()[:8])  # the command comes first
    assert "python -m benchmarks run --suite tiny --samplers" in head
    assert "Machine:" in summary and "optuna-dashboard sqlite:///" in summary
    for task in TINY.tasks:
        assert f"| {task.name} (" in summary
    for sampler in SAMPLERS:
        assert f"| {sampler} |" in summary
    for name in ("convergence.png", "ranks.png", "scalability.png"):
        data = (tiny_run / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    summary_json = json.loads((tiny_run / "summary.json").read_text())
    assert set(summary_json["samplers"]) == set(SAMPLERS)
    assert set(summary_json["tasks"]) == {t.name for t in TINY.tasks}


def test_rerun_skips_recorded_runs_and_report_rebuilds(tiny_run: Path) -> None:
    runs = plan_runs(TINY, samplers=SAMPLERS)
    result = run_suite(runs, out_dir=tiny_run, storage_url=f"sqlite:///{tiny_run / 'studies.db'}",
                       jobs=2, progress=False)
    assert (result.skipped, result.completed, result.failed) == (len(runs), 0, [])
    (tiny_run / "summary.md").unlink()
    assert main(["report", "--out", str(tiny_run)]) == 0
    rebuilt = (tiny_run / "summary.md").read_text()
    assert "Summary rebuilt by: `python -m benchmarks report" in rebuilt


def test_design_seeds_give_each_task_its_own_sampler_seed_and_rerun_what_differs(
        tiny_run: Path) -> None:
    """``--design-seeds``: the sampler's seed follows (task, seed), the same for every sampler
    of a pair, while seed k still names the run; records of the other seeding are not
    reused."""
    shared = plan_runs(TINY, samplers=SAMPLERS)
    own = plan_runs(TINY, samplers=SAMPLERS, design_seeds=True)
    assert [r.key for r in own] == [r.key for r in shared]
    assert all(r.sampler_seed == r.seed for r in shared)
    by_task = {(r.task.name, r.seed): r.sampler_seed for r in own}
    assert all(r.sampler_seed == by_task[(r.task.name, r.seed)] for r in own)
    assert len(set(by_task.values())) == len(by_task)
    from benchmarks.runner import is_done
    from benchmarks.runner import load_records

    records = load_records(tiny_run / "results.jsonl")
    assert all(is_done(records[r.key], r) for r in shared)
    assert not any(is_done(records[r.key], r) for r in own)


def test_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown sampler"):
        check_samplers(["random", "nope"])
    with pytest.raises(ValueError, match="Unknown task"):
        plan_runs(TINY, tasks=["nope"])
    assert main(["run", "--suite", "tiny", "--samplers", "nope", "--out", str(tmp_path)]) == 2
    assert main(["report", "--out", str(tmp_path)]) == 2  # no results there


def test_the_hypera_package_imports() -> None:
    # The CLI turns an import failure into a friendly error; a test must not.
    assert hypera_import_error() is None


def test_hypera_samplers_say_why_they_are_unavailable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import benchmarks.samplers as samplers

    monkeypatch.setattr(samplers, "hypera_import_error", lambda: "ImportError: not yet")
    with pytest.raises(SamplerUnavailableError, match="not yet"):
        samplers.check_samplers(["tpe", "hypera-cooperative"])
    samplers.check_samplers(["tpe", "gp"])  # built-ins are unaffected
    # Users of the CLI get the reason and a way out, not a traceback.
    assert main(["run", "--suite", "tiny", "--samplers", "hypera", "--out", str(tmp_path)]) == 2
    assert "not yet" in capsys.readouterr().err


def test_timed_sampler_delegates_and_times_every_trial() -> None:
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", -1, 1) ** 2 + trial.suggest_int("n", 0, 3)

    plain = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    timed_sampler = TimedSampler(optuna.samplers.TPESampler(seed=3))
    timed = optuna.create_study(sampler=timed_sampler)
    plain.optimize(objective, n_trials=12)
    timed.optimize(objective, n_trials=12)
    assert [t.params for t in plain.trials] == [t.params for t in timed.trials]
    seconds = timed_sampler.seconds_per_trial(12)
    assert len(seconds) == 12 and all(s > 0 for s in seconds)
    assert str(timed_sampler) == "TPESampler"


def test_sampler_parts_times_every_part_and_restores_the_package(
        capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import sampler_parts

    before = [getattr(owner, name) for owner, name, _, _ in sampler_parts.PARTS]
    sampler_parts.main(["--trials", "14", "--dim", "3"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(sampler_parts.PARTS) + 1  # the header and one row per part
    ms = {line.split("|")[1].strip(". ").strip(): float(line.split("|")[2]) for line in rows[1:]}
    assert ms["the core's ask"] > 0 and ms["decide"] > 0  # 7 trials after 7 startup ones
    assert ms["the core's ask"] <= ms["sample_relative"]  # nested parts are within their caller
    assert [getattr(owner, name) for owner, name, _, _ in sampler_parts.PARTS] == before


def test_a_journal_file_can_hold_the_studies(tmp_path: Path) -> None:
    """``--storage x.log``: a journal file the dashboard reads, far faster to fill than SQLite."""
    from optuna_hypera.storages import make_storage

    log = tmp_path / "studies.log"
    code = main(["run", "--suite", "tiny", "--samplers", "random", "--seeds", "1",
                 "--out", str(tmp_path), "--storage", str(log), "--no-progress"])
    assert code == 0
    summaries = {s.study_name: s.n_trials
                 for s in optuna.get_all_study_summaries(make_storage(str(log)))}
    assert summaries == {f"{t.name}/random/seed0": t.n_trials for t in TINY.tasks}
    assert f"optuna-dashboard {log}" in (tmp_path / "summary.md").read_text()
