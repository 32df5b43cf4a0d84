"""Every benchmark suite in one table: tasks, trial budgets, samplers and seeds.

A *task* is an objective family with fixed size options and a trial budget. A *run* is one
(task, sampler, seed) triple; the seed fixes both the sampler's seed and the objective's
randomness (BBOB instance, data split, weight init), so samplers are compared on paired seeds.

| suite    | use                                   | size (2 CPU cores, ``--jobs 2``)     |
|----------|---------------------------------------|--------------------------------------|
| tiny     | the smoke test                        | seconds                              |
| quick    | README demo                           | under 5 minutes                      |
| standard | the README results table              | about 30-40 minutes                  |
| ablation | the standard tasks, one switch off    | about 30 minutes                     |
| small    | 20-25 trials: digits, MONAI, generated| about 30 minutes                     |
| conditional | define-by-run spaces: model       | about 3 minutes                      |
|          | selection, generated test tasks       |                                      |
| long     | 1000 trials in 30-D (no GP)           | about 10 minutes with ``--storage``  |
|          |                                       | ``<out>/studies.log`` (a journal)    |
| training-val | levers on real training of        | about 15 minutes                     |
|          | generated data (validation seeds;     |                                      |
|          | ``training-val2``, ``-val3``: others) |                                      |
| torch-val | the same with torch training        | about 20 minutes                     |
| torch-val-dbr | torch-val declared define-by-run, | about 17 minutes (``-dbr40``: 13)    |
|          | for conditional parameters            |                                      |
| full     | everything, bigger budgets, MONAI 3D  | many hours; meant for a GPU machine  |

SQLite, the default storage, is slow to fill with 1000-trial studies (``runner.make_storage``):
give the ``long`` suite a ``*.log`` storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True)
class Task:
    """One objective at one size with its trial budget."""

    name: str
    """Unique within a suite; first part of the study name ``<task>/<sampler>/seed<k>``."""
    family: str
    """Objective family: ``bbob``, ``digits``, ``monai``, ``curves`` or ``landscape`` (see
    ``benchmarks.objectives``)."""
    n_trials: int
    """Trials per run."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the family's factory (size, epochs, BBOB fid and dimension)."""


@dataclass(frozen=True)
class Suite:
    """Tasks x samplers x seeds."""

    name: str
    description: str
    tasks: tuple[Task, ...]
    samplers: tuple[str, ...]
    seeds: int
    """Runs use seeds ``0 .. seeds-1``."""


def bbob(fid: int, dim: int, n_trials: int) -> Task:
    return Task(f"bbob-f{fid}-d{dim}", "bbob", n_trials, {"fid": fid, "dim": dim})


# `hypera` is the default sampler (pre-trained weights, cooperative strategy); `hypera-scratch`
# the same without pre-training. The ablation suite adds the other switches.
ALL_SAMPLERS = (
    "hypera", "hypera-scratch",
    "tpe", "cmaes", "gp", "random", "qmc",
)
ABLATION_SAMPLERS = ("hypera", "hypera-logei", "hypera-critics", "hypera-scratch", "hypera-frozen",
                     "hypera-nomodel")
SMALL_DIGITS = {"epochs": 15}
SMALL_MONAI = {"n_train": 32, "n_val": 16, "size": 32, "epochs": 8, "noise": 1.0}
MONAI_3D = {"spatial_dims": 3, "n_train": 32, "n_val": 8, "size": 32, "epochs": 15, "noise": 1.5}

STANDARD_TASKS = (
    bbob(8, 2, 100),
    bbob(8, 5, 100),
    bbob(8, 10, 100),
    bbob(8, 20, 100),
    bbob(15, 5, 100),
    bbob(21, 10, 100),
    Task("digits-mlp", "digits", 40),
    Task("monai-seg-2d", "monai", 20),
)

