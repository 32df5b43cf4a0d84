"""The variants of ``benchmarks.generated_split``: what each study runs, by name.

Each simulator variant is ``VARIANTS[name] = (chooser, kernel, startup trials, share of
global candidates)`` with the coordinator and core settings in ``SETTINGS[name]`` that
differ from the defaults; ``OPTUNA_VARIANTS`` run whole Optuna samplers instead.

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
- ``new-staged-30``, ``new-staged-50`` (``-100``, ``-150``, 0.15): the teacher picks until
  that trial number, the critics after (``chooser="staged"``; 50 is
  ``HyperaSampler(scorer="staged")``, the default of 0.5-0.13; 150 is ``HyperaSampler()``,
  the default since 0.16); ``new`` is then ``HyperaSampler(scorer="critics")`` and
  ``new-log-ei`` ``HyperaSampler(scorer="log-ei")``, the default of 0.14-0.15;
- ``new-blend-z`` (``-half``, ``-2``): the critics' and the teacher's scores, z-scored over
  the candidates and added with the teacher weighted 1 (0.5, 2); ``new-blend`` the same by
  ranks (``_rules.blend``);
- ``new-c128``, ``new-c256``, ``new-log-ei-c256``: 128 or 256 candidates per decision
  instead of 64;
- ``staged``: 0.5-0.13's default (``HyperaSampler(scorer="staged")``) with the baseline
  weights, to hold ``new-staged-50`` against (every lever variant named ``staged-*`` is a
  change of it; in 0.14-0.15 the default was ``new-log-ei``, since 0.16 ``new-staged-150``);
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
  shapes (``HyperaCore.kernel_prior``); ``new-log-ei-global-p1024``, ``new-log-ei-g25-p1024``,
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
  ``staged-startup-7-iu15``, ``-iu30``: 7 startup trials and the incumbent as every base
  below 15 or 30 trainings (``Coordinator.incumbent_until``), after 0.19;
  ``staged-startup-7-iu30-rmax4``, ``staged-startup-7-rmax4``: with and without that, the
  trust radius capped at its first value (``HyperaCore.radius_max``);
- ``new-log-ei-frozen``: 0.15's default without online updates
  (``SACConfig(gradient_steps=0)``), 0.15; ``new-staged-150-frozen``: 0.16's default without
  them (the ``hypera-frozen`` row of the suites), 0.16;
- ``new-log-ei-ks8``, ``new-log-ei-ks16``: the teacher's log EI averaged (as EI) over 8 or 16
  slice-sampled draws of the kernel's hyperparameters (``_kernel_fit.KERNEL_SAMPLES``);
  ``new-log-ei-starts3``: the kernel fitted from 3 starting points
  (``_kernel_fit.FIT_STARTS``), 0.17 (``docs/benchmarks/levers-0.17.md``);
- ``new-shortlist`` (``-2``, ``-8``, ``-16``): the critics pick among the 4 (2, 8, 16) acceptable
  candidates of highest log-EI from the first decision on (``chooser="shortlist"``,
  ``Coordinator.shortlist``), 0.15;
- any simulator variant with the suffix ``+std`` (``staged+std``, ``new-log-ei-global+std``):
  the same with standardized targets;
"""

from __future__ import annotations

from optuna_hypera._coordinator import GLOBAL_OPTION
from optuna_hypera._coordinator import GLOBAL_SHARE


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
for _n in (30, 50, 100, 150):
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
# shapes (``HyperaCore.kernel_prior``); 8, 16 or 32 of 64 candidates from the whole space,
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
        ("new-log-ei-frozen", VARIANTS["new-log-ei"], {"frozen": 1}),
        ("new-log-ei-ks8", VARIANTS["new-log-ei"], {"kernel_samples": 8}),
        ("new-log-ei-ks16", VARIANTS["new-log-ei"], {"kernel_samples": 16}),
        ("new-log-ei-starts3", VARIANTS["new-log-ei"], {"fit_starts": 3}),
        ("new-log-ei-r1", VARIANTS["new-log-ei"], {"radius_init": 1.0}),
        ("new-g4", VARIANTS["new"], {"gradient_steps": 4}),
        ("new-g8", VARIANTS["new"], {"gradient_steps": 8}),
        ("new-g16", VARIANTS["new"], {"gradient_steps": 16}),
        ("new-log-ei-g4", VARIANTS["new-log-ei"], {"gradient_steps": 4}),
        ("new-log-ei-r2", VARIANTS["new-log-ei"], {"radius_init": 2.0}),
        ("new-log-ei-r8", VARIANTS["new-log-ei"], {"radius_init": 8.0}),
        ("new-staged-150-frozen", VARIANTS["new-staged-150"],
         {**SETTINGS["new-staged-150"], "frozen": 1}),
        ("staged-reseed", VARIANTS["new-staged-50"], {"reseed": 1}),
        ("staged-inc100", VARIANTS["new-staged-50"], {"incumbent_share": 1.0}),
        ("staged-inc25", VARIANTS["new-staged-50"], {"incumbent_share": 0.25}),
        ("staged-startup-7-iu15", VARIANTS["staged-startup-7"], {"incumbent_until": 15}),
        ("staged-startup-7-iu30", VARIANTS["staged-startup-7"], {"incumbent_until": 30}),
        ("staged-startup-7-iu30-rmax4", VARIANTS["staged-startup-7"],
         {"incumbent_until": 30, "radius_max": 4.0}),
        ("staged-startup-7-rmax4", VARIANTS["staged-startup-7"], {"radius_max": 4.0}),
        ("staged-mbase", VARIANTS["new-staged-50"], {"model_incumbent": "base"}),
        ("staged-mgate", VARIANTS["new-staged-50"], {"model_incumbent": "gated"}),
        ("staged-mgate2", VARIANTS["new-staged-50"], {"model_incumbent": "gated",
                                                     "noise_gate": 1e-2}),
        ("staged-mgate4", VARIANTS["new-staged-50"], {"model_incumbent": "gated",
                                                     "noise_gate": 1e-4}))
