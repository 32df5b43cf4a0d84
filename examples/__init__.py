"""Runnable examples (``python examples/<name>.py``).

A package only so that the tests and the benchmarks, run from the repository root, can import
``examples.distributed``'s workload instead of copying it; the examples themselves import
nothing but Optuna and ``optuna_hypera``.
"""
