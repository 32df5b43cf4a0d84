"""The transfer benchmark's statistics: ranks, trials to reach, head to head, per family.

Plain data from the records of ``results.jsonl``; :mod:`benchmarks.transfer_report` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import json
import math
from typing import Any

from benchmarks import metrics
from benchmarks.transfer_plan import CANNOT_RUN
from benchmarks.transfer_plan import FLIPPED
from benchmarks.transfer_plan import REFERENCE
from benchmarks.transfer_plan import SAMPLERS
from benchmarks.transfer_plan import TRANSFER


Pair = tuple[str, int]
"""A (target member, seed) pair: the unit that samplers are ranked on."""


def mean_final_ranks(finals: Mapping[str, Mapping[Pair, float]]) -> tuple[dict[str, float], int]:
    """Mean rank (1 = best, ties averaged) of each sampler's final loss over the pairs every
    sampler ran, and the number of those pairs."""
    samplers = list(finals)
    pairs = sorted(set.intersection(*(set(finals[s]) for s in samplers))) if samplers else []
    index = {pair: i for i, pair in enumerate(pairs)}
    by_int = {s: {index[p]: finals[s][p] for p in pairs} for s in samplers}
    return metrics.mean_ranks(by_int), len(pairs)


def trials_to_reach(
    curves: Mapping[str, Mapping[Pair, Sequence[float]]], reference: str
) -> dict[str, dict[Pair, int | None]]:
    """Per sampler and pair, the first trial (1-based) whose best-so-far is at most the
    reference sampler's final best on that pair; ``None``: never (censored)."""
    targets = {pair: curve[-1] for pair, curve in curves[reference].items()}
    return {
        s: {p: metrics.trials_to_target(c, targets[p]) for p, c in per.items() if p in targets}
        for s, per in curves.items()
    }


def censored_median(trials: Sequence[int | None]) -> float:
    """Median of trial counts where ``None`` (never reached) counts as ``inf``; nan if empty."""
    if not trials:
        return math.nan
    return metrics.median([math.inf if t is None else float(t) for t in trials])


def head_to_head(first: Mapping[Pair, float], second: Mapping[Pair, float]) -> dict[str, int]:
    """On the pairs both ran: how often ``first`` ends better (lower), worse or tied."""
    counts = {"better": 0, "worse": 0, "tied": 0}
    for pair in first.keys() & second.keys():
        a, b = first[pair], second[pair]
        counts["better" if a < b else "worse" if a > b else "tied"] += 1
    return counts


def normalized_curve(curve: Sequence[float], low: float, high: float) -> list[float]:
    """``(curve - low) / (high - low)``; all zeros when ``high <= low``."""
    if not high > low:
        return [0.0 for _ in curve]
    return [(v - low) / (high - low) for v in curve]


def _floats(values: Sequence[float | None]) -> list[float]:
    return [math.inf if v is None else float(v) for v in values]


def sampler_order(names: Sequence[str] | set[str]) -> list[str]:
    """The default samplers in table order, then the rest alphabetically."""
    known = {n: i for i, n in enumerate(SAMPLERS)}
    return sorted(set(names), key=lambda n: (known.get(n, len(known)), n))