# The critics among log-EI's 4 (the default ``Coordinator.shortlist``), 2, 8 or 16 best.
VARIANTS["new-shortlist"] = ("shortlist", "mixed", 10, GLOBAL_SHARE)
for _n in (2, 8, 16):
    VARIANTS[f"new-shortlist-{_n}"] = VARIANTS["new-shortlist"]
    SETTINGS[f"new-shortlist-{_n}"] = {"shortlist": _n}
for _name, _like, _setting in _one:
    VARIANTS[_name] = _like
    SETTINGS[_name] = {**_setting}
STD = "+std"
"""Suffix: any variant above with standardized targets (``new-log-ei+std``, ``staged+std``)."""
for _name in list(VARIANTS):
    VARIANTS[_name + STD] = VARIANTS[_name]
    SETTINGS[_name + STD] = {**SETTINGS.get(_name, {}), "standardized": 1}

OPTUNA_VARIANTS = ("optuna-hypera", "optuna-gp", "optuna-tpe", "optuna-hypera-standardized",
                   "optuna-hypera-log-ei-standardized", "optuna-random",
                   "optuna-hypera-dbr", "optuna-hypera-randind-dbr", "optuna-hypera-tpeind-dbr",
                   "optuna-hypera-model-dbr", "optuna-hypera-model-tpeind-dbr",
                   "optuna-hypera-modelraw-dbr", "optuna-hypera-bb25", "optuna-hypera-bb25-dbr",
                   "optuna-hypera-bb10", "optuna-hypera-bb10-dbr", "optuna-hypera-glob",
                   "optuna-gp-dbr", "optuna-tpe-dbr", "optuna-random-dbr",
                   "optuna-hypera-model-balanced", "optuna-hypera-model-balanced-dbr",
                   "optuna-hypera-model")
"""Whole Optuna samplers on the same task through ``benchmarks.objectives.landscape``:
``HyperaSampler()``, ``GPSampler`` and ``TPESampler`` with their defaults (noise drawn per
trial number, not the simulator's; compared by the noise-free value all the same), and
``HyperaSampler()`` / ``HyperaSampler(scorer="log-ei")`` with standardized targets;
``optuna-random``: ``RandomSampler``. ``-dbr``: a ``conditional`` task declared define-by-run
(only the chosen branch's parameters suggested, ``LandscapeObjective(define_by_run=True)``);
``optuna-hypera-randind`` / ``-tpeind``: ``HyperaSampler`` with ``RandomSampler`` or univariate
``TPESampler`` for the parameters outside its relative search space; ``-model``:
``HyperaSampler(conditional="model")``, conditional parameters in the agents' space
(``-modelraw``: without ``Coordinator.as_asked``, as 0.20's first runs); ``-bb25``,
``-bb10``: ``Coordinator.branch_bases`` at 0.25 or 0.10 (a lever, measured after 0.20);
``optuna-hypera-glob``: 8 of the 64 candidates from the whole space (``GLOBAL_OPTION``);
``-balanced``: the startup design ``StudySobol(design="balanced")`` (every categorical
choice once per block; measured after 0.20, not adopted, ``docs/benchmarks/startup-design.md``);
``optuna-hypera-model``: ``HyperaSampler(conditional="model")``, the default sampler."""
SETTINGS["optuna-hypera-standardized"] = {"standardized": 1}
SETTINGS["optuna-hypera-log-ei-standardized"] = {"standardized": 1}
