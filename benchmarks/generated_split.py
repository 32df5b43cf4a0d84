"""The learned scorer against its teacher, kernels, startup sizes and weights, on the
generated validation split (for choosing) or test split (for reporting; nothing is trained or
tuned on it), ``optuna_hypera._families``.

    .venv/bin/python -m benchmarks.generated_split [--split test --per-family 6 --trials 100
        --jobs 2] [--variants critics,log-ei,...] [--new-weights W.pt] [--baseline-weights B.pt]
        [--draw-seed 0] [--dims 3,6,10] [--out results/generated]
    .venv/bin/python -m benchmarks.generated_split pairs A.json [B.json@new=b-new ...]
        --pairs a:b,c:d

Each task is a ``Landscape`` of the split (``draw(split, ...)``, 3, 6 or 10 dimensions or
those of ``--dims``, every family in turn; ``--draw-seed`` other than 0 draws fresh tasks of
the split, 0.14).
Each variant runs one study per task with its own ``HyperaCore``, as ``HyperaSampler()``
has (cooperative, Thompson conflicts, online updates), through
``_simulate.simulate`` (noise included, 10 Sobol startup trials unless the variant says
otherwise); the variants are listed in ``benchmarks.split_variants``.

Regret at 25, 50 and 100 trials (``--checkpoints``) is the share of 2000 uniform random
points (noise-free, failed ones left out) that beat the best trial so far, valued noise-free
(0 is best). Prints, per
family, the median regret of each variant and how often the first variant ends better or
worse than each other one by the best noise-free value (exact ties are neither), and writes
``results.json``. ``pairs`` merges the ``results.json`` of runs on the same tasks (matched by
family, dimension and seed; a variant run twice keeps its last run) and prints, per family and
checkpoint, how often variant a ends better / worse than variant b, for each ``a:b``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
import json
from pathlib import Path
import platform
import sys
from typing import Any

import numpy as np
import torch

from benchmarks.split_variants import OPTUNA_VARIANTS
from benchmarks.split_variants import SETTINGS
from benchmarks.split_variants import VARIANTS
from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera import _features
from optuna_hypera import _kernel_fit
from optuna_hypera import _surrogate
from optuna_hypera._coordinator import GLOBAL_OPTION
from optuna_hypera._core import HyperaCore
from optuna_hypera._families import FAMILIES
from optuna_hypera._families import Landscape
from optuna_hypera._families import draw
from optuna_hypera._rules import BLEND_WEIGHT
from optuna_hypera._rules import STAGE_TRIALS
from optuna_hypera._simulate import simulate
from optuna_hypera._threads import torch_threads
from optuna_hypera._weights import pretrained_path


CHECKPOINTS = (25, 50, 100)
DIMS = (3, 6, 10)


def regret_curve(task: Landscape, x: np.ndarray, seed: int, checkpoints: tuple[int, ...],
                 ) -> tuple[list[float], list[float]]:
    """Regret share and best noise-free value (the tasks' values are normalized: median 0,
    robust spread 1 on random points) at each checkpoint."""
    rng = np.random.RandomState(seed)
    ref = task.clean(rng.uniform(size=(2000, len(task.space))))
    ref = ref[~np.isnan(ref)]
    y = task.clean(x)
    best = np.fmin.accumulate(np.where(np.isnan(y), np.inf, y))
    at = [c for c in checkpoints if c <= len(best)]
    return ([float((ref < best[c - 1]).mean()) for c in at],
            [float(best[c - 1]) for c in at])


def optuna_run(task: Landscape, seed: int, n_trials: int, name: str) -> np.ndarray:
    """The coordinates ``[n_trials, d]`` an Optuna sampler's study tried, in trial order."""
    import optuna

    from benchmarks.objectives.landscape import LandscapeObjective
    from optuna_hypera import HyperaSampler
    from optuna_hypera._startup import StudySobol

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # ``-dbr``: a ``conditional`` task declared define-by-run (only the chosen branch's
    # parameters are suggested); ``-randind`` / ``-tpeind``: HyperaSampler's parameters
    # outside its relative search space by RandomSampler / univariate TPE; ``-model``:
    # ``HyperaSampler(conditional="model")``; ``-modelraw``: the same without
    # ``Coordinator.as_asked`` (0.20's first runs).
    dbr = name.endswith("-dbr")
    base = name.removesuffix("-dbr")
    # ``-balanced``: the startup design ``StudySobol(design="balanced")`` (measured after 0.20)
    balanced = base.endswith("-balanced")
    base = base.removesuffix("-balanced")
    glob = base.endswith("-glob")  # 8 of the 64 candidates from the whole space
    base = base.removesuffix("-glob")
    bb = 0.0  # ``-bb25``: ``Coordinator.branch_bases`` = 0.25
    if base.rsplit("-", 1)[-1].startswith("bb"):
        base, tail = base.rsplit("-", 1)
        bb = int(tail[2:]) / 100
    independent: optuna.samplers.BaseSampler | None = (
        optuna.samplers.RandomSampler(seed=seed) if base.endswith("-randind")
        else optuna.samplers.TPESampler(seed=seed, multivariate=False)
        if base.endswith("-tpeind") else None)
    base = base.removesuffix("-randind").removesuffix("-tpeind")
    raw = base.endswith("-modelraw")  # without ``Coordinator.as_asked``
    conditional = "model" if base.endswith(("-model", "-modelraw")) else "independent"
    base = base.removesuffix("-model").removesuffix("-modelraw")
    design = StudySobol(seed, design="balanced") if balanced else None
    sampler: optuna.samplers.BaseSampler = (
        HyperaSampler(seed=seed, independent_sampler=independent, conditional=conditional,
                      startup_sampler=design)
        if base in ("optuna-hypera", "optuna-hypera-standardized")
        else HyperaSampler(seed=seed, scorer="log-ei") if base.startswith("optuna-hypera")
        else optuna.samplers.GPSampler(seed=seed) if base == "optuna-gp"
        else optuna.samplers.RandomSampler(seed=seed) if base == "optuna-random"
        else optuna.samplers.TPESampler(seed=seed))
    if raw and isinstance(sampler, HyperaSampler):
        sampler._core_options["coordinator.as_asked"] = False
    if bb and isinstance(sampler, HyperaSampler):
        sampler._core_options["coordinator.branch_bases"] = bb
    if glob and isinstance(sampler, HyperaSampler):
        sampler._core_options["coordinator.global_share"] = GLOBAL_OPTION
    objective = LandscapeObjective(family=task.family, dim=len(task.space), task_seed=task.seed,
                                   seed=seed, define_by_run=dbr)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return np.stack([objective.coordinates(optuna.trial.FixedTrial(t.params))
                     for t in study.trials])


