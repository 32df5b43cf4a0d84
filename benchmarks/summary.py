"""The summary of ``results.jsonl`` records as plain data (what ``summary.json`` holds).

All numbers come from :mod:`benchmarks.metrics`; :mod:`benchmarks.summary_md` and
:mod:`benchmarks.plots` render them, :mod:`benchmarks.report` writes the files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import math
from typing import Any

from benchmarks import metrics
from benchmarks.samplers import SAMPLER_NAMES


@dataclass
class TaskResults:
    """All records of one task: ``runs[sampler][seed] -> record``."""

    name: str
    family: str
    loss_label: str
    score_label: str | None
    options: dict[str, Any]
    runs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    def curves_by_seed(self, sampler: str) -> dict[int, list[float]]:
        return {seed: _floats(r["best_loss"]) for seed, r in sorted(self.runs[sampler].items())}

    def curves(self, sampler: str) -> list[list[float]]:
        return list(self.curves_by_seed(sampler).values())

    def finals(self, sampler: str) -> dict[int, float]:
        return {seed: _floats(r["best_loss"])[-1] for seed, r in self.runs[sampler].items()}

    def best_scores(self, sampler: str) -> list[float]:
        """Score (test accuracy, Dice) of each seed's best-loss trial."""
        scores = []
        for record in self.runs[sampler].values():
            best = record.get("best") or {}
            if best.get("score") is not None:
                scores.append(float(best["score"]))
        return scores


def _floats(values: Iterable[float | None]) -> list[float]:
    return [math.inf if v is None else float(v) for v in values]


def sampler_order(names: Iterable[str]) -> list[str]:
    """Known samplers in registry order, then the rest alphabetically."""
    known = {n: i for i, n in enumerate(SAMPLER_NAMES)}
    return sorted(set(names), key=lambda n: (known.get(n, len(known)), n))


def collect(records: Iterable[dict[str, Any]]) -> tuple[list[TaskResults], list[str]]:
    """Groups records by task (first-seen order) and lists the samplers."""
    tasks: dict[str, TaskResults] = {}
    samplers = set()
    for r in records:
        task = tasks.setdefault(r["task"], TaskResults(
            r["task"], r["family"], r["loss_label"], r["score_label"], r["options"]
        ))
        task.runs.setdefault(r["sampler"], {})[r["seed"]] = r
        samplers.add(r["sampler"])
    return list(tasks.values()), sampler_order(samplers)


