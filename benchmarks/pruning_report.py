"""The pruning benchmark's statistics and outputs: ``summary.md``, ``summary.json``, the plot.

Everything is computed from the records of ``results.jsonl`` (see :mod:`benchmarks.pruning_run`).
The unit of comparison is a (task, seed) pair: the samplers of one pruner ran on the same task,
the same run seed and the same Hyperband brackets. Per (task group, pruner), for each sampler:

- the median over seeds of the best complete loss at the full budget, per task;
- the mean rank of that loss over the (task, seed) pairs every sampler ran (1 = best, ties
  averaged, :func:`benchmarks.metrics.mean_ranks`);
- the epochs needed to reach the *target*, TPE-with-Hyperband's median final loss on the task:
  per run the cumulative epochs after the first trial whose best complete loss is <= the
  target, then the median over the group's (task, seed) pairs with a run that never reaches it
  counted as infinite (``>budget`` when that median is infinite), with a distribution-free
  95% interval for that median (``median_interval``: its order statistics, after 0.19).

A second table ranks every (sampler, pruner) combination against each other on the same pairs,
which says whether a pruner helps a sampler at equal epochs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from collections.abc import Sequence
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binom

from benchmarks import metrics
from benchmarks.pruning_run import PRUNERS
from benchmarks.pruning_run import load_pruning_records


REFERENCE = ("tpe", "hyperband")
"""(sampler, pruner) whose median final loss is every task's target."""
SAMPLER_ORDER = ("hypera", "tpe", "gp", "random")
SUMMARY_MD, SUMMARY_JSON, PLOT = "summary.md", "summary.json", "pruning.png"
Pair = tuple[str, int]


def epochs_to_reach(
    epochs: Sequence[int], best: Sequence[float | None], target: float
) -> int | None:
    """Cumulative epochs after the first trial whose best-so-far is <= ``target``; ``None``
    when no trial gets there (``best`` is ``None`` before the first complete trial)."""
    for used, value in zip(epochs, best, strict=True):
        if value is not None and value <= target:
            return int(used)
    return None


def censored_median(values: Sequence[int | None]) -> float:
    """Median where ``None`` (never reached) counts as ``inf``; ``nan`` if empty."""
    if not values:
        return math.nan
    return metrics.median([math.inf if v is None else float(v) for v in values])


def median_interval(values: Sequence[int | None], level: float = 0.95,
                    ) -> tuple[float, float]:
    """Distribution-free interval for the median of the runs' ``values`` (``None``: never
    reached, ``inf``): the order statistics ``x_(k)`` and ``x_(n+1-k)``, ``k`` the largest
    with P(Binomial(n, 1/2) < k) <= (1 - level) / 2, which cover the median with at least
    ``level`` (Conover, Practical Nonparametric Statistics, 3.2); ``(-inf, inf)`` with too few
    runs, ``(nan, nan)`` with none."""
    if not values:
        return math.nan, math.nan
    x = sorted(math.inf if v is None else float(v) for v in values)
    n = len(x)
    # k = how many j have P(B <= j) = P(B < j + 1) <= (1 - level) / 2.
    k = int(np.searchsorted(binom.cdf(np.arange(n), n, 0.5), (1.0 - level) / 2.0, "right"))
    if k == 0:
        return -math.inf, math.inf
    return x[k - 1], x[n - k]


def final_best(record: Mapping[str, Any]) -> float:
    """The best complete loss at the end of the run; ``inf`` when no trial completed."""
    best = record["curve"]["best"]
    return math.inf if not best or best[-1] is None else float(best[-1])


def best_on_grid(record: Mapping[str, Any], grid: np.ndarray) -> np.ndarray:
    """The run's best complete loss after ``grid`` epochs (a step function; ``inf`` before the
    first complete trial)."""
    epochs = np.asarray(record["curve"]["epochs"], dtype=float)
    best = np.array([math.inf if b is None else b for b in record["curve"]["best"]], dtype=float)
    index = np.searchsorted(epochs, grid, side="right") - 1
    return np.where(index >= 0, best[np.clip(index, 0, None)], math.inf)


def sampler_order(names: set[str] | Sequence[str]) -> list[str]:
    known = {n: i for i, n in enumerate(SAMPLER_ORDER)}
    return sorted(set(names), key=lambda n: (known.get(n, len(known)), n))


