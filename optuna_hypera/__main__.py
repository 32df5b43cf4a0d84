"""``python -m optuna_hypera pretrain ...``

- with ``--storage URL --study NAME ...``: fine-tune the agents on stored studies
  (``optuna_hypera.team``);
- without ``--storage``: pre-train on synthetic tasks (``python -m optuna_hypera.pretrain``).
"""

from __future__ import annotations

from collections.abc import Sequence
import sys


USAGE = """usage: python -m optuna_hypera pretrain [--storage URL --study NAME ...] --out FILE ...

  pretrain --storage URL --study NAME [--study NAME ...] --out team.pt
      fine-tune the agents on a team's stored studies (python -m optuna_hypera pretrain
      --storage URL --study NAME --out team.pt --help for every option)
  pretrain --out weights.pt [--rounds ...]
      pre-train on synthetic tasks (python -m optuna_hypera.pretrain --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "pretrain":
        print(USAGE, file=sys.stderr)
        return 2
    rest = args[1:]
    if any(a == "--storage" or a.startswith("--storage=") for a in rest):
        from optuna_hypera.team import main as team_main

        return team_main(rest)
    from optuna_hypera.pretrain import main as pretrain_main

    return pretrain_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