def _nanmedian(values: Iterable[float | None]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return metrics.median(finite) if finite else math.nan


def _nanmean(values: Iterable[float | None]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _per_trial_seconds(record: dict[str, Any]) -> float:
    seconds = record["sampler_seconds"]
    return sum(seconds) / len(seconds) if seconds else math.nan


def summarize_task(task: TaskResults, samplers: Sequence[str]) -> dict[str, Any]:
    """Every metric of one task, keyed by sampler."""
    present = [s for s in samplers if s in task.runs]
    finals = {s: task.finals(s) for s in present}
    out: dict[str, Any] = {
        "family": task.family, "loss_label": task.loss_label, "score_label": task.score_label,
        "n_seeds": {s: len(finals[s]) for s in present},
        "final_loss": {
            s: {q: metrics.quantile(list(finals[s].values()), p)
                for q, p in (("median", 0.5), ("q25", 0.25), ("q75", 0.75))}
            for s in present
        },
        "mean_rank": metrics.mean_ranks(finals),
        "sampler_seconds_per_trial": {
            s: _nanmedian(_per_trial_seconds(r) for r in task.runs[s].values()) for s in present
        },
        "overhead_fraction": {
            s: _nanmedian(metrics.overhead_fraction(r["sampler_seconds"], r["wall_seconds"])
                          for r in task.runs[s].values())
            for s in present
        },
    }
    if "gp" in present:
        eff = metrics.efficiency({s: task.curves(s) for s in present}, "gp")
        out["efficiency_vs_gp"] = {
            s: {"target": e.target, "trials": e.trials, "speedup": e.speedup,
                "reached": e.reached}
            for s, e in eff.items()
        }
    if "random" in present:
        # The model metric (test accuracy, Dice) where the task has one, else the loss.
        use_score = task.score_label is not None and bool(task.best_scores("random"))
        perf = {}
        for s in present:
            if use_score:
                value = _nanmedian(task.best_scores(s))
                base = _nanmedian(task.best_scores("random"))
            else:
                value = out["final_loss"][s]["median"]
                base = out["final_loss"]["random"]["median"]
            gain = metrics.relative_gain(value, base, higher_is_better=use_score)
            perf[s] = {"value": value, "baseline": base, "gain": gain}
        metric = task.score_label if use_score else task.loss_label
        out["performance_vs_random"] = {"metric": metric, "samplers": perf}
    for ref in ("tpe", "gp"):
        if ref in present:
            out[f"variance_ratio_vs_{ref}"] = {
                s: metrics.variance_ratio(list(finals[s].values()), list(finals[ref].values()))
                for s in present
            }
    return out


def scalability(tasks: Sequence[TaskResults], samplers: Sequence[str]) -> dict[str, Any]:
    """Sampler seconds per trial against BBOB dimension, and early versus late trials."""
    by_dim: dict[str, dict[int, list[float]]] = {s: defaultdict(list) for s in samplers}
    early: dict[str, list[float]] = defaultdict(list)
    late: dict[str, list[float]] = defaultdict(list)
    for task in tasks:
        for sampler, runs in task.runs.items():
            for record in runs.values():
                seconds = record["sampler_seconds"]
                quarter = max(1, len(seconds) // 4)
                early[sampler].append(sum(seconds[:quarter]) / quarter)
                late[sampler].append(sum(seconds[-quarter:]) / quarter)
                if task.family == "bbob":
                    by_dim[sampler][int(task.options["dim"])].append(_per_trial_seconds(record))
    result: dict[str, Any] = {}
    for sampler in samplers:
        dims = sorted(by_dim[sampler])
        times = [_nanmedian(by_dim[sampler][d]) for d in dims]
        exponent = math.nan
        if len(dims) >= 2 and all(t > 0 for t in times):
            exponent = metrics.scaling_exponent(dims, times)
        result[sampler] = {
            "seconds_by_dim": dict(zip(dims, times, strict=True)),
            "dim_exponent": exponent,
            "early_seconds": _nanmedian(early[sampler]),
            "late_seconds": _nanmedian(late[sampler]),
        }
    return result


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The whole summary as plain data (what ``summary.json`` holds)."""
    tasks, samplers = collect(records)
    per_task = {t.name: summarize_task(t, samplers) for t in tasks}
    suite_rank = {}
    for s in samplers:
        ranks = [t["mean_rank"][s] for t in per_task.values() if s in t["mean_rank"]]
        suite_rank[s] = _nanmean(ranks)
    claims: dict[str, dict[str, Any]] = {}
    ml = [t for t in per_task.values() if t["score_label"] is not None]
    eff_tasks = [t for t in per_task.values() if "efficiency_vs_gp" in t]
    for s in samplers:
        perf_tasks = ml if ml else list(per_task.values())
        claims[s] = {
            # A target never reached counts as speedup 0 (slower than GP), not as missing.
            "speedup_vs_gp": _nanmedian(
                t["efficiency_vs_gp"][s]["speedup"] or 0.0 for t in per_task.values()
                if s in t.get("efficiency_vs_gp", {})
            ),
            # Over the tasks this sampler ran (a partial results directory may lack some).
            "gp_target_reached": [
                sum(t["efficiency_vs_gp"][s]["trials"] is not None for t in eff_tasks
                    if s in t["efficiency_vs_gp"]),
                sum(s in t["efficiency_vs_gp"] for t in eff_tasks),
            ],
            "gain_vs_random": _nanmedian(
                t["performance_vs_random"]["samplers"][s]["gain"] for t in perf_tasks
                if s in t.get("performance_vs_random", {}).get("samplers", {})
            ),
            "variance_ratio_vs_tpe": _nanmedian(
                t["variance_ratio_vs_tpe"].get(s) for t in per_task.values()
                if "variance_ratio_vs_tpe" in t
            ),
            "variance_ratio_vs_gp": _nanmedian(
                t["variance_ratio_vs_gp"].get(s) for t in per_task.values()
                if "variance_ratio_vs_gp" in t
            ),
        }
    return {
        "samplers": samplers, "tasks": per_task, "mean_rank": suite_rank, "claims": claims,
        "scalability": scalability(tasks, samplers),
    }
