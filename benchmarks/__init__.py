"""Benchmark harness for ``optuna_hypera.HyperaSampler`` (issue 3); see benchmarks/README.md.

``python -m benchmarks run --suite quick`` runs a suite; the objectives in
:mod:`benchmarks.objectives` are plain ``objective(trial) -> float`` callables usable alone.
"""