_MODULE_SWITCHES: tuple[tuple[Any, str, str, Callable[[Any], Any]], ...] = (
    (_features, "RADIUS_INIT", "radius_init", float),
    (_kernel_fit, "FIT_STARTS", "fit_starts", int),
    (_surrogate, "REFIT_STEPS", "refit_early",
     lambda every: ((50, int(every)), *_surrogate.REFIT_STEPS[1:])),
    (_surrogate, "TARGETS", "standardized", lambda _: "standardized"),
)
"""Module-level settings a variant's ``SETTINGS`` key changes for its own runs (module,
attribute, key, the value from the key's): set before the run, restored after."""


def run(task: Landscape, seed: int, n_trials: int, names: tuple[str, ...],
        new_weights: str | None, baseline: str | None = None,
        checkpoints: tuple[int, ...] = CHECKPOINTS,
        ) -> dict[str, tuple[list[float], list[float]]]:
    torch.set_num_threads(1)
    out = {}
    for name in names:
        extra = SETTINGS.get(name, {})
        saved = [(module, attr, getattr(module, attr))
                 for module, attr, key, _ in _MODULE_SWITCHES if key in extra]
        for module, attr, key, value in _MODULE_SWITCHES:
            if key in extra:
                setattr(module, attr, value(extra[key]))
        try:
            # ``reseed``: the same variant on other draws (startup, noise, the sampler's own
            # randomness), the null distribution of a pair count.
            x = _run_one(task, seed + int(extra.get("reseed", 0)), n_trials, name, extra,
                         new_weights, baseline)
        finally:
            for module, attr, before in saved:
                setattr(module, attr, before)
        out[name] = regret_curve(task, x, seed + 1, checkpoints)
    return out