def _pair_ranks(finals: Mapping[str, Mapping[Pair, float]]) -> tuple[dict[str, float], int]:
    """Mean rank over the pairs every entry ran, and their number."""
    names = list(finals)
    pairs = sorted(set.intersection(*(set(finals[n]) for n in names))) if names else []
    index = {p: i for i, p in enumerate(pairs)}
    return metrics.mean_ranks({n: {index[p]: finals[n][p] for p in pairs} for n in names}), len(
        pairs)


def _num(value: float) -> float | str | None:
    """JSON-safe: ``inf`` as the string ``"inf"`` (``"-inf"``), ``nan`` as ``None``."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every table's numbers, per task group and pruner."""
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_group[r["group"]].append(r)
    groups = {}
    for group, recs in sorted(by_group.items()):
        tasks = sorted({r["task"] for r in recs})
        runs: dict[tuple[str, str], dict[Pair, dict[str, Any]]] = defaultdict(dict)
        for r in recs:
            runs[(r["sampler"], r["pruner"])][(r["task"], r["seed"])] = r
        targets: dict[str, float | None] = {}
        for task in tasks:
            ref = [final_best(r) for (t, _), r in runs.get(REFERENCE, {}).items() if t == task]
            targets[task] = metrics.median(ref) if ref else None
        samplers = sampler_order({s for s, _ in runs})
        pruners = [p for p in PRUNERS if any(q == p for _, q in runs)]
        tables = {}
        for pruner in pruners:
            finals = {s: {k: final_best(r) for k, r in runs[(s, pruner)].items()}
                      for s in samplers if (s, pruner) in runs}
            ranks, n_pairs = _pair_ranks(finals)
            rows = {}
            for sampler, per_pair in finals.items():
                pair_runs = runs[(sampler, pruner)]
                reach = [
                    epochs_to_reach(r["curve"]["epochs"], r["curve"]["best"], target)
                    for (task, _), r in sorted(pair_runs.items())
                    if (target := targets[task]) is not None
                ]
                rows[sampler] = {
                    "median_final": {
                        t: _num(metrics.median(v)) if (v := [x for (tt, _), x in
                                                             per_pair.items() if tt == t])
                        else None for t in tasks},
                    "mean_rank": _num(ranks[sampler]),
                    "epochs_to_target": _num(censored_median(reach)) if reach else None,
                    "epochs_to_target_95": [_num(v) for v in median_interval(reach)]
                    if reach else None,
                    "reached": [sum(x is not None for x in reach), len(reach)],
                    "median_trials": metrics.median([r["n_trials"] for r in pair_runs.values()]),
                    "pruned_share": (sum(r["n_pruned"] for r in pair_runs.values())
                                     / max(1, sum(r["n_trials"] for r in pair_runs.values()))),
                    "median_epochs_used": metrics.median(
                        [r["epochs_used"] for r in pair_runs.values()]),
                    "seeds": len(pair_runs),
                }
            tables[pruner] = {"n_pairs": n_pairs, "rows": rows}
        combos = {f"{s}+{p}": {k: final_best(r) for k, r in per.items()}
                  for (s, p), per in runs.items()}
        combo_ranks, combo_pairs = _pair_ranks(combos)
        first = recs[0]
        groups[group] = {
            "tasks": tasks, "samplers": samplers, "pruners": pruners,
            "budget": {t: next(r["budget"] for r in recs if r["task"] == t) for t in tasks},
            "max_steps": {t: next(r["max_steps"] for r in recs if r["task"] == t) for t in tasks},
            "loss_label": first["loss_label"],
            "targets": {t: None if v is None else _num(v) for t, v in targets.items()},
            "tables": tables,
            "combinations": {"n_pairs": combo_pairs,
                             "mean_rank": {k: _num(v) for k, v in sorted(
                                 combo_ranks.items(), key=lambda kv: kv[1])}},
        }
    return {"reference": "+".join(REFERENCE), "groups": groups}


