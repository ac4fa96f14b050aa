"""Helpers shared by subcommands: the database from settings, argparse typing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from vitals.settings import Settings

#: The object ``add_subparsers`` returns (argparse does not export its type).
Subparsers = Any
Handler = Callable[[argparse.Namespace, Settings], int]


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The configured database. The embedded SQLite default is migrated on open, so a fresh
    checkout needs no set-up step; a MySQL/MariaDB database is migrated explicitly with
    ``vitals db upgrade``."""
    engine = create_engine_from_url(
        settings.database_url, pool_size=settings.database_pool_size, echo=settings.database_echo
    )
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    return engine, session_factory(engine)


def add_command(
    subparsers: Subparsers, name: str, handler: Handler, help_text: str, description: str = ""
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=description or help_text
    )
    parser.set_defaults(handler=handler)
    return parser