def _run_one(task: Landscape, seed: int, n_trials: int, name: str,
             extra: dict[str, int | float | str], new_weights: str | None,
             baseline: str | None) -> np.ndarray:
    if name in OPTUNA_VARIANTS:
        with torch_threads(1):
            return optuna_run(task, seed, n_trials, name)
    chooser, kernel, n_startup, share = VARIANTS[name]
    sac = (SACConfig(stretch_after=int(extra["stretch_after"])) if "stretch_after" in extra
           else SACConfig(gradient_steps=0) if extra.get("frozen")
           else SACConfig(gradient_steps=int(extra["gradient_steps"]))
           if "gradient_steps" in extra else SACConfig())
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=sac, strategy="cooperative",
                      conflict="thompson", seed=seed, chooser=chooser, kernel=kernel,
                      global_share=share, n_candidates=int(extra.get("n_candidates", 64)))
    if "local_points" in extra:
        core.local_points = int(extra["local_points"])
    if "kernel_samples" in extra:
        core.kernel_samples = int(extra["kernel_samples"])
    if "smooth_prior" in extra:
        core.kernel_prior = "smooth"
    core.coordinator.blend_weight = float(extra.get("blend_weight", BLEND_WEIGHT))
    core.coordinator.shortlist = int(extra.get("shortlist", core.coordinator.shortlist))
    core.coordinator.stage_trials = int(extra.get("stage_trials", STAGE_TRIALS))
    core.coordinator.polish = bool(extra.get("polish", False))
    # Every variant keeps 0.11's box unless named ``-box`` (so earlier tables repeat).
    core.coordinator.stretch = bool(extra.get("stretch", False))
    core.coordinator.categorical_sweep = int(extra.get("categorical_sweep", 0))
    # Every variant keeps the default's base (the lowest observed loss) unless named
    # ``-mbase``, ``-mthr`` or ``-mbest``.
    core.model_incumbent = str(extra.get("model_incumbent", "off"))
    core.noise_gate = float(extra.get("noise_gate", core.noise_gate))
    core.coordinator.incumbent_share = float(extra.get("incumbent_share",
                                                       core.coordinator.incumbent_share))
    core.coordinator.global_pool = int(extra.get("global_pool", core.coordinator.global_pool))
    core.coordinator.incumbent_until = int(extra.get("incumbent_until", 0))
    core.radius_max = float(extra.get("radius_max", core.radius_max))
    core.coordinator.categorical_jumps = bool(extra.get("categorical_jumps", False))
    core.sac.load(new_weights if name.startswith("new") and new_weights
                  else baseline or pretrained_path())
    with torch_threads(1):
        sim = simulate(core, [task], n_trials, n_startup=n_startup, seed=seed)
    return sim.x[0]