def _cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value == "inf":
        return "inf"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def render_markdown(summary: dict[str, Any], *, command: str, header: Sequence[str] = ()) -> str:
    lines = ["# Pruning benchmark: samplers under pruners at equal epochs", "",
             f"Command: `{command}`", "", *header]
    ref = summary["reference"]
    for group, g in summary["groups"].items():
        budgets = ", ".join(
            f"{t} {g['budget'][t]} epochs = {g['budget'][t] / g['max_steps'][t]:g} x "
            f"{g['max_steps'][t]}" for t in g["tasks"])
        lines += ["", f"## {group}", "", f"Budgets: {budgets}. Loss: {g['loss_label']} "
                  f"(best complete trial; lower is better). Target: {ref}'s median final loss "
                  "per task (" + ", ".join(f"{t} {_cell(v)}" for t, v in g["targets"].items())
                  + ")."]
        for pruner, table in g["tables"].items():
            lines += ["", f"### pruner: {pruner}", "",
                      "| sampler | " + " | ".join(f"median best, {t}" for t in g["tasks"])
                      + f" | mean rank ({table['n_pairs']} pairs) | epochs to target "
                      "(median) | its 95% interval | reached | trials (median) | pruned |",
                      "|---|" + "---:|" * (len(g["tasks"]) + 6)]
            for sampler, row in table["rows"].items():
                to_target = row["epochs_to_target"]
                reach = ">budget" if to_target == "inf" else _cell(to_target)
                band = row.get("epochs_to_target_95") or [None, None]
                interval = ("-" if band[0] is None else "too few runs" if band[0] == "-inf"
                            else "-".join(">budget" if v == "inf" else _cell(v) for v in band))
                lines.append(
                    f"| {sampler} | "
                    + " | ".join(_cell(row["median_final"][t]) for t in g["tasks"])
                    + f" | {_cell(row['mean_rank'], 3)} | {reach} | {interval} | "
                    f"{row['reached'][0]}/{row['reached'][1]} | {_cell(row['median_trials'])} | "
                    f"{row['pruned_share']:.0%} |")
        combos = g["combinations"]
        lines += ["", f"### every sampler x pruner, mean rank over the same "
                  f"{combos['n_pairs']} (task, seed) pairs", "",
                  "| sampler+pruner | mean rank |", "|---|---:|"]
        lines += [f"| {k} | {_cell(v, 3)} |" for k, v in combos["mean_rank"].items()]
    return "\n".join(lines) + "\n"


def plot_pruning(records: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Best complete loss against epochs consumed: median and 25-75% band over seeds, one
    panel per (task, pruner); ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    tasks = sorted({r["task"] for r in records})
    pruners = [p for p in PRUNERS if any(r["pruner"] == p for r in records)]
    samplers = sampler_order({r["sampler"] for r in records})
    colors = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(samplers)}
    fig, axes = plt.subplots(len(tasks), len(pruners), squeeze=False,
                             figsize=(4.2 * len(pruners), 3.0 * len(tasks)))
    for row, task in enumerate(tasks):
        budget = max(r["budget"] for r in records if r["task"] == task)
        grid = np.linspace(0, budget, 201)
        for col, pruner in enumerate(pruners):
            ax = axes[row][col]
            for sampler in samplers:
                runs = [r for r in records if (r["task"], r["pruner"], r["sampler"])
                        == (task, pruner, sampler)]
                if not runs:
                    continue
                values = np.array([best_on_grid(r, grid) for r in runs])
                with np.errstate(invalid="ignore"):  # inf - inf before a first complete trial
                    mid, low, high = (np.quantile(values, q, axis=0) for q in (0.5, 0.25, 0.75))
                mid, low, high = (np.where(np.isfinite(a), a, np.nan) for a in (mid, low, high))
                ax.plot(grid, mid, color=colors[sampler], lw=1.4, label=f"{sampler}")
                ax.fill_between(grid, low, high, color=colors[sampler], alpha=0.15, lw=0)
            ax.set_title(f"{task} / {pruner}", fontsize=9)
            ax.set_xlabel("epochs consumed", fontsize=8)
            ax.set_ylabel("best loss", fontsize=8)
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False)
    fig.suptitle("Best complete loss vs epochs: median over seeds, band = 25%-75%")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_pruning_report(out_dir: Path, *, command: str, header: Sequence[str] = ()
                         ) -> list[Path]:
    """``summary.md``, ``summary.json`` and ``pruning.png`` from ``out_dir/results.jsonl``."""
    from benchmarks.runner import RESULTS_FILE

    path = out_dir / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"No {path}: run the benchmark first.")
    records = list(load_pruning_records(path).values())
    summary = summarize(records)
    (out_dir / SUMMARY_JSON).write_text(json.dumps(
        {"command": command, **summary}, indent=2, allow_nan=False) + "\n")
    (out_dir / SUMMARY_MD).write_text(render_markdown(summary, command=command, header=header))
    written = [out_dir / SUMMARY_MD, out_dir / SUMMARY_JSON]
    plot = plot_pruning(records, out_dir / PLOT)
    return written + ([plot] if plot is not None else [])
