"""Helpers shared by subcommands: the database from settings (``--db``), argparse typing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import current_revision, head_revision, upgrade
from vitals.errors import VitalsError
from vitals.settings import Settings

#: The object ``add_subparsers`` returns (argparse does not export its type).
Subparsers = Any
Handler = Callable[[argparse.Namespace, Settings], int]


class DbMode(StrEnum):
    """What a command may do with the database it is given."""

    READ = "read"  # must exist and be migrated (every reading command)
    CREATE = "create"  # a missing SQLite file is created and migrated (demo, replay)
    UPGRADE = "upgrade"  # may create; migrations are the caller's job (db upgrade)
    INSPECT = "inspect"  # must exist; may be unmigrated (db check, db current)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///file`` URL (None for MySQL or in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_database(
    settings: Settings, mode: DbMode = DbMode.READ, *, announce: bool = True
) -> tuple[Engine, sessionmaker[Session]]:
    """The configured database (``--db`` or ``VITALS_DATABASE_URL``), named on stderr.

    A reading command never creates a database: a missing SQLite file or an unmigrated
    database is a :class:`VitalsError` that says what to run; an unreachable server or an
    invalid URL is one too. Only :attr:`DbMode.CREATE` creates (and migrates) a SQLite file.
    """
    url = settings.database_url
    shown = safe_url(url)
    try:
        path = sqlite_path(url)
    except ArgumentError:
        raise VitalsError(
            f"database URL {url!r} is not a SQLAlchemy URL "
            "(sqlite:///file.db or mysql+pymysql://user@host/db)"
        ) from None
    if announce:
        print(f"database: {shown}", file=sys.stderr)
    if path is not None and not path.exists() and mode in (DbMode.READ, DbMode.INSPECT):
        raise VitalsError(
            f"database file {path} does not exist (from {shown}); pass --db URL or set "
            "VITALS_DATABASE_URL (after `make demo`: --db sqlite:///demo-output/vitals.db), "
            "or create it with `vitals db upgrade`"
        )
    try:
        engine = create_engine_from_url(
            url, pool_size=settings.database_pool_size, echo=settings.database_echo
        )
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise VitalsError(f"database URL {shown}: {error}") from error
    try:
        if mode is DbMode.CREATE and engine.dialect.name == "sqlite":
            upgrade(engine)
        elif mode in (DbMode.READ, DbMode.CREATE):
            applied, latest = current_revision(engine), head_revision(engine)
            if applied != latest:
                raise VitalsError(
                    f"database {shown} is not migrated (at {applied or 'no revision'}, "
                    f"latest {latest}): run `vitals db upgrade --db {shown}`"
                )
        else:
            with engine.connect():
                pass
    except DBAPIError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise VitalsError(f"cannot use database {shown}: {reason}") from error
    return engine, session_factory(engine)


def add_command(
    subparsers: Subparsers,
    name: str,
    handler: Handler,
    help_text: str,
    description: str = "",
    *,
    database: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand; ``database=True`` gives it ``--db URL`` (default VITALS_DATABASE_URL)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=description or help_text
    )
    parser.set_defaults(handler=handler)
    if database:
        add_db_option(parser)
    return parser


def add_db_option(parser: argparse.ArgumentParser, help_text: str = "") -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,  # a sub-action's --db never hides its parent's
        help=help_text
        or "database URL, e.g. sqlite:///demo-output/vitals.db (default: VITALS_DATABASE_URL, "
        "else sqlite:///vitals.db)",
    )


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or time for ``--since``/``--until``; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-11-24 or 2026-11-24T03:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
