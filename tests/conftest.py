"""Shared fixtures: a fresh database per test on SQLite and on the real MariaDB.

MariaDB tests run against VITALS_TEST_MYSQL_URL (default: root@127.0.0.1:3306/test).
Each test gets its own database, created and dropped around it. When
VITALS_TEST_REQUIRE_SERVICES=1 (set by .ci/run) an unreachable server fails the test
instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

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
def shared_mysql_engine() -> Iterator[Engine]:
    """One migrated MariaDB database for the whole run (migrating costs ~2 s); tests that
    use it get every table emptied afterwards, so each still starts from a clean slate."""
    with scratch_database("vitals_s") as url:
        engine = create_engine_from_url(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        tables = [
            name
            for (name,) in connection.execute(
                sa.text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                    "TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'vitalsSchemaVersion'"
                )
            )
        ]
        connection.execute(sa.text("SET SESSION lock_wait_timeout = 20"))
        connection.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in tables:
            connection.execute(sa.text(f"TRUNCATE TABLE `{table}`"))
        connection.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated engine with empty tables, once per backend."""
    if request.param == "mariadb":
        shared: Engine = request.getfixturevalue("shared_mysql_engine")
        yield shared
        _empty_all_tables(shared)
        return
    engine = create_engine_from_url(str(request.getfixturevalue("sqlite_url")))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
