"""PNG plots: convergence per task, ranks over the budget, sampler time per trial."""

from __future__ import annotations

from collections.abc import Sequence
import math
from pathlib import Path
from typing import Any

import matplotlib


matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import metrics  # noqa: E402
from benchmarks.summary import TaskResults  # noqa: E402


def _colors(samplers: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {s: cmap(i % 10) for i, s in enumerate(samplers)}


def _masked(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def plot_convergence(tasks: Sequence[TaskResults], samplers: Sequence[str], path: Path) -> Path:
    """Median best-so-far loss with its interquartile band, one panel per task."""
    ncols = min(4, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    colors = _colors(samplers)
    for ax, task in zip(axes.flat, tasks, strict=False):
        finite_values = []
        for sampler in samplers:
            if sampler not in task.runs:
                continue
            mid, low, high = (_masked(a) for a in metrics.curve_band(task.curves(sampler)))
            x = np.arange(1, len(mid) + 1)
            n = len(task.runs[sampler])
            ax.plot(x, mid, color=colors[sampler], label=f"{sampler} (n={n})", lw=1.5)
            ax.fill_between(x, low, high, color=colors[sampler], alpha=0.15, lw=0)
            finite_values += [v for v in np.concatenate([low, high]) if np.isfinite(v)]
        positive = [v for v in finite_values if v > 0]
        if positive and len(positive) == len(finite_values) and max(positive) / min(positive) > 50:
            ax.set_yscale("log")
        ax.set_title(task.name, fontsize=10)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best {task.loss_label}", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, [label.split(" (")[0] for label in labels], loc="lower center",
               ncol=min(len(labels), 8), frameon=False)
    fig.suptitle("Best-so-far loss: median over seeds, band = 25%-75% quantiles")
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ranks(
    tasks: Sequence[TaskResults], samplers: Sequence[str], summary: dict[str, Any], path: Path
) -> Path:
    """Mean rank over the budget (averaged over tasks) and the final mean rank per sampler."""
    grid = np.linspace(0, 1, 51)
    per_sampler: dict[str, list[np.ndarray]] = {s: [] for s in samplers}
    for task in tasks:
        ranks = metrics.anytime_mean_ranks({s: task.curves_by_seed(s) for s in task.runs})
        for sampler, series in ranks.items():
            fractions = np.arange(1, len(series) + 1) / len(series)
            per_sampler[sampler].append(np.interp(grid, fractions, series))
    colors = _colors(samplers)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=(2, 1))
    for sampler in samplers:
        if per_sampler[sampler]:
            left.plot(grid * 100, np.nanmean(per_sampler[sampler], axis=0), label=sampler,
                      color=colors[sampler])
    left.set_xlabel("% of the trial budget")
    left.set_ylabel("mean rank (1 = best)")
    left.set_title("Anytime mean rank, averaged over tasks")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    final = [summary["mean_rank"][s] for s in samplers]
    right.barh(samplers, final, color=[colors[s] for s in samplers])
    right.invert_yaxis()
    right.set_xlabel("mean rank after the last trial")
    right.set_title("Suite mean rank")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scalability(
    tasks: Sequence[TaskResults], samplers: Sequence[str], summary: dict[str, Any], path: Path
) -> Path:
    """Sampler seconds per trial against the trial number and against the BBOB dimension."""
    colors = _colors(samplers)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for sampler in samplers:
        series = [r["sampler_seconds"] for t in tasks for r in t.runs.get(sampler, {}).values()]
        if not series:
            continue
        length = max(len(s) for s in series)
        mid = [np.median([s[i] for s in series if len(s) > i]) for i in range(length)]
        left.plot(np.arange(1, length + 1), mid, label=sampler, color=colors[sampler], lw=1.2)
        by_dim = summary["scalability"][sampler]["seconds_by_dim"]
        dims = sorted(int(d) for d in by_dim)
        if dims:
            right.plot(dims, [by_dim[d] for d in dims], "o-", label=sampler,
                       color=colors[sampler])
    left.set_yscale("log")
    left.set_xlabel("trial number")
    left.set_ylabel("seconds in the sampler")
    left.set_title("Sampler time per trial (median over all runs)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.set_xscale("log")
    right.set_yscale("log")
    scal = summary["scalability"]
    dims_all = sorted({int(d) for s in samplers for d in scal[s]["seconds_by_dim"]})
    if dims_all:
        right.set_xticks(dims_all, [str(d) for d in dims_all])
        right.minorticks_off()
    right.set_xlabel("BBOB dimension")
    right.set_ylabel("seconds per trial")
    right.set_title("Sampler time per trial vs dimension")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    tasks: Sequence[TaskResults], samplers: Sequence[str], summary: dict[str, Any], out_dir: Path
) -> list[Path]:
    """All plots into ``out_dir``; returns their paths."""
    return [
        plot_convergence(tasks, samplers, out_dir / "convergence.png"),
        plot_ranks(tasks, samplers, summary, out_dir / "ranks.png"),
        plot_scalability(tasks, samplers, summary, out_dir / "scalability.png"),
    ]
