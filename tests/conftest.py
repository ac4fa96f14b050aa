"""Shared fixtures: a fresh database per test on SQLite and on the real MariaDB.

MariaDB tests run against VITALS_TEST_MYSQL_URL (default: root@127.0.0.1:3306/test).
A test that asks for an empty database (``mysql_url``) gets its own, created and dropped
around it. Migrating costs seconds of DDL on MariaDB (~75 statements, each a disk sync)
and ~1 s on SQLite, so a test that only needs a *migrated* database with empty tables
gets one migrated once per run: a copy of a migrated SQLite template file, or the
run's shared MariaDB database, whose tables are emptied after each test (``engine``,
``clean_mysql_url``). Under pytest-xdist every worker has its own databases. When
VITALS_TEST_REQUIRE_SERVICES=1 (set by .ci/run) an unreachable server fails the test
instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade

MYSQL_URL = os.environ.get("VITALS_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
MQTT_URL = os.environ.get("VITALS_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
REQUIRE_SERVICES = os.environ.get("VITALS_TEST_REQUIRE_SERVICES") == "1"


def service_unavailable(message: str) -> None:
    """Fail in CI (services are part of the machine), skip on a laptop without them."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {message}")
    pytest.skip(message)


@contextmanager
def scratch_database(prefix: str = "vitals_t") -> Iterator[str]:
    """Create an empty MariaDB database, yield its URL, drop it afterwards."""
    server = create_engine_from_url(MYSQL_URL)
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except sa.exc.OperationalError as error:
        server.dispose()
        service_unavailable(f"MariaDB at {MYSQL_URL}: {error.orig}")
    try:
        yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """URL of a brand-new, empty MariaDB database, dropped after the test."""
    with scratch_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/vitals.db"


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """An empty database URL, once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
def shared_mysql_url() -> Iterator[str]:
    """One migrated MariaDB database for the whole run (per xdist worker); tests that use
    it get every table emptied afterwards, so each still starts from a clean slate."""
    with scratch_database("vitals_s") as url:
        engine = create_engine_from_url(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def shared_mysql_engine(shared_mysql_url: str) -> Iterator[Engine]:
    engine = create_engine_from_url(shared_mysql_url)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    """Bring every table back to the state of a fresh migration: no rows, and the
    auto-increment counter at 1 (tests may rely on the first id). Only the tables a test
    touched are truncated (TRUNCATE is DDL: a disk sync each, ~0.1 s on a busy disk)."""
    with engine.begin() as connection:
        counters = dict(
            connection.execute(
                sa.text(
                    "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE "
                    "TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'vitalsSchemaVersion'"
                )
            ).all()
        )
        if not counters:
            return
        with_rows = set(
            connection.execute(
                sa.text(
                    " UNION ALL ".join(
                        f"(SELECT '{name}' FROM `{name}` LIMIT 1)" for name in counters
                    )
                )
            ).scalars()
        )
        dirty = [n for n, counter in counters.items() if n in with_rows or (counter or 1) > 1]
        if not dirty:
            return
        connection.execute(sa.text("SET SESSION lock_wait_timeout = 20"))
        connection.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in dirty:
            connection.execute(sa.text(f"TRUNCATE TABLE `{table}`"))
        connection.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))


@pytest.fixture
def clean_mysql_url(shared_mysql_url: str, shared_mysql_engine: Engine) -> Iterator[str]:
    """URL of a migrated MariaDB database with empty tables (the run's shared one, emptied
    again after the test): for tests that need a migrated database, not a migration."""
    yield shared_mysql_url
    _empty_all_tables(shared_mysql_engine)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; tests get a copy of it."""
    path = tmp_path_factory.mktemp("template") / "vitals.db"
    engine = create_engine_from_url(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    assert not path.with_name("vitals.db-wal").exists(), "template must be checkpointed"
    return path


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated engine with empty tables, once per backend."""
    if request.param == "mariadb":
        shared: Engine = request.getfixturevalue("shared_mysql_engine")
        yield shared
        _empty_all_tables(shared)
        return
    url = str(request.getfixturevalue("sqlite_url"))
    template: Path = request.getfixturevalue("migrated_sqlite_template")
    shutil.copyfile(template, make_url(url).database or "")
    engine = create_engine_from_url(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Scheduling for ``make test`` (``-n 2 --dist loadgroup``): a module's tests stay on
    one worker, so its module fixtures are built once; and every module that marks tests
    ``mosquitto`` (they may talk to the machine's broker, sharing its topics and the
    default client id) runs on one worker, one test at a time, as without xdist.

    Groups are found here, in the controller, from the module's text: pytest-xdist 3.8
    reads ``xdist_group`` marks by rewriting ``item._nodeid``, which pytest 9.2 ignores."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 (only under xdist)

    shared: dict[str, bool] = {}

    def scope(nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        if module not in shared:
            path = config.rootpath / module
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            shared[module] = "mark.mosquitto" in text
        return "mosquitto" if shared[module] else module

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope(nodeid)

    return ModuleScheduling(config, log)
