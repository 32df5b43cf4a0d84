"""The transfer benchmark's report: ``summary.md``, ``summary.json`` and ``transfer.png``.

Rebuilt from ``results.jsonl`` and ``meta.json`` alone (``--report-only``); the numbers come
from :mod:`benchmarks.transfer_stats`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.objectives.tabular_mlp import NUMERIC_FIXED
from benchmarks.report import _json_safe
from benchmarks.run_meta import META_FILE
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import load_records
from benchmarks.summary_md import _table
from benchmarks.summary_md import fmt
from benchmarks.transfer_plan import FLIPPED
from benchmarks.transfer_plan import REFERENCE
from benchmarks.transfer_plan import SAMPLERS
from benchmarks.transfer_plan import TRANSFER
from benchmarks.transfer_plan import WS_CMAES
from benchmarks.transfer_stats import sampler_order
from benchmarks.transfer_stats import summarize_transfer


def _trials_cell(entry: dict[str, Any], n_trials: int) -> str:
    median = entry["median"]
    return f">{n_trials}" if math.isinf(median) else fmt(median)


def _ratio_cell(entry: dict[str, Any]) -> str:
    text = fmt(entry["ratio_to_transfer"])
    return f">= {text}" if entry["ratio_is_lower_bound"] else text


def _family_lines(name: str, fam: dict[str, Any]) -> list[str]:
    samplers = fam["samplers"]
    n_trials = fam["n_trials"]
    space = {
        "numeric": "ten numeric parameters; "
        + ", ".join(f"{k}={v}" for k, v in NUMERIC_FIXED.items()) + " fixed",
        "full": "twelve parameters, `activation` and `normalize` categorical",
    }.get(name, name)
    lines = [
        f"## Family `{name}` ({space})", "",
        f"Targets: {', '.join(fam['targets'])}; seeds {fam['seeds']}; {n_trials} trials per "
        f"run; sources: {fam['source_trials']} TPE trials per other member. "
        f"Pairs (target, seed) with a result for every sampler: {fam['pairs']} of "
        f"{fam['pairs_planned']}.", "",
    ]
    for sampler, reason in sorted(fam["cannot_run"].items()):
        lines += [f"**{sampler}: cannot run on this family** ({reason}); it is left out of the "
                  "ranks below.", ""]
    if not samplers:
        return lines + ["No completed runs.", ""]
    reach = fam.get("trials_to_reach", {})
    header = [
        "sampler", f"mean rank (1-{len(samplers)})", "median final loss",
        f"trials to reach {REFERENCE}'s final (median)", f"ratio to {TRANSFER}",
        "pairs reaching it", "sampler s/trial", "wall s/run",
    ]
    rows = []
    for s in samplers:
        r = reach.get(s)
        rows.append([
            s, fmt(fam["mean_rank"].get(s)), fmt(fam["final_loss_median"].get(s)),
            _trials_cell(r, n_trials) if r else "-", _ratio_cell(r) if r else "-",
            f"{r['reached']}/{r['pairs']}" if r else "-",
            fmt(fam["sampler_seconds_per_trial"].get(s)), fmt(fam["wall_seconds_per_run"].get(s)),
        ])
    lines += _table(header, rows)
    if not reach:
        lines += [f"(Trials to reach need the `{REFERENCE}` sampler, which did not run.)", ""]
    lines += ["Median final loss per target (over seeds):", ""]
    lines += _table(["target", *samplers], [
        [t, *(fmt(v.get(s)) for s in samplers)] for t, v in fam["per_target"].items()
    ])
    if fam["head_to_head"]:
        lines += ["Head to head on the same (target, seed) pairs (final best loss):", ""]
        lines += _table(["comparison", "first better", "worse", "tied"], [
            [k, str(v["better"]), str(v["worse"]), str(v["tied"])]
            for k, v in fam["head_to_head"].items()
        ])
    ranks = fam["flipped_vs_none_mean_rank"]
    if ranks:
        key = f"{FLIPPED} vs {REFERENCE}"
        h2h = fam["head_to_head"][key]
        lines += [
            f"**Flipped vs no sources**: mean rank among all samplers {FLIPPED} "
            f"{fmt(fam['mean_rank'][FLIPPED])}, {REFERENCE} {fmt(fam['mean_rank'][REFERENCE])}; "
            f"between the two alone {fmt(ranks[FLIPPED])} vs {fmt(ranks[REFERENCE])}; "
            f"{FLIPPED} better on {h2h['better']}, worse on {h2h['worse']}, tied on "
            f"{h2h['tied']} pairs.", "",
        ]
    return lines


def render_transfer_markdown(
    summary: dict[str, Any], meta: dict[str, Any], *, plot: str | None = None
) -> str:
    """``summary.md``: command, versions, threads, then one section per family."""
    invocations = meta.get("invocations", [])
    lines = ["# Transfer benchmark (leave-one-out)", ""]
    commands = list(dict.fromkeys(i["command"] for i in invocations if i.get("command")))
    if commands:
        lines += ["Produced by:", "", "```", *commands, "```", ""]
    if invocations:
        last = invocations[-1]
        m = last.get("machine", {})
        threads = ", ".join(f"{k}={v}" for k, v in last.get("threads", {}).items())
        lines += [
            f"Versions: Python {m.get('python')}, optuna {m.get('optuna')}, torch "
            f"{m.get('torch')}, numpy {m.get('numpy')}. Machine: {m.get('cpu')}, "
            f"{m.get('cores')} cores; device: {m.get('device')}.",
            f"Threads: {threads}, `torch.set_num_threads(1)` in each of {last.get('jobs')} "
            f"worker process(es). Last invocation: {last.get('started')}, "
            f"{fmt(last.get('wall_seconds', math.nan) / 60)} min for {last.get('runs_executed')} "
            f"new run(s) ({last.get('runs_failed')} failed).", "",
        ]
    seen = summary.get("threads_in_runs", [])
    if seen:
        lines += ["Threads seen inside the runs (torch.get_num_threads() and environment): "
                  + "; ".join(", ".join(f"{k}={v}" for k, v in t.items()) for t in seen) + ".",
                  ""]
    lines += [
        "Leave-one-out: each target member is optimised with the source studies of the other "
        f"members. `{TRANSFER}` gets them, `{FLIPPED}` gets them with negated values "
        f"(misleading), `{REFERENCE}` none; `{WS_CMAES}` is CMA-ES warm-started from their "
        "complete trials. Seed k fixes the target objective (split, initialisation) and "
        + ("with the target's name the samplers' seed (`--design-seeds`: every run its own "
           "startup design, shared by the samplers of a pair)"
           if any("--design-seeds" in c for c in commands) else
           "the samplers' seed (a family's targets share a seed's startup design)")
        + ", so samplers are compared on paired (target, seed) runs.", "",
        "- **Mean rank**: rank of the best loss after the last trial among the samplers on "
        "each pair (1 = best, ties share the average rank), averaged over pairs.",
        f"- **Trials to reach**: per pair, the first trial at which a sampler's best-so-far is "
        f"<= `{REFERENCE}`'s final best on that pair; median over pairs, a pair never reaching "
        f"it counts as more than the budget (`>N` when that is the median). Ratio = the "
        f"sampler's median / `{TRANSFER}`'s (2 means twice as many trials as `{TRANSFER}`; "
        "`>=` when the sampler's median is censored).", "",
    ]
    if plot:
        lines += [f"![median normalised best-so-far]({plot})", "",
                  "Plot: best-so-far per pair scaled to 0 = the best final loss of any sampler, "
                  "1 = the pair's median trial loss; median over pairs.", ""]
    for name, fam in summary["families"].items():
        lines += _family_lines(name, fam)
    return "\n".join(lines).rstrip() + "\n"


def plot_transfer(summary: dict[str, Any], path: Path) -> Path:
    """Median normalised best-so-far per family, one line per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    families = summary["families"]
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(5.5 * max(1, len(families)), 4),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    ran = {s for fam in families.values() for s in fam["samplers"]}
    colors = {s: cmap(i % 10) for i, s in enumerate(sampler_order(ran | set(SAMPLERS)))}
    for ax, (name, fam) in zip(axes.flat, families.items(), strict=False):
        top = 1.0
        for s in fam["samplers"]:
            curve = np.asarray(fam["normalized_median_curve"][s], dtype=float)
            if not len(curve):
                continue
            curve = np.where(np.isfinite(curve), curve, np.nan)
            ax.plot(np.arange(1, len(curve) + 1), curve, label=s, lw=1.5, color=colors[s])
            finite = curve[np.isfinite(curve)]
            top = max(top, float(finite.max()) if len(finite) else top)
        ax.set_ylim(-0.02, min(top, 2.0) * 1.05)
        ax.set_title(f"{name} ({fam['pairs']} pairs)", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel("normalised best-so-far (median)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Leave-one-out transfer: 0 = best final of any sampler, 1 = median trial")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def current_records(path: Path) -> list[dict[str, Any]]:
    """The latest record of every run whose task has the setup of the task's last record.

    A rerun with other ``--source-trials``, ``--trials``, members or epochs appends records of
    the new setup; older ones of the same task are left out (other samplers and seeds of the
    same setup stay, so a sampler added later joins the summary).
    """
    latest = load_records(path)
    setup: dict[str, str] = {}
    with path.open() as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                setup[r["task"]] = json.dumps([r["n_trials"], r["options"]], sort_keys=True)
    return [
        r for r in latest.values()
        if json.dumps([r["n_trials"], r["options"]], sort_keys=True) == setup[r["task"]]
    ]


def write_transfer_report(out_dir: Path) -> list[Path]:
    """Rebuilds summary.md, summary.json and transfer.png from ``out_dir``'s records."""
    records = current_records(out_dir / RESULTS_FILE) if (out_dir / RESULTS_FILE).exists() else []
    if not records:
        raise FileNotFoundError(f"No records in {out_dir / RESULTS_FILE}.")
    summary = summarize_transfer(records)
    meta_path = out_dir / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"invocations": []}
    plot = plot_transfer(summary, out_dir / "transfer.png")
    (out_dir / "summary.json").write_text(json.dumps(_json_safe(summary), indent=1) + "\n")
    markdown = render_transfer_markdown(summary, meta, plot=plot.name)
    (out_dir / "summary.md").write_text(markdown)
    return [out_dir / "summary.md", out_dir / "summary.json", plot]