def summarize_family(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every metric of one family's records (all of one family)."""
    ok = [r for r in records if r.get("status", "ok") == "ok"]
    cannot = {r["sampler"]: r["reason"] for r in records if r.get("status") == CANNOT_RUN}
    samplers = sampler_order({r["sampler"] for r in ok})
    curves: dict[str, dict[Pair, list[float]]] = {s: {} for s in samplers}
    losses: dict[Pair, list[float]] = {}
    for r in ok:
        pair = (r["target"], r["seed"])
        curves[r["sampler"]][pair] = _floats(r["best_loss"])
        losses.setdefault(pair, []).extend(v for v in r["losses"] if v is not None)
    all_pairs = sorted({(r["target"], r["seed"]) for r in records})
    finals = {s: {p: c[-1] for p, c in curves[s].items()} for s in samplers}
    ranks, n_pairs = mean_final_ranks(finals)
    common = set.intersection(*(set(finals[s]) for s in samplers)) if samplers else set()
    out: dict[str, Any] = {
        "samplers": samplers, "cannot_run": cannot, "pairs": n_pairs,
        "pairs_planned": len(all_pairs),
        "targets": sorted({p[0] for p in all_pairs}),
        "seeds": sorted({p[1] for p in all_pairs}),
        "n_trials": max((r["n_trials"] for r in records), default=0),
        "source_trials": next((r["options"]["source_trials"] for r in records), None),
        "mean_rank": ranks,
        "final_loss_median": {
            s: metrics.median([finals[s][p] for p in common]) if common else math.nan
            for s in samplers
        },
        "per_target": {
            t: {s: metrics.median([finals[s][p] for p in common if p[0] == t])
                for s in samplers}
            for t in sorted({p[0] for p in common})
        },
        "sampler_seconds_per_trial": {
            s: metrics.median([
                sum(r["sampler_seconds"]) / len(r["sampler_seconds"])
                for r in ok if r["sampler"] == s and r["sampler_seconds"]
            ] or [math.nan])
            for s in samplers
        },
        "wall_seconds_per_run": {
            s: metrics.median([r["wall_seconds"] for r in ok if r["sampler"] == s])
            for s in samplers
        },
    }
    if REFERENCE in samplers and common:
        n_trials = out["n_trials"]
        common_curves = {s: {p: curves[s][p] for p in common} for s in samplers}
        reach = trials_to_reach(common_curves, REFERENCE)
        medians = {s: censored_median(list(reach[s].values())) for s in samplers}
        base = medians.get(TRANSFER, math.nan)
        out["trials_to_reach"] = {}
        for s in samplers:
            ratio, lower_bound = math.nan, False
            if math.isfinite(base):
                if math.isinf(medians[s]):  # censored: at least n_trials + 1 trials
                    ratio, lower_bound = (n_trials + 1) / base, True
                else:
                    ratio = medians[s] / base
            out["trials_to_reach"][s] = {
                "median": medians[s], "ratio_to_transfer": ratio,
                "ratio_is_lower_bound": lower_bound,
                "reached": sum(t is not None for t in reach[s].values()), "pairs": len(reach[s]),
            }
    out["head_to_head"] = {
        f"{a} vs {b}": head_to_head({p: finals[a][p] for p in common},
                                    {p: finals[b][p] for p in common})
        for a, b in ((FLIPPED, REFERENCE), (TRANSFER, REFERENCE), (TRANSFER, FLIPPED))
        if a in samplers and b in samplers
    }
    pair_ranks: dict[str, float] = {}
    if FLIPPED in samplers and REFERENCE in samplers:
        pair_ranks, _ = mean_final_ranks({s: {p: finals[s][p] for p in common}
                                          for s in (FLIPPED, REFERENCE)})
    out["flipped_vs_none_mean_rank"] = pair_ranks
    # Normalised best-so-far per pair: 0 = best final loss of any sampler on that pair,
    # 1 = the pair's median trial loss (all samplers' trials).
    norm: dict[str, list[list[float]]] = {s: [] for s in samplers}
    for pair in sorted(common):
        low = min(finals[s][pair] for s in samplers)
        high = metrics.median(losses[pair]) if losses.get(pair) else low
        for s in samplers:
            norm[s].append(normalized_curve(curves[s][pair], low, high))
    out["normalized_median_curve"] = {
        s: metrics.curve_band(c)[0].tolist() if c else [] for s, c in norm.items()
    }
    return out


def summarize_transfer(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary as plain data: one entry per family (in ``SPACES`` order)."""
    families = [f for f in ("numeric", "full") if any(r["family"] == f for r in records)]
    families += sorted({r["family"] for r in records} - set(families))
    threads = {json.dumps(r["threads"], sort_keys=True) for r in records if "threads" in r}
    return {
        "families": {
            f: summarize_family([r for r in records if r["family"] == f]) for f in families
        },
        "threads_in_runs": [json.loads(t) for t in sorted(threads)],
    }