def pairs(files: list[str], pairs: list[tuple[str, str]]) -> str:
    """Better / worse counts of each pair of variants, per family and checkpoint, over the
    tasks every named variant ran in the merged ``files``. A file given as
    ``PATH@old=new,old2=new2`` has those variants renamed (runs of ``new-*`` variants with
    different ``--new-weights``)."""
    merged: dict[tuple[str, int, int], dict] = {}
    commands, checkpoints = [], None
    for spec in files:
        f, _, renames = spec.partition("@")
        rename = dict(x.split("=", 1) for x in renames.split(",") if x)
        r = json.loads(Path(f).read_text())
        commands.append(r["meta"]["command"])
        # Runs of different lengths: the checkpoints every run reached.
        cps = r["meta"]["checkpoints"]
        checkpoints = cps if checkpoints is None or len(cps) < len(checkpoints) else checkpoints
        for row in r["rows"]:
            key = (row["family"], row["d"], row["seed"])
            merged.setdefault(key, {"family": row["family"], "best": {}})["best"].update(
                {rename.get(k, k): v for k, v in row["best"].items()})
    need = {v for pair in pairs for v in pair}
    rows = [r for r in merged.values() if need <= set(r["best"])]
    lines = [f"From {len(files)} run(s): " + "; ".join(f"`{c}`" for c in commands)
             + f". {len(rows)} tasks every variant ran.", ""]
    for c, cp in enumerate(checkpoints or []):
        lines += [f"**At {cp} trials**: a better / worse than b by the best noise-free value "
                  "(exact ties are neither):", "",
                  "| family | tasks | " + " | ".join(f"{a} vs {b}" for a, b in pairs) + " |",
                  "|---" * (2 + len(pairs)) + "|"]
        for fam in [*dict.fromkeys(r["family"] for r in rows), "all"]:
            sel = [r for r in rows if fam in ("all", r["family"])]
            cells = [f"{sum(r['best'][a][c] < r['best'][b][c] for r in sel)}/"
                     f"{sum(r['best'][a][c] > r['best'][b][c] for r in sel)}" for a, b in pairs]
            label = f"**{fam}**" if fam == "all" else fam
            lines.append(f"| {label} | {len(sel)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pairs"]:
        q = argparse.ArgumentParser(description="Pairs of variants across merged runs.")
        q.add_argument("files", nargs="+")
        q.add_argument("--pairs", required=True, help="a:b,c:d")
        b = q.parse_args(argv[1:])
        print(pairs(b.files, [tuple(x.split(":", 1)) for x in b.pairs.split(",")]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-family", type=int, default=6)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--variants", default="critics,log-ei,mixed-kernel,log-ei-mixed")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--out", default="results/generated")
    p.add_argument("--split", default="test", choices=("validation", "test"),
                   help="validation: for choosing (defaults, weights); test: for reporting")
    p.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)),
                   help="trial counts at which regret is read (up to --trials)")
    p.add_argument("--draw-seed", type=int, default=0,
                   help="seed of the task draw (``_families.draw``); 0 gives the tasks every "
                        "table before 0.14 used, other seeds fresh tasks of the same split")
    p.add_argument("--dims", default=",".join(map(str, DIMS)),
                   help="dimensions the tasks are drawn from (0.16; before, always 3, 6, 10)")
    p.add_argument("--new-weights", help="weights file for the variants named new*")
    p.add_argument("--baseline-weights",
                   help="weights file for the other variants (default: the shipped ones)")
    a = p.parse_args(argv)
    names = tuple(v for v in a.variants.split(",") if v)
    if unknown := set(names) - set(VARIANTS) - set(OPTUNA_VARIANTS):
        p.error(f"unknown variants {sorted(unknown)}; choose from "
                f"{[*VARIANTS, *OPTUNA_VARIANTS]}")
    if any(n.startswith("new") for n in names) and not a.new_weights:
        p.error("variants new* need --new-weights")
    families = tuple(f for f in a.families.split(",") if f)
    checkpoints = tuple(int(c) for c in a.checkpoints.split(",") if c)
    dims = tuple(int(d) for d in a.dims.split(",") if d)
    tasks = draw(a.split, a.per_family * len(families), a.draw_seed, dims=dims,
                 families=families)
    with ProcessPoolExecutor(a.jobs) as pool:
        results = list(pool.map(run, tasks, [t.seed % 100_000 for t in tasks],
                                [a.trials] * len(tasks), [names] * len(tasks),
                                [a.new_weights] * len(tasks),
                                [a.baseline_weights] * len(tasks),
                                [checkpoints] * len(tasks)))
    rows = [{"family": t.family, "d": len(t.space), "seed": t.seed,
             "regret": {k: v[0] for k, v in r.items()}, "best": {k: v[1] for k, v in r.items()}}
            for t, r in zip(tasks, results, strict=True)]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": " ".join(["python -m benchmarks.generated_split", *sys.argv[1:]]),
            "torch": torch.__version__, "machine": platform.machine(),
            "checkpoints": [c for c in checkpoints if c <= a.trials], "variants": names,
            "split": a.split, "draw_seed": a.draw_seed, "new_weights": a.new_weights,
            "baseline_weights": a.baseline_weights or "shipped"}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(report(rows, names, meta))


def report(rows: list[dict], names: tuple[str, ...], meta: dict) -> str:
    lines = [f"`{meta['command']}` (torch {meta['torch']}, {meta['machine']}); "
             f"{len(rows)} {meta.get('split', 'test')}-split tasks, one study each per "
             "variant.", ""]
    first = names[0]
    for c, cp in enumerate(meta["checkpoints"]):
        lines += [f"**At {cp} trials**: median regret (share of random points better than "
                  f"the best so far); {first} better / worse than each other variant by the "
                  "best noise-free value (exact ties are neither):", "",
                  "| family | tasks | " + " | ".join(names) + " | "
                  + " | ".join(f"{first} vs {o}" for o in names[1:]) + " |",
                  "|---" * (2 + 2 * len(names) - 1) + "|"]
        for fam in [*dict.fromkeys(r["family"] for r in rows), "all"]:
            sel = [r for r in rows if fam in ("all", r["family"])]
            reg = np.array([[r["regret"][v][c] for v in names] for r in sel])
            val = np.array([[r["best"][v][c] for v in names] for r in sel])
            cells = [f"{np.median(reg[:, k]):.4f}" for k in range(len(names))]
            wins = [f"{int((val[:, 0] < val[:, k]).sum())}/{int((val[:, 0] > val[:, k]).sum())}"
                    for k in range(1, len(names))]
            label = f"**{fam}**" if fam == "all" else fam
            lines.append(f"| {label} | {len(sel)} | " + " | ".join(cells + wins) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
