"""The generated-split benchmark on a tiny budget: it runs, on the right split, and its numbers
mean what the report says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.generated_split import main
from benchmarks.generated_split import pairs
from optuna_hypera._families import split_of


def test_a_tiny_run_reports_the_right_split(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            ) -> None:
    main(["--per-family", "1", "--families", "integer,categorical", "--trials", "26",
          "--jobs", "1", "--variants", "critics,startup-3", "--split", "validation",
          "--out", str(tmp_path)])
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["split"] == "validation" and data["meta"]["checkpoints"] == [25]
    assert [r["family"] for r in data["rows"]] == ["integer", "categorical"]
    for row in data["rows"]:
        assert split_of(row["seed"]) == "validation"
        for name in ("critics", "startup-3"):
            assert 0.0 <= row["regret"][name][0] <= 1.0
            assert row["best"][name][0] < 5.0  # normalized values: median 0, spread 1
    assert "critics vs startup-3" in capsys.readouterr().out


def test_new_variants_need_weights(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--variants", "new", "--out", str(tmp_path)])


def test_pairs_merge_runs_on_the_same_tasks_and_count_wins(tmp_path: Path) -> None:
    def write(name: str, best: dict[tuple[str, int], dict[str, list[float]]]) -> str:
        rows = [{"family": fam, "d": 3, "seed": seed, "best": v}
                for (fam, seed), v in best.items()]
        meta = {"command": name, "checkpoints": [25, 50]}
        (tmp_path / name).write_text(json.dumps({"meta": meta, "rows": rows}))
        return str(tmp_path / name)
    a = write("a.json", {("bowl", 1): {"x": [1.0, 0.0]}, ("bowl", 2): {"x": [0.0, 0.0]},
                         ("peaks", 3): {"x": [2.0, 2.0]}})
    b = write("b.json", {("bowl", 1): {"y": [2.0, 0.0]}, ("bowl", 2): {"y": [1.0, -1.0]},
                         ("peaks", 3): {"y": [1.0, 1.0]}, ("peaks", 4): {"y": [0.0, 0.0]}})
    text = pairs([a, b], [("x", "y")])
    assert "3 tasks every variant ran" in text  # peaks 4 has no x
    at25, at50 = text.split("**At 50")
    assert "| bowl | 2 | 2/0 |" in at25 and "| peaks | 1 | 0/1 |" in at25
    assert "| **all** | 3 | 2/1 |" in at25
    assert "| bowl | 2 | 0/1 |" in at50  # an exact tie is neither
    # A shorter run: only the checkpoints every run reached.
    short = json.loads(Path(a).read_text())
    short["meta"]["checkpoints"] = [25]
    short["rows"] = [{**r, "best": {"x": r["best"]["x"][:1]}} for r in short["rows"]]
    (tmp_path / "short.json").write_text(json.dumps(short))
    text = pairs([b, str(tmp_path / "short.json")], [("x", "y")])
    assert "**At 25" in text and "**At 50" not in text and "| **all** | 3 | 2/1 |" in text
    # Two runs of one variant name (other weights) held against each other by renaming.
    text = pairs([f"{a}@x=x1", f"{a}@x=x2", f"{b}@y=x"],
                 [("x1", "x")])
    assert "| **all** | 3 | 2/1 |" in text.split("**At 50")[0]


def test_optuna_samplers_run_on_the_same_tasks_and_refits_are_restored(tmp_path: Path) -> None:
    from benchmarks.generated_split import run
    from optuna_hypera import _surrogate
    from optuna_hypera._families import draw
    from optuna_hypera._weights import pretrained_path

    task = draw("validation", 1, 0, dims=(3,), families=("separable_bowl",))[0]
    steps = _surrogate.REFIT_STEPS
    out = run(task, 1, 26, ("optuna-tpe", "optuna-hypera", "new-log-ei-refit-1"),
              str(pretrained_path()))
    assert _surrogate.REFIT_STEPS == steps
    assert set(out) == {"optuna-tpe", "optuna-hypera", "new-log-ei-refit-1"}
    for regret, best in out.values():
        assert len(regret) == len(best) == 1 and 0.0 <= regret[0] <= 1.0
