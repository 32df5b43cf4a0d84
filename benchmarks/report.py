"""Turns ``results.jsonl`` into ``summary.md``, ``summary.json`` and PNG plots.

The numbers come from :mod:`benchmarks.summary`; the write-up's claims appear only as targets
next to the measured values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.plots import write_plots
from benchmarks.run_meta import META_FILE
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import load_records
from benchmarks.summary import collect
from benchmarks.summary import summarize
from benchmarks.summary_md import render_markdown


def write_report(out_dir: Path, *, command: str | None = None) -> list[Path]:
    """Rebuilds summary.md, summary.json and the plots from ``out_dir``; returns their paths."""
    records = list(load_records(out_dir / RESULTS_FILE).values())
    if not records:
        raise FileNotFoundError(f"No records in {out_dir / RESULTS_FILE}.")
    summary = summarize(records)
    meta_path = out_dir / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"invocations": []}
    tasks, samplers = collect(records)
    plots = write_plots(tasks, samplers, summary, out_dir)
    (out_dir / "summary.json").write_text(json.dumps(_json_safe(summary), indent=1) + "\n")
    markdown = render_markdown(summary, meta, plots=[p.name for p in plots], command=command)
    (out_dir / "summary.md").write_text(markdown)
    return [out_dir / "summary.md", out_dir / "summary.json", *plots]


def _json_safe(value: Any) -> Any:
    """NaN/inf become ``None`` and dict keys strings, so the JSON is standard."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
