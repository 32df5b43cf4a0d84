"""Renders the summary (from :func:`benchmarks.summary.summarize`) as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any


CLAIMS = {
    "efficiency": (3.5, "3.5x faster convergence than Bayesian optimization"),
    "performance": (0.12, "12% higher final model accuracy than random search"),
    "robustness": (0.6, "40% reduction in performance variance across random seeds"),
    "scalability": (1.0, "linear scaling with hyperparameter space dimensionality"),
}
"""The write-up's claims (targets to compare with, not results)."""


def fmt(value: float | None, digits: int = 3) -> str:
    """``digits`` significant digits; ``-`` for missing, ``n/a`` for NaN, ``inf`` kept."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) >= 10**digits or abs(value) < 10 ** (-digits)):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:+.1%}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _header(summary: dict[str, Any], meta: dict[str, Any], command: str | None) -> list[str]:
    invocations = meta.get("invocations", [])
    suites = sorted({i.get("suite", "") for i in invocations if i.get("suite")})
    title = f"# Benchmark results: {', '.join(suites) or 'runs'}"
    lines = [title, ""]
    commands = list(dict.fromkeys(i["command"] for i in invocations if i.get("command")))
    if commands:
        lines += ["Produced by:", "", "```", *commands, "```", ""]
    if command:
        lines += [f"Summary rebuilt by: `{command}`", ""]
    if invocations:
        last = invocations[-1]
        m = last.get("machine", {})
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cores')} cores; Python {m.get('python')}, "
            f"torch {m.get('torch')}, optuna {m.get('optuna')}; device: {m.get('device')}."
            + libraries(m),
            f"Last invocation: {last.get('started')}, {last.get('jobs')} worker process(es), "
            f"{fmt(last.get('wall_seconds', math.nan) / 60)} min wall time for "
            f"{last.get('runs_executed')} new run(s) ({last.get('runs_failed')} failed).",
            "",
            f"Browse every study: `optuna-dashboard {last.get('storage')}`",
            "",
        ]
    seeds = [n for t in summary["tasks"].values() for n in t["n_seeds"].values()]
    lines += [
        f"Seeds per (task, sampler): {min(seeds)}"
        + (f" to {max(seeds)}" if max(seeds) != min(seeds) else "")
        + ". Values are medians over seeds; brackets hold the 25% and 75% quantiles. "
        + ("Seed k fixes the objective (BBOB instance k+1, data split, images, weight init) "
           "and, with the task's name, the samplers' seed (`--design-seeds`: every run its "
           "own startup design, shared by the samplers of a pair), so samplers are compared "
           "on paired seeds."
           if any("--design-seeds" in c for c in commands) else
           "Seed k fixes both the sampler seed and the objective (BBOB instance k+1, data "
           "split, images, weight init), so samplers are compared on paired seeds; tasks "
           "with the same parameters share a seed's startup design."),
        "",
    ]
    return lines


def _claims(summary: dict[str, Any]) -> list[str]:
    targets = {k: v[0] for k, v in CLAIMS.items()}
    header = [
        "sampler",
        f"speedup vs GP (target {targets['efficiency']}x)",
        f"gain vs random (target {pct(targets['performance'])})",
        f"variance vs TPE (target {targets['robustness']}x)",
        f"variance vs GP (target {targets['robustness']}x)",
        f"time/trial ~ dim^p (target p <= {targets['scalability']})",
        "mean rank",
    ]
    rows = []
    for s in summary["samplers"]:
        c = summary["claims"][s]
        reached, n_eff = c["gp_target_reached"]
        speedup = f"{fmt(c['speedup_vs_gp'])} ({reached}/{n_eff} tasks reached)" if n_eff else "-"
        rows.append([
            s, speedup, pct(c["gain_vs_random"]),
            fmt(c["variance_ratio_vs_tpe"]), fmt(c["variance_ratio_vs_gp"]),
            fmt(summary["scalability"][s]["dim_exponent"]), fmt(summary["mean_rank"][s]),
        ])
    return [
        "## The write-up's claims next to what was measured",
        "",
        "The targets in the header are the write-up's claims, quoted for comparison; they are not "
        "results. Measured values are medians over tasks (speedup: a task whose target is never "
        "reached counts as 0; gain: tasks with a model metric, test accuracy or Dice, else "
        "regret reduction; variance: final loss across seeds, ratio to the baseline's). "
        "Claims quoted:",
        "",
        *[f"- {text} (target {value})" for value, text in CLAIMS.values()],
        "",
        *_table(header, rows),
    ]


def _per_task(summary: dict[str, Any]) -> list[str]:
    samplers = summary["samplers"]
    lines = [
        "## Final loss per task",
        "",
        "Best-so-far loss after the last trial (lower is better): BBOB regret f - f_opt, digits "
        "validation cross-entropy, MONAI 1 - validation Dice. Best median in bold.",
        "",
    ]
    rows = []
    for name, t in summary["tasks"].items():
        finals = t["final_loss"]
        best = min((finals[s]["median"] for s in finals), default=math.nan)
        cells = []
        for s in samplers:
            if s not in finals:
                cells.append("-")
                continue
            f = finals[s]
            cell = f"{fmt(f['median'])} [{fmt(f['q25'])}, {fmt(f['q75'])}]"
            cells.append(f"**{cell}**" if f["median"] == best else cell)
        seeds = sorted(set(t["n_seeds"].values()))
        rows.append([f"{name} ({t['loss_label']})", "/".join(map(str, seeds)), *cells])
    lines += _table(["task (loss)", "seeds", *samplers], rows)

    lines += ["## Mean rank", "",
              "Rank of each sampler's final loss among all samplers on the same seed (1 = best, "
              "ties share the average rank), averaged over seeds; the suite column averages the "
              "tasks.", ""]
    rows = [
        [s, *(fmt(t["mean_rank"].get(s)) for t in summary["tasks"].values()),
         fmt(summary["mean_rank"][s])]
        for s in samplers
    ]
    lines += _table(["sampler", *summary["tasks"], "suite"], rows)
    return lines


def _baselines(summary: dict[str, Any]) -> list[str]:
    samplers = summary["samplers"]
    tasks = summary["tasks"]
    lines: list[str] = []
    eff_tasks = {n: t["efficiency_vs_gp"] for n, t in tasks.items() if "efficiency_vs_gp" in t}
    if eff_tasks:
        lines += ["## Efficiency: trials to reach GP's median final loss", "",
                  "Trials the median best-so-far curve needs to reach the target; speedup = GP's "
                  "trials / the sampler's (the write-up's 3.5x would read 3.5); in brackets the "
                  "share of seeds whose own curve reaches it. `never`: the median curve does not.",
                  ""]
        rows = []
        for name, eff in eff_tasks.items():
            target = next(iter(eff.values()))["target"]
            cells = [
                "-" if s not in eff else
                ("never" if eff[s]["trials"] is None else
                 f"{eff[s]['trials']} ({fmt(eff[s]['speedup'])}x)")
                + (f" [{eff[s]['reached']:.0%}]" if s in eff else "")
                for s in samplers
            ]
            rows.append([name, fmt(target), *cells])
        lines += _table(["task", "target", *samplers], rows)
    perf_tasks = {n: t["performance_vs_random"] for n, t in tasks.items()
                  if "performance_vs_random" in t}
    if perf_tasks:
        lines += ["## Performance relative to random search", "",
                  "Median over seeds of the model metric of each run's best trial (test accuracy "
                  "for digits, validation Dice for MONAI) and its relative gain over random "
                  "search; for BBOB the relative reduction of the final regret.", ""]
        rows = []
        for name, perf in perf_tasks.items():
            cells = [
                "-" if s not in perf["samplers"] else
                f"{fmt(perf['samplers'][s]['value'])} ({pct(perf['samplers'][s]['gain'])})"
                for s in samplers
            ]
            rows.append([f"{name} ({perf['metric']})", *cells])
        lines += _table(["task (metric)", *samplers], rows)
    if any("variance_ratio_vs_tpe" in t or "variance_ratio_vs_gp" in t for t in tasks.values()):
        lines += ["## Robustness: variance across seeds", "",
                  "Sample variance of the final loss across seeds divided by TPE's / GP's on the "
                  "same task (0.6 would be the write-up's 40% reduction).", ""]
        rows = []
        for name, t in tasks.items():
            tpe, gp = t.get("variance_ratio_vs_tpe", {}), t.get("variance_ratio_vs_gp", {})
            rows.append([name, *(f"{fmt(tpe.get(s))} / {fmt(gp.get(s))}" for s in samplers)])
        lines += _table(["task (vs TPE / vs GP)", *samplers], rows)
    return lines


def _costs(summary: dict[str, Any]) -> list[str]:
    samplers = summary["samplers"]
    scal = summary["scalability"]
    dims = sorted({int(d) for s in samplers for d in scal[s]["seconds_by_dim"]})
    lines = ["## Scalability: sampler seconds per trial", "",
             "Median over runs of the sampler's seconds per trial on BBOB at each dimension, the "
             "exponent p of a log-log fit (time ~ dim^p; 1 = linear), and the seconds per trial "
             "over the first and last quarter of every run's trials (growth with trial count).",
             ""]
    rows = [
        [s, *(fmt(scal[s]["seconds_by_dim"].get(d)) for d in dims),
         fmt(scal[s]["dim_exponent"]), fmt(scal[s]["early_seconds"]),
         fmt(scal[s]["late_seconds"])]
        for s in samplers
    ]
    lines += _table(["sampler", *(f"d={d}" for d in dims), "p", "first 25%", "last 25%"], rows)
    lines += ["## Sampler overhead", "",
              "Seconds inside the sampler per trial (before_trial, infer_relative_search_space, "
              "sample_relative, sample_independent, after_trial), median over seeds; last "
              "column: median share of the run's wall time on the training tasks (BBOB "
              "evaluations cost microseconds). Per-trial values are in results.jsonl.", ""]
    tasks = summary["tasks"]
    # BBOB evaluations take microseconds, so the share is only telling on training tasks.
    trained = [t for t in tasks.values() if t["family"] != "bbob"] or list(tasks.values())
    rows = []
    for s in samplers:
        shares = [t["overhead_fraction"][s] for t in trained if s in t["overhead_fraction"]]
        rows.append([s, *(fmt(t["sampler_seconds_per_trial"].get(s)) for t in tasks.values()),
                     pct(sorted(shares)[len(shares) // 2] if shares else None).lstrip("+")])
    lines += _table(["sampler", *tasks, "share of wall time (training)"], rows)
    return lines


def render_markdown(
    summary: dict[str, Any], meta: dict[str, Any], *, plots: Sequence[str],
    command: str | None = None,
) -> str:
    """The whole ``summary.md``."""
    lines = _header(summary, meta, command)
    lines += _claims(summary)
    lines += _per_task(summary)
    lines += _baselines(summary)
    lines += _costs(summary)
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["Metric definitions: benchmarks/README.md.", ""]
    return "\n".join(lines)


def libraries(machine: dict[str, Any]) -> str:
    """" numpy 2.4.6, ..., SIMD avx2." for what ``run_meta.machine_info`` records since 0.13
    (empty for earlier runs)."""
    names = [n for n in ("numpy", "scipy", "scikit-learn", "monai") if machine.get(n)]
    text = ", ".join(f"{n} {machine[n]}" for n in names)
    if "simd" in machine:
        text += (", " if text else "") + "SIMD " + (" ".join(machine["simd"]) or "none")
    return f" {text}." if text else ""
