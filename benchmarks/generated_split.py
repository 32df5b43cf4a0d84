"""The learned scorer against its teacher, kernels, startup sizes and weights, on the
generated validation split (for choosing) or test split (for reporting; nothing is trained or
tuned on it), ``optuna_hypera._families``.

    .venv/bin/python -m benchmarks.generated_split [--split test --per-family 6 --trials 100
        --jobs 2] [--variants critics,log-ei,...] [--new-weights W.pt] [--baseline-weights B.pt]
        [--draw-seed 0] [--out results/generated]
    .venv/bin/python -m benchmarks.generated_split pairs A.json [B.json@new=b-new ...]
        --pairs a:b,c:d

Each task is a ``Landscape`` of the split (``draw(split, ...)``, 3, 6 or 10 dimensions,
every family in turn; ``--draw-seed`` other than 0 draws fresh tasks of the split, 0.14).
Each variant runs one study per task with its own ``HyperaCore``, as ``HyperaSampler()``
has (cooperative, Thompson conflicts, online updates), through
``_simulate.simulate`` (noise included, 10 Sobol startup trials unless the variant says
otherwise):

- ``critics``: the critics pick among the candidates, ordinal kernel (the default before 0.3;
  ``new`` with ``--new-weights`` of the shipped file is the default of 0.3 and 0.4);
- ``log-ei``: the teacher, ``HyperaSampler(scorer="log-ei", kernel="ordinal")``;
- ``mixed-kernel``, ``log-ei-mixed``: the same with ``kernel="mixed"`` (categorical choices by
  the overlap distance, integers at their integer, ``_kernel_inputs``);
- ``startup-5``, ``startup-3``: the default with 5 or 3 Sobol startup trials instead of 10;
- ``global``, ``log-ei-global``: the critics and the teacher with 8 of the 64 candidates
  from the whole space (``_global``, ``GLOBAL_OPTION``; every variant above, and the
  default, keeps them in the trust region);
- ``new``, ``new-ordinal``, ``new-log-ei``, ``new-startup-5``: the weights of
  ``--new-weights`` with today's defaults (the critics with the mixed and the ordinal kernel;
  the teacher among the new actors' candidates; 5 startup trials), and ``new-global``,
  ``new-log-ei-global``, ``new-startup-5-global`` the same with global candidates;
  ``--baseline-weights`` replaces the shipped weights for the other variants;
- ``new-staged-30``, ``new-staged-50``: the teacher picks until that trial number, the
  critics after (``chooser="staged"``; 50 is ``HyperaSampler(scorer="staged")``, the
  default of 0.5-0.13); ``new`` is then ``HyperaSampler(scorer="critics")`` and
  ``new-log-ei`` ``HyperaSampler()``, the default since 0.14;
- ``new-blend-z`` (``-half``, ``-2``): the critics' and the teacher's scores, z-scored over
  the candidates and added with the teacher weighted 1 (0.5, 2); ``new-blend`` the same by
  ranks (``_rules.blend``);
- ``new-c128``, ``new-c256``, ``new-log-ei-c256``: 128 or 256 candidates per decision
  instead of 64;
- ``staged``: 0.5-0.13's default (``HyperaSampler(scorer="staged")``) with the baseline
  weights, to hold ``new-staged-50`` against (every lever variant named ``staged-*`` is a
  change of it; since 0.14 the default is ``new-log-ei`` with the shipped weights);
- ``new-log-ei-refit-1``, ``new-log-ei-startup-5``, ``new-log-ei-startup-5-refit-1``: the
  teacher with its kernel refitted at every trial below 50 (``_surrogate.REFIT_STEPS``), with
  5 startup trials, and both;
- ``new-log-ei-standardized``, ``new-staged-standardized``, ``new-standardized``: the teacher,
  the default and the critics with the model fitted on standardized losses
  (``_surrogate.TARGETS``); ``new-log-ei-polish``: the teacher's pick polished
  (``_decision.polish``);
- ``optuna-hypera``, ``optuna-gp``, ``optuna-tpe``: whole Optuna samplers with their defaults
  (``HyperaSampler()``, ``GPSampler``, ``TPESampler``) on the same task as an Optuna objective
  (``benchmarks.objectives.landscape``: noise drawn per trial number, not the simulator's);
  ``optuna-hypera-standardized``, ``optuna-hypera-log-ei-standardized``: ``HyperaSampler()``
  and ``HyperaSampler(scorer="log-ei")`` with standardized targets;
- ``new-log-ei-catjump``, ``new-staged-catjump``: the teacher and the default with uniform
  candidates that redraw the categorical parameters they perturb from all their choices
  (``Coordinator.categorical_jumps``);
- ``new-log-ei-smooth``, ``staged-smooth``: the kernel fitted under Optuna GPSampler's prior
  shapes (``_surrogate.KERNEL_PRIOR``); ``new-log-ei-global-p1024``, ``new-log-ei-g25-p1024``,
  ``new-log-ei-g50-p1024``: 8, 16 or 32 of the teacher's 64 candidates from the whole space,
  found from a pool of 1024 points (``Coordinator.global_pool``); ``new-log-ei-catsweep``,
  ``staged-catsweep``: up to 16 uniform candidates replaced by the base with one categorical
  choice changed (``Coordinator.categorical_sweep``); none a lever
  (``docs/benchmarks/small-budget-levers.md``);
- ``new-log-ei-box``, ``staged-box``: uniform candidates from the box stretched by the
  model's lengthscales (``Coordinator.stretch``, an option since 0.12, off by default;
  ``docs/benchmarks/stretch-validation.md``);
- ``new-log-ei-mbase``, ``staged-mbase``, ``-mthr``, ``-mbest``:
  the completed trial of lowest posterior mean as the base, as log EI's threshold, or both
  (``HyperaCore.model_incumbent``, an option since 0.13, off by default; every other
  variant keeps the default's base, the lowest observed loss;
  ``docs/benchmarks/model-incumbent.md``); ``staged-mgate`` (``-mgate2``, ``-mgate4``): the
  model's best as the base only where the fitted noise variance is at least 1e-3 (1e-2,
  1e-4) of the signal's (``model_incumbent="gated"``, ``docs/benchmarks/noise-gate.md``);
- ``staged-reseed``: the default on other random draws (startup design, noise, the
  sampler's own randomness): the null distribution of a pair count
  (``docs/benchmarks/startup-0.13.md``); ``staged-startup-5``, ``staged-startup-7``: 5 or
  7 startup trials; ``staged-inc100``, ``staged-inc25``: the incumbent as the base of every
  decision or of a quarter of them (``Coordinator.incumbent_share``; ½ by default);
- any simulator variant with the suffix ``+std`` (``staged+std``, ``new-log-ei-global+std``):
  the same with standardized targets;

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
from concurrent.futures import ProcessPoolExecutor
import json
from pathlib import Path
import platform
import sys

import numpy as np
import torch

from optuna_hypera import DEFAULT_AGENTS
from optuna_hypera import SACConfig
from optuna_hypera import _surrogate
from optuna_hypera._coordinator import GLOBAL_OPTION
from optuna_hypera._coordinator import GLOBAL_SHARE
from optuna_hypera._core import HyperaCore
from optuna_hypera._families import FAMILIES
from optuna_hypera._families import Landscape
from optuna_hypera._families import draw
from optuna_hypera._rules import BLEND_WEIGHT
from optuna_hypera._rules import STAGE_TRIALS
from optuna_hypera._simulate import simulate
from optuna_hypera._threads import torch_threads
from optuna_hypera._weights import pretrained_path


VARIANTS = {
    # name: (chooser, kernel, startup trials, share of global candidates)
    "critics": ("critic", "ordinal", 10, 0.0),
    "log-ei": ("teacher", "ordinal", 10, 0.0),
    "mixed-kernel": ("critic", "mixed", 10, 0.0),
    "log-ei-mixed": ("teacher", "mixed", 10, 0.0),
    # How few startup trials the default can take.
    "startup-5": ("critic", "ordinal", 5, 0.0),
    "startup-3": ("critic", "ordinal", 3, 0.0),
    # Candidates from the whole space as well as the trust region (``_global``).
    "global": ("critic", "mixed", 10, GLOBAL_OPTION),
    "log-ei-global": ("teacher", "mixed", 10, GLOBAL_OPTION),
    # With --new-weights: weights to hold against the shipped ones (today's defaults).
    "new": ("critic", "mixed", 10, GLOBAL_SHARE),
    "new-ordinal": ("critic", "ordinal", 10, GLOBAL_SHARE),
    "new-log-ei": ("teacher", "mixed", 10, GLOBAL_SHARE),
    "new-startup-5": ("critic", "mixed", 5, GLOBAL_SHARE),
    "new-global": ("critic", "mixed", 10, GLOBAL_OPTION),
    "new-log-ei-global": ("teacher", "mixed", 10, GLOBAL_OPTION),
    "new-startup-5-global": ("critic", "mixed", 5, GLOBAL_OPTION),
    # The critics' and the teacher's scores blended (``_rules.blend``).
    "new-blend": ("blend", "mixed", 10, GLOBAL_SHARE),
    "new-blend-z": ("blend-z", "mixed", 10, GLOBAL_SHARE),
    "new-blend-z-half": ("blend-z", "mixed", 10, GLOBAL_SHARE),
    "new-blend-z-2": ("blend-z", "mixed", 10, GLOBAL_SHARE),
}
SETTINGS: dict[str, dict[str, int | float | str]] = {
    "new-blend-z-half": {"blend_weight": 0.5},
    "new-blend-z-2": {"blend_weight": 2.0},
}
"""Coordinator settings that differ from the defaults (``n_candidates`` 64, ``BLEND_WEIGHT``,
``STAGE_TRIALS``), per variant."""
for _n in (128, 256):
    VARIANTS[f"new-c{_n}"] = VARIANTS["new"]
    VARIANTS[f"new-log-ei-c{_n}"] = VARIANTS["new-log-ei"]
    SETTINGS[f"new-c{_n}"] = SETTINGS[f"new-log-ei-c{_n}"] = {"n_candidates": _n}
for _n in (30, 50):
    VARIANTS[f"new-staged-{_n}"] = ("staged", "mixed", 10, GLOBAL_SHARE)
    SETTINGS[f"new-staged-{_n}"] = {"stage_trials": _n}
VARIANTS["staged"] = VARIANTS["new-staged-50"]  # 0.5-0.13's default, the baseline weights
# The default with fewer Sobol startup trials (0.13; 0.5 measured ``new-log-ei-startup-5``
# with the normal-score model).
for _n in (5, 7):
    VARIANTS[f"staged-startup-{_n}"] = ("staged", "mixed", _n, GLOBAL_SHARE)
# The teacher's stage: the kernel refitted at every trial below 50 instead of every 5
# (``_surrogate.REFIT_STEPS``), and 5 startup trials instead of 10.
VARIANTS["new-log-ei-refit-1"] = VARIANTS["new-log-ei"]
SETTINGS["new-log-ei-refit-1"] = {"refit_early": 1}
VARIANTS["new-log-ei-startup-5"] = ("teacher", "mixed", 5, GLOBAL_SHARE)
VARIANTS["new-log-ei-startup-5-refit-1"] = VARIANTS["new-log-ei-startup-5"]
SETTINGS["new-log-ei-startup-5-refit-1"] = {"refit_early": 1}
# The teacher with a model of standardized losses instead of normal scores of their ranks.
VARIANTS["new-log-ei-standardized"] = VARIANTS["new-log-ei"]
SETTINGS["new-log-ei-standardized"] = {"standardized": 1}
VARIANTS["new-staged-standardized"] = VARIANTS["new-staged-50"]
SETTINGS["new-staged-standardized"] = {"standardized": 1}
VARIANTS["new-standardized"] = VARIANTS["new"]
SETTINGS["new-standardized"] = {"standardized": 1}
# The teacher's pick polished towards higher log-EI nearby (``_decision.polish``).
VARIANTS["new-log-ei-polish"] = VARIANTS["new-log-ei"]
SETTINGS["new-log-ei-polish"] = {"polish": 1}
# Uniform candidates redraw the categorical parameters they perturb from all their choices.
VARIANTS["new-log-ei-catjump"] = VARIANTS["new-log-ei"]
SETTINGS["new-log-ei-catjump"] = {"categorical_jumps": 1}
VARIANTS["new-staged-catjump"] = VARIANTS["new-staged-50"]
SETTINGS["new-staged-catjump"] = {"categorical_jumps": 1}
# Online updates that thin out as the study grows (``SACConfig.stretch_after``; 0: every
# ``update_frequency`` trials throughout, the schedule before 0.8).
for _n in (0, 100, 200):
    VARIANTS[f"staged-stretch-{_n}"] = VARIANTS["new-staged-50"]
    SETTINGS[f"staged-stretch-{_n}"] = {"stretch_after": _n}
# The Gaussian process on more or fewer of the trials nearest the incumbent
# (``HyperaCore.local_points``; ``_surrogate.LOCAL_POINTS`` by default).
for _n in (100, 150, 200):
    VARIANTS[f"staged-local-{_n}"] = VARIANTS["new-staged-50"]
    SETTINGS[f"staged-local-{_n}"] = {"local_points": _n}
# 0.12's small-budget candidates, each a variant of the teacher (``new-log-ei``) or of
# the default (``new-staged-50``) with one setting (``docs/benchmarks/small-budget-levers.md``,
# ``docs/benchmarks/stretch-validation.md``): the kernel fit under Optuna GPSampler's prior
# shapes (``_surrogate.KERNEL_PRIOR``); 8, 16 or 32 of 64 candidates from the whole space,
# found from 1024 points; a sweep of the base's categorical choices
# (``Coordinator.categorical_sweep``); TuRBO's box stretched by the lengthscales
# (``Coordinator.stretch``; not ``staged-stretch-N``, which thins the online updates).
_TEACHER_GLOBAL = ("teacher", "mixed", 10)
_Setting = dict[str, int | float | str]
_one: tuple[tuple[str, tuple[str, str, int, float], _Setting], ...] = (
        ("new-log-ei-smooth", VARIANTS["new-log-ei"], {"smooth_prior": 1}),
        ("staged-smooth", VARIANTS["new-staged-50"], {"smooth_prior": 1}),
        ("new-log-ei-global-p1024", VARIANTS["new-log-ei-global"], {"global_pool": 1024}),
        ("new-log-ei-g25-p1024", (*_TEACHER_GLOBAL, 0.25), {"global_pool": 1024}),
        ("new-log-ei-g50-p1024", (*_TEACHER_GLOBAL, 0.5), {"global_pool": 1024}),
        ("new-log-ei-catsweep", VARIANTS["new-log-ei"], {"categorical_sweep": 16}),
        ("staged-catsweep", VARIANTS["new-staged-50"], {"categorical_sweep": 16}),
        ("new-log-ei-box", VARIANTS["new-log-ei"], {"stretch": 1}),
        ("staged-box", VARIANTS["new-staged-50"], {"stretch": 1}),
        ("new-log-ei-mbest", VARIANTS["new-log-ei"], {"model_incumbent": "both"}),
        ("staged-mbest", VARIANTS["new-staged-50"], {"model_incumbent": "both"}),
        ("new-log-ei-mthr", VARIANTS["new-log-ei"], {"model_incumbent": "threshold"}),
        ("staged-mthr", VARIANTS["new-staged-50"], {"model_incumbent": "threshold"}),
        ("new-log-ei-mbase", VARIANTS["new-log-ei"], {"model_incumbent": "base"}),
        ("staged-reseed", VARIANTS["new-staged-50"], {"reseed": 1}),
        ("staged-inc100", VARIANTS["new-staged-50"], {"incumbent_share": 1.0}),
        ("staged-inc25", VARIANTS["new-staged-50"], {"incumbent_share": 0.25}),
        ("staged-mbase", VARIANTS["new-staged-50"], {"model_incumbent": "base"}),
        ("staged-mgate", VARIANTS["new-staged-50"], {"model_incumbent": "gated"}),
        ("staged-mgate2", VARIANTS["new-staged-50"], {"model_incumbent": "gated",
                                                     "noise_gate": 1e-2}),
        ("staged-mgate4", VARIANTS["new-staged-50"], {"model_incumbent": "gated",
                                                     "noise_gate": 1e-4}))
for _name, _like, _setting in _one:
    VARIANTS[_name] = _like
    SETTINGS[_name] = {**_setting}
STD = "+std"
"""Suffix: any variant above with standardized targets (``new-log-ei+std``, ``staged+std``)."""
for _name in list(VARIANTS):
    VARIANTS[_name + STD] = VARIANTS[_name]
    SETTINGS[_name + STD] = {**SETTINGS.get(_name, {}), "standardized": 1}
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


OPTUNA_VARIANTS = ("optuna-hypera", "optuna-gp", "optuna-tpe", "optuna-hypera-standardized",
                   "optuna-hypera-log-ei-standardized")
"""Whole Optuna samplers on the same task through ``benchmarks.objectives.landscape``:
``HyperaSampler()``, ``GPSampler`` and ``TPESampler`` with their defaults (noise drawn per
trial number, not the simulator's; compared by the noise-free value all the same), and
``HyperaSampler()`` / ``HyperaSampler(scorer="log-ei")`` with standardized targets."""
SETTINGS["optuna-hypera-standardized"] = {"standardized": 1}
SETTINGS["optuna-hypera-log-ei-standardized"] = {"standardized": 1}


def optuna_run(task: Landscape, seed: int, n_trials: int, name: str) -> np.ndarray:
    """The coordinates ``[n_trials, d]`` an Optuna sampler's study tried, in trial order."""
    import optuna

    from benchmarks.objectives.landscape import LandscapeObjective
    from optuna_hypera import HyperaSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler = (
        HyperaSampler(seed=seed) if name in ("optuna-hypera", "optuna-hypera-standardized")
        else HyperaSampler(seed=seed, scorer="log-ei") if name.startswith("optuna-hypera")
        else optuna.samplers.GPSampler(seed=seed) if name == "optuna-gp"
        else optuna.samplers.TPESampler(seed=seed))
    objective = LandscapeObjective(family=task.family, dim=len(task.space), task_seed=task.seed,
                                   seed=seed)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return np.stack([objective.coordinates(optuna.trial.FixedTrial(t.params))
                     for t in study.trials])


def run(task: Landscape, seed: int, n_trials: int, names: tuple[str, ...],
        new_weights: str | None, baseline: str | None = None,
        checkpoints: tuple[int, ...] = CHECKPOINTS,
        ) -> dict[str, tuple[list[float], list[float]]]:
    torch.set_num_threads(1)
    out = {}
    for name in names:
        extra = SETTINGS.get(name, {})
        steps, targets = _surrogate.REFIT_STEPS, _surrogate.TARGETS
        prior = _surrogate.KERNEL_PRIOR
        if "smooth_prior" in extra:
            _surrogate.KERNEL_PRIOR = "smooth"
        if "refit_early" in extra:
            _surrogate.REFIT_STEPS = ((50, int(extra["refit_early"])), *steps[1:])
        if "standardized" in extra:
            _surrogate.TARGETS = "standardized"
        try:
            # ``reseed``: the same variant on other draws (startup, noise, the sampler's own
            # randomness), the null distribution of a pair count.
            x = _run_one(task, seed + int(extra.get("reseed", 0)), n_trials, name, extra,
                         new_weights, baseline)
        finally:
            _surrogate.REFIT_STEPS, _surrogate.TARGETS = steps, targets
            _surrogate.KERNEL_PRIOR = prior
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
           else SACConfig())
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=sac, strategy="cooperative",
                      conflict="thompson", seed=seed, chooser=chooser, kernel=kernel,
                      global_share=share, n_candidates=int(extra.get("n_candidates", 64)))
    if "local_points" in extra:
        core.local_points = int(extra["local_points"])
    core.coordinator.blend_weight = float(extra.get("blend_weight", BLEND_WEIGHT))
    core.coordinator.stage_trials = int(extra.get("stage_trials", STAGE_TRIALS))
    core.coordinator.polish = bool(extra.get("polish", False))
    # Every variant keeps 0.11's box unless named ``-box`` (so earlier tables repeat).
    core.coordinator.stretch = bool(extra.get("stretch", False))
    core.coordinator.categorical_sweep = int(extra.get("categorical_sweep", 0))
    # Every variant keeps the default's base (the lowest observed loss) unless named
    # ``-mbase``, ``-mthr`` or ``-mbest``.
    core.model_incumbent = str(extra.get("model_incumbent", "off"))
    core.noise_gate = float(extra.get("noise_gate", core.noise_gate))
    core.coordinator.incumbent_share = float(extra.get("incumbent_share", 0.5))
    core.coordinator.global_pool = int(extra.get("global_pool", core.coordinator.global_pool))
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
    tasks = draw(a.split, a.per_family * len(families), a.draw_seed, dims=DIMS,
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
