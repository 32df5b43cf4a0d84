"""Helpers for the tests that use real servers and worker processes.

Also runnable from the repository root as a worker that blocks mid-trial (used by the kill -9
test)::

    python -m tests._services blocking-worker --storage URL --study-name NAME \\
        --block-at 6 --sentinel /tmp/ready
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import json
import os
from pathlib import Path
import socket
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from examples import distributed
from optuna_hypera.storages import make_storage
from optuna_hypera.storages import split_redis_prefix


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"


def reachable(host: str, port: int) -> bool:
    """True when a TCP connection to ``host:port`` opens within one second."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


needs_postgres = pytest.mark.skipif(
    not reachable("127.0.0.1", 5432), reason="PostgreSQL is not reachable on 127.0.0.1:5432"
)
needs_redis = pytest.mark.skipif(
    not reachable("127.0.0.1", 6379), reason="Redis is not reachable on 127.0.0.1:6379"
)


def unique_name(prefix: str = "hypera-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def temporary_study_url(url: str, study_name: str) -> Iterator[str]:
    """Yield ``url``; afterwards delete the study and, for Redis, the journal under its prefix."""
    try:
        yield url
    finally:
        storage = make_storage(url, heartbeat_interval=None)
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=study_name, storage=storage)
        if url.startswith("redis"):
            import redis

            redis_url, prefix = split_redis_prefix(url)
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)


def run_example(args: Sequence[str], timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """Run ``examples/distributed.py`` in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "distributed.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn_blocking_worker(
    storage_url: str, study_name: str, block_at: int, sentinel: Path, *, seed: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests._services",  # run as a module so that the root, and `examples`, import
            "blocking-worker",
            "--storage",
            storage_url,
            "--study-name",
            study_name,
            "--block-at",
            str(block_at),
            "--sentinel",
            str(sentinel),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"worker exited early:\n{stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def _blocking_worker(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study-name", required=True)
    parser.add_argument("--block-at", type=int, required=True)
    parser.add_argument("--sentinel", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    completed = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal completed
        params = distributed.suggest(trial)
        if completed == args.block_at:
            tmp = args.sentinel.with_suffix(".tmp")
            tmp.write_text(json.dumps({"number": trial.number, "pid": os.getpid()}))
            tmp.rename(args.sentinel)
            while True:  # Parked mid-trial until the test kills this process.
                time.sleep(0.1)
        completed += 1
        return distributed.quadratic(params)

    distributed.run_worker(
        args.storage,
        args.study_name,
        args.block_at + 1,
        seed=args.seed,
        n_startup_trials=5,
        heartbeat_interval=1,
        grace_period=6,
        max_retry=3,
        objective=objective,
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["blocking-worker"]:
        raise SystemExit("usage: python -m tests._services blocking-worker ...")
    _blocking_worker(sys.argv[2:])
