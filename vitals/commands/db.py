"""``vitals db upgrade|check|current``: migrations and the schema contract."""

from __future__ import annotations

import argparse

from storage.contract import check_schema
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import APP_TABLES, Base
from vitals.commands.common import DbMode, Subparsers, add_command, open_database
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "db", _usage, "database schema: upgrade, check, current")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    add_command(
        actions,
        "upgrade",
        _upgrade,
        "create the missing tables (never alters the app's existing tables)",
        database=True,
    )
    check = add_command(
        actions,
        "check",
        _check,
        "compare the live database with the health-table contract; exit 1 on any mismatch",
        database=True,
    )
    check.add_argument(
        "--all", action="store_true", help="also check vitals' own tables, not only the app's"
    )
    add_command(
        actions, "current", _current, "print the applied and the latest revision", database=True
    )


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    return 2


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = open_database(settings, DbMode.UPGRADE)
    upgrade(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)} at {head_revision(engine)}")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = open_database(settings, DbMode.INSPECT)
    tables = tuple(Base.metadata.tables) if args.all else APP_TABLES
    problems = check_schema(engine, tables)
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        print(f"{len(problems)} mismatch(es) with the health-table contract")
        return 1
    print(f"ok: {len(tables)} tables match the contract")
    return 0


def _current(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = open_database(settings, DbMode.INSPECT)
    print(f"applied: {current_revision(engine) or 'none'}  latest: {head_revision(engine)}")
    return 0
