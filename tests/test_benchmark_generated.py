"""The generated-split benchmark on a tiny budget: it runs, on the right split, and its numbers
mean what the report says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.generated_split import main
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
