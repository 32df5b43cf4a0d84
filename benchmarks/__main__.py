"""``python -m benchmarks run --suite quick`` (see benchmarks/README.md)."""

from __future__ import annotations

from benchmarks.cli import main


raise SystemExit(main())