def _small_landscapes() -> tuple[Task, ...]:
    """Two tasks of every generated family of the test split (``optuna_hypera._families``,
    3, 6 or 10 dimensions), 25 trials each."""
    from optuna_hypera._families import draw

    return tuple(
        Task(f"gen-{t.family}-d{len(t.space)}-{t.seed}", "landscape", 25,
             {"landscape": t.family, "dim": len(t.space), "task_seed": t.seed})
        for t in draw("test", 24, 1, dims=(3, 6, 10)))


def _conditional_landscapes() -> tuple[Task, ...]:
    """Nine ``conditional`` tasks of the generated test split (3, 6 and 10 dimensions),
    declared define-by-run (only the chosen branch's parameters asked), 40 trials each."""
    from optuna_hypera._families import draw

    return tuple(
        Task(f"gen-conditional-dbr-d{len(t.space)}-{t.seed}", "landscape", 40,
             {"landscape": t.family, "dim": len(t.space), "task_seed": t.seed,
              "define_by_run": True})
        for t in draw("test", 9, 1, dims=(3, 6, 10), families=("conditional",)))


def _torch_dbr(n_trials: int, samplers: tuple[str, ...], why: str) -> Suite:
    """``torch-val-dbr`` (20 trials) and ``torch-val-dbr40``: torch-val's tasks declared
    define-by-run (dropout only with residual blocks, the momentum under each optimizer's
    own name)."""
    tail = "" if n_trials == 20 else str(n_trials)
    return Suite(
        f"torch-val-dbr{tail}", f"Validation, not evaluation: torch-val's tasks declared "
        f"define-by-run at {n_trials} trials; {why}.",
        tasks=_seeded(f"torch-dbr{tail}", "torch_training", n_trials, range(9000, 9016),
                      define_by_run=True),
        samplers=samplers, seeds=3)


def _seeded(prefix: str, family: str, n_trials: int, seeds: range,
            **options: Any) -> tuple[Task, ...]:
    """One task per validation task seed of a generated real-training family (``options``:
    the family's other keyword options)."""
    return tuple(Task(f"{prefix}-t{s}", family, n_trials, {"task_seed": s, **options})
                 for s in seeds)


