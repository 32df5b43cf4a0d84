"""Command line: ``python -m benchmarks run|report|list``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import shlex
import sys

from benchmarks.samplers import SAMPLER_NAMES
from benchmarks.samplers import SamplerUnavailableError
from benchmarks.samplers import hypera_import_error
from benchmarks.suites import SUITES
from benchmarks.suites import get_suite


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of HyperaSampler against Optuna's."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a suite (skips runs already in results.jsonl)")
    run.add_argument("--suite", required=True, choices=sorted(SUITES))
    run.add_argument("--samplers", type=_names, help=f"comma list from {','.join(SAMPLER_NAMES)}")
    run.add_argument("--tasks", type=_names, help="comma list of the suite's task names")
    run.add_argument("--seeds", type=int, help="number of seeds (0..N-1); default: the suite's")
    run.add_argument("--storage", help="Optuna storage URL; default sqlite:///<out>/studies.db")
    run.add_argument("--out", type=Path, help="output directory; default results/<suite>")
    run.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--design-seeds", action="store_true",
                     help="each (task, seed) its own sampler seed, drawn from the task's name "
                          "and the seed (default: seed k is every task's sampler seed, so a "
                          "startup design repeats across tasks with the same parameters); "
                          "the seed still fixes the objective")
    report = sub.add_parser("report", help="rebuild summary.md and plots from results.jsonl")
    where = report.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="directory holding results.jsonl")
    where.add_argument("--suite", choices=sorted(SUITES), help="use results/<suite>")
    sub.add_parser("list", help="list suites, tasks and samplers")
    return parser


def _command_line(argv: Sequence[str]) -> str:
    return shlex.join(["python", "-m", "benchmarks", *argv])


def _print_outputs(paths: Sequence[Path], storage: str | None) -> None:
    print("Outputs:")
    for path in paths:
        print(f"  {path}")
    if storage:
        print(f"Browse the studies: optuna-dashboard {storage}")


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import optuna

    from benchmarks.report import write_report
    from benchmarks.runner import RESULTS_FILE
    from benchmarks.runner import plan_runs
    from benchmarks.runner import run_suite

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" per run
    suite = get_suite(args.suite)
    out = args.out if args.out is not None else Path("results") / suite.name
    storage = args.storage or f"sqlite:///{out / 'studies.db'}"
    try:
        runs = plan_runs(suite, samplers=args.samplers, seeds=args.seeds, tasks=args.tasks,
                         design_seeds=args.design_seeds)
    except (ValueError, SamplerUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = run_suite(
        runs, out_dir=out, storage_url=storage, jobs=args.jobs, command=_command_line(argv),
        suite_name=suite.name, progress=not args.no_progress,
    )
    print(
        f"{summary.completed} run(s) done, {summary.skipped} already recorded, "
        f"{len(summary.failed)} failed, in {summary.wall_seconds:.1f} s."
    )
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    paths = [out / RESULTS_FILE]
    if (out / RESULTS_FILE).exists():
        paths += write_report(out)
    _print_outputs(paths, storage)
    return 1 if summary.failed else 0


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import json

    from benchmarks.report import write_report
    from benchmarks.run_meta import META_FILE

    out = args.out if args.out is not None else Path("results") / args.suite
    try:
        paths = write_report(out, command=_command_line(argv))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    meta = out / META_FILE
    storage = None
    if meta.exists():
        invocations = json.loads(meta.read_text()).get("invocations", [])
        storage = invocations[-1].get("storage") if invocations else None
    _print_outputs(paths, storage)
    return 0


def cmd_list() -> int:
    error = hypera_import_error()
    print("Samplers: " + ", ".join(SAMPLER_NAMES))
    if error:
        print(f"  (hypera* unavailable: {error})")
    for suite in SUITES.values():
        print(f"\n{suite.name}: {suite.description}")
        print(f"  samplers: {', '.join(suite.samplers)}; seeds: {suite.seeds}")
        for task in suite.tasks:
            print(f"  - {task.name:<20} {task.family:<7} {task.n_trials:>4} trials {task.options}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "run":
        if args.jobs < 1:
            print("error: --jobs must be >= 1", file=sys.stderr)
            return 2
        return cmd_run(args, argv)
    if args.command == "report":
        return cmd_report(args, argv)
    return cmd_list()
