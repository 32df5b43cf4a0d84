from __future__ import annotations

from pathlib import Path
import subprocess
import sys


ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_points_to_the_dashboard(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'demo.db'}"
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--trials", "14",
         "--storage", storage],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "best value" in out
    assert f"optuna-dashboard {storage}" in out
    assert "last proposal: from trial" in out