SMALL_SAMPLERS = ("hypera", "hypera-logei", "hypera-critics", "tpe", "cmaes", "gp", "random")

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "tiny", "Smoke test: two cheap tasks, six trials.",
            tasks=(
                bbob(1, 2, 6),
                Task("digits-mlp-tiny", "digits", 5, {"epochs": 2, "n_samples": 300}),
            ),
            samplers=("random", "tpe"), seeds=2,
        ),
        Suite(
            "quick", "README demo: BBOB in 5-D and 10-D, small digits MLP, small 2-D MONAI UNet.",
            tasks=(
                bbob(8, 5, 60),
                bbob(21, 10, 60),
                Task("digits-mlp-small", "digits", 20, SMALL_DIGITS),
                Task("monai-seg-2d-small", "monai", 12, SMALL_MONAI),
            ),
            samplers=("hypera", "tpe", "gp", "random"), seeds=3,
        ),
        Suite(
            "standard", "README table: BBOB in 2..20-D, digits MLP, 64x64 2-D MONAI UNet.",
            tasks=STANDARD_TASKS,
            samplers=ALL_SAMPLERS, seeds=5,
        ),
        Suite(
            "ablation", "The standard suite's tasks and seeds, one switch of hypera off per row.",
            tasks=STANDARD_TASKS,
            samplers=ABLATION_SAMPLERS, seeds=5,
        ),
        Suite(
            "small", "Small budgets: the digits MLP and a small MONAI UNet at 20 trials, "
            "generated test-split tasks of every family at 25.",
            tasks=(
                Task("digits-mlp-20", "digits", 20),
                Task("monai-seg-2d-small-20", "monai", 20, SMALL_MONAI),
                *_small_landscapes(),
            ),
            samplers=SMALL_SAMPLERS, seeds=5,
        ),
        Suite(
            "conditional", "Define-by-run conditional spaces (evaluation): choosing a "
            "scikit-learn classifier and its settings on two bundled data sets, and "
            "generated test-split conditional tasks, 40 trials.",
            tasks=(
                *(Task(f"models-{d}", "model_selection", 40, {"data": d})
                  for d in ("digits", "breast_cancer")),
                *_conditional_landscapes(),
            ),
            samplers=("hypera", "hypera-condind", "tpe", "gp", "random"), seeds=5,
        ),
        Suite(
            "long", "1000 trials in 30-D, where GP's cubic cost is prohibitive (GP left out).",
            # f15 and f21 since 0.15: a multimodal and a many-peaked landscape beside Rosenbrock
            tasks=(bbob(8, 30, 1000), bbob(15, 30, 1000), bbob(21, 30, 1000)),
            samplers=("hypera", "tpe", "cmaes", "random"), seeds=5,  # 5 since 0.16 (3 before)
        ),
        Suite(
            "training-val", "Validation, not evaluation: an MLP trained on generated data "
            "(validation task seeds) at 25 trials, to choose levers on real training.",
            tasks=_seeded("train", "training", 25, range(9000, 9008)),
            # 0.17 ran hypera-startup7 where hypera-startup10 is: 7 is the default since 0.18
            samplers=("hypera", "hypera-stretch", "hypera-startup10", "gp", "tpe"), seeds=3,
        ),
        Suite(
            "training-val2", "A second draw of training-val's tasks (task seeds 9008-9015).",
            tasks=_seeded("train", "training", 25, range(9008, 9016)),
            samplers=("hypera", "hypera-stretch", "hypera-startup10", "gp", "tpe"), seeds=3,
        ),
        Suite(
            "training-val3", "Sixteen more of training-val's tasks (task seeds 9016-9031) for "
            "the two questions its first draws left open: GP and 7 startup trials.",
            tasks=_seeded("train", "training", 25, range(9016, 9032)),
            samplers=("hypera", "hypera-startup10", "gp"), seeds=3,  # 7 before 0.18
        ),
        Suite(
            "torch-val", "Validation, not evaluation: a residual torch MLP trained on generated "
            "data (validation task seeds) at 20 trials, the second real-training family.",
            tasks=_seeded("torch", "torch_training", 20, range(9000, 9016)),
            # 0.19's runs, before the switch, held hypera-startup10 where hypera-startup7 is:
            # the default takes 10 startup trials on these 10-parameter tasks since
            samplers=("hypera", "hypera-startup7", "gp", "tpe", "random"), seeds=3,
        ),
        _torch_dbr(20, ("hypera", "hypera-condind", "gp", "tpe"),
                   "for conditional='model' on real training"),
        _torch_dbr(40, ("hypera", "hypera-condind"),
                   "0.20's default against 0.19's rule only, whether the 20-trial cost of "
                   "modelling conditional parameters that matter little shrinks"),
        Suite(
            "torch-val2", "A second draw of torch-val's tasks (task seeds 9016-9031).",
            tasks=_seeded("torch", "torch_training", 20, range(9016, 9032)),
            samplers=("hypera", "hypera-startup7", "gp"), seeds=3,  # as torch-val
        ),
        Suite(
            "full", "Everything: 24 BBOB tasks, 10 seeds, bigger budgets, MONAI 2-D and 3-D.",
            tasks=(
                *(bbob(f, d, 200) for f in (1, 8, 10, 15, 21, 24) for d in (2, 5, 10, 20)),
                Task("digits-mlp", "digits", 100),
                Task("monai-seg-2d", "monai", 60),
                Task("monai-seg-3d", "monai", 30, MONAI_3D),
            ),
            samplers=ALL_SAMPLERS, seeds=10,
        ),
    )
}


def get_suite(name: str) -> Suite:
    """The suite called ``name``; ``ValueError`` listing the choices otherwise."""
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"Unknown suite {name!r}; choose one of {sorted(SUITES)}.") from None
