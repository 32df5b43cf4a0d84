"""One storage URL to an Optuna storage, the same way on every worker and every machine.

``redis://`` and ``rediss://``
    ``JournalStorage(JournalRedisBackend(url))``. An optional ``?prefix=NAME`` query keeps one
    journal per prefix (Optuna replays the whole journal on start, so separate prefixes keep
    unrelated studies from slowing each other down). Needs the ``redis`` package.
``*.log`` (a path, or ``file://`` and a path)
    ``JournalStorage(JournalFileBackend(path))``; the file may live on a shared filesystem.
``sqlite:///``, ``postgresql://``, ``mysql://`` (with or without ``+driver``)
    ``RDBStorage`` with heartbeat: a trial whose process dies is failed after ``grace_period``
    seconds and retried up to ``max_retry`` times. The URL goes to SQLAlchemy unchanged, so a
    bare ``postgresql://`` needs psycopg 3 (``pip install "optuna-hypera[postgresql]"``).
"""

from __future__ import annotations

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


__all__ = ["make_storage", "split_redis_prefix"]

_RDB_SCHEMES = ("sqlite", "postgresql", "mysql")


def split_redis_prefix(url: str) -> tuple[str, str]:
    """Return ``(url without the prefix query, prefix)`` for a ``redis://`` URL.

    The prefix is ``""`` (Optuna's default journal) when the URL has none.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "".join(value for key, value in query if key == "prefix")
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def make_storage(
    url: str,
    *,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = 120,
    max_retry: int | None = 3,
) -> BaseStorage:
    """Build the storage for ``url`` (see the module docstring for the accepted forms).

    ``heartbeat_interval``, ``grace_period`` (seconds) and ``max_retry`` apply to RDB URLs only;
    ``heartbeat_interval=None`` turns the heartbeat, and with it the retry, off. Raises
    ``ValueError`` for any other URL.
    """
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("redis", "rediss"):
        redis_url, prefix = split_redis_prefix(url)
        return JournalStorage(JournalRedisBackend(redis_url, prefix=prefix))
    if url.endswith(".log") and scheme in ("", "file"):
        path = url[len("file://") :] if scheme == "file" else url
        return JournalStorage(JournalFileBackend(path))
    if scheme in _RDB_SCHEMES:
        # Workers writing at once wait for SQLite's file lock instead of failing after 5 s.
        engine_kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {}
        with warnings.catch_warnings():
            # The heartbeat and its retry callback are marked experimental; they work.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = None
            if heartbeat_interval is not None:
                callback = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period if heartbeat_interval is not None else None,
                heartbeat_stale_trial_callback=callback,
            )
    raise ValueError(
        f"Unsupported storage {url!r}: use redis://, a *.log path, sqlite:///, "
        "postgresql:// or mysql://."
    )
