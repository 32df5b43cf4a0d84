"""Turn one storage URL into an Optuna storage, the same way on every machine.

``redis://`` and ``rediss://``
    ``JournalStorage(JournalRedisBackend(url))``. An optional ``?prefix=NAME`` query keeps one
    journal per prefix (Optuna replays the whole journal on start, so separate prefixes keep
    unrelated studies from slowing each other down).
``*.log`` (a path)
    ``JournalStorage(JournalFileBackend(path))``; the file may live on a shared filesystem.
``sqlite:///``, ``postgresql://``, ``mysql://``
    ``RDBStorage`` with heartbeat: a trial whose process dies is failed after ``grace_period``
    seconds and retried up to ``max_retry`` times.
"""

from __future__ import annotations

import importlib.util
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
import warnings

import optuna
from optuna.storages import BaseStorage
from optuna.storages import RDBStorage
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalRedisBackend
from optuna.storages.journal import JournalStorage


RDB_SCHEMES = ("sqlite", "postgresql", "mysql")


def split_redis_prefix(url: str) -> tuple[str, str]:
    """Return ``(url without the prefix query, prefix)`` for a ``redis://`` URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "".join(value for key, value in query if key == "prefix")
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def rdb_url(url: str) -> str:
    """Pin ``postgresql://`` to psycopg2 when psycopg 3 is missing.

    SQLAlchemy 2.1 resolves a bare ``postgresql://`` to psycopg 3; many installs (this project's
    dev extra included) only have ``psycopg2-binary``.
    """
    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url
    return "postgresql+psycopg2://" + url[len("postgresql://") :]


def make_storage(
    url: str,
    *,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = 120,
    max_retry: int | None = 3,
) -> BaseStorage:
    """Build the storage for ``url``; heartbeat settings apply to RDB URLs only.

    ``heartbeat_interval=None`` turns the heartbeat (and therefore the retry) off.
    """
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("redis", "rediss"):
        redis_url, prefix = split_redis_prefix(url)
        return JournalStorage(JournalRedisBackend(redis_url, prefix=prefix))
    if url.endswith(".log") and scheme in ("", "file"):
        path = url[len("file://") :] if scheme == "file" else url
        return JournalStorage(JournalFileBackend(path))
    if scheme in RDB_SCHEMES:
        engine_kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {}
        with warnings.catch_warnings():
            # The heartbeat and its retry callback are marked experimental; they work.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = None
            if heartbeat_interval is not None:
                callback = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            return RDBStorage(
                rdb_url(url),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period if heartbeat_interval is not None else None,
                heartbeat_stale_trial_callback=callback,
            )
    raise ValueError(
        f"Unsupported storage {url!r}: use redis://, a *.log path, sqlite:///, "
        "postgresql:// or mysql://."
    )
