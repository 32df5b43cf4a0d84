"""Samplers under pruners at equal budget in epochs (not trials).

    python -m benchmarks.pruning run --out results/pruning --jobs 2 --seeds 5 \\
        [--tasks curves,digits] [--samplers hypera,tpe,gp,random] \\
        [--pruners none,median,hyperband] [--trainings K] [--design-seeds] [--quick] \\
        [--no-progress]
    python -m benchmarks.pruning report --out results/pruning
    python -m benchmarks.pruning list

Every run gives one sampler, under one pruner, the same number of *epochs*: a callback stops
the study once the trials' reported steps reach the task's budget (a pruned trial pays for the
epochs it trained; the last trial may overshoot by less than one full training, and the record
keeps the exact count). Pruners: ``none`` (``NopPruner``), ``median``
(``MedianPruner(n_startup_trials=5, n_warmup_steps=<a fifth of a training>)``) and
``hyperband`` (``HyperbandPruner(min_resource=1, max_resource=<epochs of a training>,
reduction_factor=3)``). The study name ``pruning/<task>/<pruner>/seed<k>`` is the same for every
sampler: Hyperband hashes it to pick each trial's bracket, so paired runs share brackets. Seed
*k* fixes the objective's randomness (curve noise; digits split, init and batch order) and the
sampler's seed; with ``--design-seeds`` the sampler's seed is drawn from the task's name and *k*
(:func:`benchmarks.runner.design_seed`, the same for every sampler and pruner of the pair), so
tasks with the same parameters do not share a seed's startup design.

Tasks (``--tasks`` takes names or the group names ``curves``, ``curves-val``, ``curves-val2``,
``torch-val``, ``torch-val2``, ``digits``, ``monai``):

- ``curves``: ``curves-d<d>-t<seed>`` for seeds 10000..10007 with d = 4, 5, 6, 4, 5, 6, 4, 5
  (``curves-d4-t10000`` .. ``curves-d5-t10007``); 27 epochs a training, budget 1350 epochs
  (50 trainings);
- ``digits``: ``digits-mlp-15``; 15 epochs a training, budget 750 epochs (50 trainings);
- ``monai``: ``monai-seg-2d-27`` (GPU only: never in the default set); 27 epochs a training,
  budget 540 epochs (20 trainings).
- ``curves-val``: 12 curve tasks of seeds 9000..9011 (d = 4, 5, 6 in turn), the validation set
  on which levers of the sampler under pruners are chosen (never in the default set);
  ``curves-val2``: a second draw of 12, seeds 9012..9023 (since 0.15).
- ``torch-val``: ``torch-t<seed>`` for seeds 9000..9015, the generated torch-training family
  (10 parameters, 12 epochs a training, budget 600 epochs; validation seeds, never in the
  default set, since 0.19): real training under pruners at ten parameters; ``torch-val2``:
  a second draw, seeds 9016..9031.

``curves-d<d>-t<seed>`` is the generated learning-curve task ``CurveTask.sample(d, seed)`` of
``optuna_hypera._curve_tasks`` (:mod:`benchmarks.objectives.curves`); task seeds 10_000 and above
are the evaluation range and 9_000 to 9_999 the validation range; pre-training draws below both.
``digits-mlp-15`` is the ``digits`` objective with 15 epochs. ``monai-seg-2d-27`` is the
``monai`` objective (64x64, 96 training images, loss 1 - Dice) with 27 epochs; at ~0.25-0.3 s
an epoch on this CPU (README calibration) a run would take 2-3 minutes and its 60 runs about
2.5 CPU-hours, so it runs only when named, on a GPU machine (not run in this project so far).

Size of the default run: 4 samplers x 3 pruners x 9 tasks x 5 seeds = 540 runs, estimated at
about 20 minutes with ``--jobs 2`` on this 2-core machine (AMD EPYC, one torch/BLAS thread a
worker), 30 when other work shares the cores. Measured in one process, one seed of the 12
sampler x pruner runs: 18-26 s on a curves task (GP ~2-6 s a run, the others ~0.1-2.5 s), about
310 s on digits (GP 42 / 69 / 55 s without / with median / with Hyperband pruning, most of it
GP's ~0.3 s a trial over 150-215 trials; random 11-12 s; TPE and hypera 15-20 s); i.e.
5 x (8 x 20 + 310) = 2350 CPU-s over two workers. The budget is capped by that GP run: at 80
trainings GP under MedianPruner took 188 s (354 trials), past the 2-minute mark for one run.
``--quick`` (one curves task at 8 trainings, a 300-digit MLP of 9 epochs at 6 trainings,
2 seeds) took 28 s with the four default samplers.

Outputs in ``--out`` (default ``results/pruning``, ``results/pruning-quick`` with ``--quick``):
``results.jsonl`` (one record per run, resumable: a recorded run at the same budget and options
is skipped), ``meta.json`` (every invocation), ``summary.md``, ``summary.json`` and
``pruning.png`` (see :mod:`benchmarks.pruning_report`). No study database: the records keep
every trial's state, epochs, value and last reported value.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import datetime
import json
from pathlib import Path
import shlex
import sys

from benchmarks.pruning_report import write_pruning_report
from benchmarks.pruning_run import DEFAULT_PRUNERS
from benchmarks.pruning_run import PRUNERS
from benchmarks.pruning_run import PruningSpec
from benchmarks.pruning_run import PruningTask
from benchmarks.pruning_run import run_pruning
from benchmarks.run_meta import META_FILE
from benchmarks.runner import RESULTS_FILE
from benchmarks.runner import THREAD_ENV
from benchmarks.samplers import SAMPLER_NAMES
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import check_samplers
from benchmarks.suites import SUITES
from benchmarks.summary_md import libraries
from optuna_hypera._curve_tasks import VALIDATION_SEEDS_START


CURVE_STEPS = 27
CURVE_TASKS = (
    (4, 10_000), (5, 10_001), (6, 10_002), (4, 10_003), (5, 10_004), (6, 10_005), (4, 10_006),
    (5, 10_007),
)
"""(d, task seed) of the evaluation curve tasks."""
VALIDATION_CURVE_TASKS = tuple((4 + k % 3, VALIDATION_SEEDS_START + k) for k in range(12))
"""(d, task seed) of the ``curves-val`` group: from ``VALIDATION_SEEDS_START``, below
``EVALUATION_SEEDS_START``, so a lever of the sampler under pruners can be chosen on them without
touching the evaluation tasks. Pre-training with curves draws below ``VALIDATION_SEEDS_START``
(no shipped weights were pre-trained on curve tasks: ``curves_share`` 0 in
``weights/default.json``)."""
VALIDATION_CURVE_TASKS_2 = tuple((d, s + len(VALIDATION_CURVE_TASKS))
                                 for d, s in VALIDATION_CURVE_TASKS)
"""A second draw of 12 validation curve tasks (``curves-val2``, since 0.15), so a lever chosen
under pruners is checked on two draws that must agree."""
TORCH_STEPS = 12
"""Epochs of one training of the ``torch-val`` and ``torch-val2`` groups: the tasks of the
suites of those names (the generated torch-training family, validation task seeds only, 10
parameters, reported every epoch)."""
VALIDATION_GROUPS = ("curves-val", "curves-val2", "torch-val", "torch-val2")
"""Groups that run only when named: levers are chosen on them, never on the evaluation tasks."""
DEFAULT_TRAININGS = 50
SAMPLERS = ("hypera", "tpe", "gp", "random")


def curve_task(d: int, task_seed: int, trainings: int, group: str = "curves") -> PruningTask:
    return PruningTask(
        f"curves-d{d}-t{task_seed}", group, "curves", max_steps=CURVE_STEPS,
        budget=trainings * CURVE_STEPS, first_step=1,
        options={"task_seed": task_seed, "dim": d, "n_steps": CURVE_STEPS},
    )


def task_table(*, quick: bool, trainings: int | None) -> list[PruningTask]:
    """Every task of the full or quick set, GPU-only ones included; ``trainings`` overrides
    every budget (in full trainings)."""
    if quick:
        k = trainings
        return [
            curve_task(4, 10_000, k or 8),
            PruningTask("digits-mlp-quick", "digits", "digits", max_steps=9, budget=9 * (k or 6),
                        first_step=0, options={"epochs": 9, "n_samples": 300}),
            PruningTask("monai-seg-2d-quick", "monai", "monai", max_steps=9, budget=9 * (k or 6),
                        first_step=0, gpu_only=True,
                        options={"n_train": 32, "n_val": 16, "size": 32, "epochs": 9,
                                 "noise": 1.0}),
        ]
    k = trainings or DEFAULT_TRAININGS
    return [
        *(curve_task(d, s, k) for d, s in CURVE_TASKS),
        *(curve_task(d, s, k, "curves-val") for d, s in VALIDATION_CURVE_TASKS),
        *(curve_task(d, s, k, "curves-val2") for d, s in VALIDATION_CURVE_TASKS_2),
        *(PruningTask(t.name, group, t.family, max_steps=TORCH_STEPS, budget=TORCH_STEPS * k,
                      first_step=0, options=dict(t.options))
          for group in ("torch-val", "torch-val2") for t in SUITES[group].tasks),
        PruningTask("digits-mlp-15", "digits", "digits", max_steps=15, budget=15 * k,
                    first_step=0, options={"epochs": 15}),
        PruningTask("monai-seg-2d-27", "monai", "monai", max_steps=27,
                    budget=27 * (trainings or 20), first_step=0, gpu_only=True,
                    options={"epochs": 27}),
    ]


def select_tasks(table: Sequence[PruningTask], names: Sequence[str] | None) -> list[PruningTask]:
    """The tasks named (by task or group name), else every evaluation task that is not GPU-only
    (the ``VALIDATION_GROUPS`` run only when named)."""
    if names is None:
        return [t for t in table if not t.gpu_only and t.group not in VALIDATION_GROUPS]
    known = {t.name for t in table} | {t.group for t in table}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"Unknown task(s) {unknown}; choose from {sorted(known)}.")
    return [t for t in table if t.name in names or t.group in names]


def plan(tasks: Sequence[PruningTask], samplers: Sequence[str], pruners: Sequence[str],
         seeds: int, design_seeds: bool = False) -> list[PruningSpec]:
    """Every (task, pruner, sampler, seed), seed-major: an interrupted run has every cell on
    its first seeds."""
    check_samplers(samplers)
    bad = [p for p in pruners if p not in PRUNERS]
    if bad:
        raise ValueError(f"Unknown pruner(s) {bad}; choose from {list(PRUNERS)}.")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}.")
    return [PruningSpec(task, sampler, pruner, seed, design_seeds) for seed in range(seeds)
            for task in tasks for pruner in pruners for sampler in samplers]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pruning",
        description="Samplers under pruners at equal epochs (see the module docstring).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (skips runs already in results.jsonl), then report")
    run.add_argument("--out", type=Path, help="output directory (default results/pruning)")
    run.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    run.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 5; 2 with --quick)")
    run.add_argument("--tasks", type=_names, help="task or group names (default: all but GPU)")
    run.add_argument("--samplers", type=_names, default=list(SAMPLERS),
                     help=f"comma list from {','.join(SAMPLER_NAMES)} (default "
                     f"{','.join(SAMPLERS)})")
    run.add_argument("--pruners", type=_names, default=list(DEFAULT_PRUNERS),
                     help=f"comma list from {','.join(PRUNERS)} (default "
                     f"{','.join(DEFAULT_PRUNERS)})")
    run.add_argument("--trainings", type=int,
                     help=f"budget in full trainings per run (default {DEFAULT_TRAININGS}; "
                     "MONAI 20)")
    run.add_argument("--design-seeds", action="store_true",
                     help="a sampler seed per (task, seed), shared by the samplers of the pair "
                     "(default: seed k for every task, so tasks of one size share designs)")
    run.add_argument("--quick", action="store_true", help="tiny tasks and budgets (smoke test)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    report = sub.add_parser("report", help="rebuild summary.md, summary.json and the plot")
    report.add_argument("--out", type=Path, default=Path("results/pruning"))
    listing = sub.add_parser("list", help="list the tasks")
    listing.add_argument("--quick", action="store_true")
    return parser


def _header(out: Path) -> list[str]:
    """The machine and thread settings of the last run, from ``meta.json``."""
    meta = out / META_FILE
    if not meta.exists():
        return []
    runs = [e for e in json.loads(meta.read_text()).get("invocations", []) if "machine" in e]
    if not runs:
        return []
    m, last = runs[-1]["machine"], runs[-1]
    return [f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, optuna "
            f"{m['optuna']}, torch {m['torch']} on {m['device']}.{libraries(m)} Runs in "
            f"{last['jobs']} worker "
            "process(es), one torch/BLAS thread each (" + ", ".join(
                f"{k}=1" for k in THREAD_ENV) + f"); last run {last['wall_seconds']:.0f} s.", "",
            "Sampler seeds: " + (
                "drawn from the task's name and the seed (`--design-seeds`: every run its own "
                "startup design, shared by the samplers of a pair)."
                if "--design-seeds" in last["command"] else
                "the seed itself on every task (tasks with the same parameters share a seed's "
                "startup design)."), ""]


def _run_command(out: Path) -> str | None:
    meta = out / META_FILE
    if not meta.exists():
        return None
    runs = [e for e in json.loads(meta.read_text()).get("invocations", []) if "machine" in e]
    return runs[-1]["command"] if runs else None


def cmd_run(args: argparse.Namespace, command: str) -> int:
    import optuna

    from benchmarks.run_meta import machine_info
    from benchmarks.run_meta import update_meta

    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2
    if args.trainings is not None and args.trainings < 1:
        print("error: --trainings must be >= 1", file=sys.stderr)
        return 2
    out = args.out or Path("results/pruning-quick" if args.quick else "results/pruning")
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    try:
        tasks = select_tasks(task_table(quick=args.quick, trainings=args.trainings), args.tasks)
        specs = plan(tasks, args.samplers, args.pruners, seeds, args.design_seeds)
    except (ValueError, SamplerUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    outcome = run_pruning(specs, out_dir=out, jobs=args.jobs, progress=not args.no_progress)
    update_meta(out, {
        "command": command, "suite": "pruning", "jobs": args.jobs, "started": started,
        "wall_seconds": outcome.wall_seconds, "runs_planned": outcome.planned,
        "runs_executed": outcome.completed, "runs_failed": len(outcome.failed),
        "machine": machine_info(),
    })
    print(f"{outcome.completed} run(s) done, {outcome.skipped} already recorded, "
          f"{len(outcome.failed)} failed, in {outcome.wall_seconds:.1f} s.")
    for failure in outcome.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    if (out / RESULTS_FILE).exists():
        paths = write_pruning_report(out, command=command, header=_header(out))
        print("\n".join(["Outputs:", *(f"  {p}" for p in [out / RESULTS_FILE, *paths])]))
    return 1 if outcome.failed else 0


def cmd_report(args: argparse.Namespace, command: str) -> int:
    out: Path = args.out
    run_command = _run_command(out)
    header = _header(out) + ([f"Report rebuilt by: `{command}`", ""] if run_command else [])
    try:
        paths = write_pruning_report(out, command=run_command or command, header=header)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(["Outputs:", *(f"  {p}" for p in paths)]))
    return 0


def cmd_list(quick: bool) -> int:
    for task in task_table(quick=quick, trainings=None):
        gpu = "  (GPU only: name it with --tasks)" if task.gpu_only else ""
        print(f"{task.name:<20} {task.group:<7} {task.max_steps:>3} epochs a training, budget "
              f"{task.budget} epochs {task.options}{gpu}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.pruning", *argv])
    if args.command == "run":
        return cmd_run(args, command)
    if args.command == "report":
        return cmd_report(args, command)
    return cmd_list(args.quick)


if __name__ == "__main__":
    sys.exit(main())
