"""``vitals db upgrade|check|current``: migrations and the schema contract."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from storage.contract import check_schema
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import APP_TABLES, Base
from storage.repositories.ingest import prune_dead_letters
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
    prune = add_command(
        actions,
        "prune-dead-letters",
        _prune_dead_letters,
        "delete dead letters received longer ago than --older-than (retention)",
        database=True,
    )
    prune.add_argument(
        "--older-than",
        type=_age,
        required=True,
        metavar="AGE",
        help="e.g. 30d, 12h or 90m (days, hours, minutes)",
    )


_AGE = re.compile(r"([1-9][0-9]{0,5})([dhm])")


def _age(text: str) -> timedelta:
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30d, 12h or 90m")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


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


def _prune_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    before = datetime.now(UTC) - args.older_than
    with sessions.begin() as session:
        deleted = prune_dead_letters(session, before)
    print(f"deleted {deleted} dead letter(s) received before {before:%Y-%m-%d %H:%M} UTC")
    return 0
