"""Engine and session setup for SQLite (the embedded default) and MySQL/MariaDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.private_files import make_private


def create_engine_from_url(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """Create an engine with the settings vitals relies on.

    SQLite: the database file created (or narrowed to) ``0600``, foreign keys enforced,
    WAL journal (readers never block the writer), usable from the ingest worker thread.
    MySQL/MariaDB (``mysql+pymysql://``): utf8mb4, pooled connections checked before use
    (``pool_pre_ping``) and recycled hourly, socket
    timeouts so that a hung server fails the batch (which is retried) instead of blocking,
    and every session in UTC so ``TIMESTAMP`` columns store what they are given.

    Bound parameters never reach logs or error messages (``hide_parameters``): they hold
    phone numbers and credential hashes, and ``echo`` or a logged exception would print
    them.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            make_private(Path(database))  # patient data: owner only (and so its WAL)
        engine = create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        return create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=3600,
            connect_args={
                "init_command": "SET time_zone = '+00:00'",
                # a server that hangs without closing the socket must fail the batch
                # (which is then retried), not block the pipeline forever
                "connect_timeout": 10,
                "read_timeout": 60,
                "write_timeout": 60,
            },
        )
    return create_engine(parsed, echo=echo, hide_parameters=True, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (repositories return rows)."""
    return sessionmaker(engine, expire_on_commit=False)
