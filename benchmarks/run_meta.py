"""What a results directory records about where and how its runs ran: ``meta.json`` (one
entry per invocation: command, machine, times, ``update_meta``) and the machine's
description (``machine_info``: CPU, cores, vector instructions, library versions, device).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
import platform
from typing import Any

import optuna


META_FILE = "meta.json"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, library versions and the torch device runs use."""
    import torch

    model: str | None = None
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        # One read: the first processor's model name and flags.
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    cpu = model or platform.processor() or platform.machine()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "optuna": optuna.__version__, "device": device,
        "platform": platform.platform(),
        # Real training's last bits follow the vector instructions torch's kernels take and
        # the libraries that make the data: runs on one machine kind with other versions
        # need not repeat.
        "simd": [f for f in ("avx512f", "avx2") if f in flags],
        **{name: package_version(name) for name in ("numpy", "scipy", "scikit-learn", "monai")},
    }


def package_version(package: str) -> str | None:
    """The installed distribution's version; ``None`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def update_meta(out_dir: Path, entry: dict[str, Any]) -> None:
    """Appends one invocation (command, machine, times) to ``meta.json``."""
    path = out_dir / META_FILE
    meta = json.loads(path.read_text()) if path.exists() else {"invocations": []}
    meta["invocations"].append(entry)
    path.write_text(json.dumps(meta, indent=2) + "\n")
