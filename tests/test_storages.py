"""``optuna_hypera.storages``, and a bare ``postgresql://`` URL as Optuna users write it."""

from __future__ import annotations

from pathlib import Path

from _services import PG_URL
from _services import distributed
from _services import needs_postgres
from _services import temporary_study_url
from _services import unique_name
import optuna
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState
import pytest
import sqlalchemy

from optuna_hypera import HyperaSampler
from optuna_hypera.storages import make_storage
from optuna_hypera.storages import split_redis_prefix


def test_make_storage_dispatches_on_the_url(tmp_path: Path) -> None:
    assert isinstance(make_storage(str(tmp_path / "a.log")), JournalStorage)
    assert isinstance(make_storage(f"file://{tmp_path / 'b.log'}"), JournalStorage)
    sqlite = make_storage(f"sqlite:///{tmp_path / 'a.db'}", heartbeat_interval=2, grace_period=5)
    assert isinstance(sqlite, RDBStorage)
    assert sqlite.get_heartbeat_interval() == 2
    assert sqlite.grace_period == 5
    assert sqlite.get_heartbeat_stale_trial_callback() is not None
    plain = make_storage(f"sqlite:///{tmp_path / 'b.db'}", heartbeat_interval=None)
    assert isinstance(plain, RDBStorage) and plain.get_heartbeat_interval() is None
    url, prefix = split_redis_prefix("redis://h:6379/0?prefix=abc&db=1")
    assert (url, prefix) == ("redis://h:6379/0?db=1", "abc")
    assert split_redis_prefix("redis://h:6379") == ("redis://h:6379", "")
    with pytest.raises(ValueError, match="Unsupported storage"):
        make_storage("ftp://example/db")


def test_bare_postgresql_url_has_its_driver_installed() -> None:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; loading the driver needs no server,
    # so a missing `psycopg` fails here even where PostgreSQL is not running.
    engine = sqlalchemy.create_engine(PG_URL)
    assert engine.dialect.driver == "psycopg"
    assert engine.dialect.dbapi is not None and engine.dialect.dbapi.__name__ == "psycopg"


@pytest.mark.services
@needs_postgres
def test_bare_postgresql_url_runs_hypera_trials() -> None:
    name = unique_name()
    with temporary_study_url(PG_URL, name):
        # The URL string as users pass it: no driver suffix, no storage helper.
        study = optuna.create_study(
            study_name=name, storage=PG_URL, sampler=HyperaSampler(seed=0, n_startup_trials=3)
        )
        study.optimize(distributed.objective, n_trials=6)

        storage = RDBStorage(PG_URL)
        assert storage.engine.dialect.driver == "psycopg"
        helper = make_storage(PG_URL, heartbeat_interval=None)
        assert isinstance(helper, RDBStorage) and helper.url == PG_URL  # passed on unchanged
        stored = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert [t.state for t in stored] == [TrialState.COMPLETE] * 6
        # Trials after the startup ones are the agents' proposals, read back from PostgreSQL.
        assert all("hypera" in t.user_attrs for t in stored[3:])
        assert [t.params for t in stored] == [t.params for t in study.trials]
