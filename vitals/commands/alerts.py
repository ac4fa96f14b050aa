"""``vitals alerts``: alert history from the command line (operators; clinicians use the
authenticated API), ``vitals alerts ack ID``, and ``vitals status``: is the pipeline alive,
connected to its broker and keeping up?"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime, timedelta

import orjson

from storage.errors import NotFound
from storage.models import (
    SEVERITIES,
)
from storage.repositories.alerts import acknowledge_alert
from storage.repositories.console import heartbeats
from storage.repositories.history import MAX_PAGE_SIZE, AlertFilter, AlertRow, list_alerts
from storage.repositories.status import pipeline_counts
from vitals.commands.common import Subparsers, add_command, open_database, parse_moment
from vitals.errors import VitalsError
from vitals.settings import Settings
from vocabulary import AlertKind

#: ``vitals status`` fails while a device has lost messages this recently.
LOSS_WINDOW = timedelta(hours=1)
#: A heartbeat older than this means the pipeline process is gone.
HEARTBEAT_STALE = timedelta(seconds=30)
ALERT_KINDS = tuple(kind.value for kind in AlertKind)
STATES = ("active", "cleared")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "alerts", _alerts, "list alert history, newest first", database=True
    )
    parser.add_argument("--user", type=_positive, help="only this user id")
    parser.add_argument(
        "--type", action="append", default=[], choices=ALERT_KINDS, help="repeat for several"
    )
    parser.add_argument(
        "--severity", action="append", default=[], choices=SEVERITIES, help="repeat for several"
    )
    parser.add_argument(
        "--state", choices=STATES, help="active (condition ongoing) or cleared (it is over)"
    )
    ack = parser.add_mutually_exclusive_group()
    ack.add_argument("--unacknowledged", action="store_true", help="only unacknowledged")
    ack.add_argument("--acknowledged", action="store_true", help="only acknowledged")
    parser.add_argument(
        "--since", type=parse_moment, help="createdAt >= this (ISO 8601; no zone = UTC)"
    )
    parser.add_argument("--until", type=parse_moment, help="createdAt < this (ISO 8601)")
    parser.add_argument(
        "--limit", type=_page_size, default=50, help=f"at most {MAX_PAGE_SIZE} (50)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    actions = parser.add_subparsers(dest="alerts_action", metavar="ACTION")
    acknowledge = add_command(
        actions,
        "ack",
        _ack,
        "acknowledge an alert (stops escalation); the actor is cli:<your login>",
        database=True,
    )
    acknowledge.add_argument("id", type=_positive, help="alert id from `vitals alerts`")
    add_command(
        subparsers,
        "status",
        _status,
        "is the pipeline alive, connected to its broker and keeping up? (exit 1 if not)",
        database=True,
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _page_size(text: str) -> int:
    value = _positive(text)
    if value > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"{value} is more than {MAX_PAGE_SIZE}")
    return value


def state_of(row: AlertRow) -> str:
    """active/cleared x acknowledged, as one word pair for the table."""
    activity = "cleared" if row.cleared_at is not None else "active"
    return f"{activity}{'+ack' if row.acknowledged else ''}"


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    if args.since and args.until and args.since >= args.until:
        raise VitalsError(f"--since {args.since:%Y-%m-%d %H:%M} is not before --until")
    _, sessions = open_database(settings)
    flt = AlertFilter(
        user_id=args.user,
        kinds=tuple(args.type),
        severities=tuple(args.severity),
        acknowledged=False if args.unacknowledged else True if args.acknowledged else None,
        since=args.since,
        until=args.until,
        cleared=None if args.state is None else args.state == "cleared",
    )
    with sessions() as session:
        page = list_alerts(session, flt, limit=args.limit)
    if args.json:
        for row in page.items:
            print(orjson.dumps(row, default=str).decode())
        return 0
    if not page.items:
        print("no alert matches")
        return 0
    print(
        f"{'id':>6}  {'created (UTC)':<16}  {'severity':<8} {'type':<16} {'user':<16} "
        f"{'state':<11} message"
    )
    for row in page.items:
        print(
            f"{row.id:>6}  {row.created_at:%Y-%m-%d %H:%M}  {row.severity or '':<8} "
            f"{row.kind:<16} {row.user_name[:16]:<16} {state_of(row):<11} {row.message or ''}"
        )
    if page.next_cursor:
        print(f"(newest {len(page.items)} shown; --limit up to {MAX_PAGE_SIZE} or narrow it)")
    return 0


def _ack(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    actor = f"cli:{getpass.getuser()}"
    try:
        with sessions.begin() as session:
            changed = acknowledge_alert(session, args.id, actor, datetime.now(UTC))
    except NotFound as error:
        raise VitalsError(str(error)) from None
    print(
        f"alert {args.id} acknowledged by {actor}"
        if changed
        else f"alert {args.id} was already acknowledged"
    )
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    """Pipeline heartbeat, latest reading time, volume of the last 5 minutes, dead letters,
    open alerts; exit 1 when no pipeline is connected or devices went quiet."""
    _, sessions = open_database(settings)
    now = datetime.now(UTC)
    with sessions() as session:
        beats = heartbeats(session)
        counts = pipeline_counts(session, now)
    last_seen = counts.last_device_message_at
    lossy = counts.lossy_devices
    healthy = True
    if not beats:
        print("pipeline:             NOT RUNNING (no `vitals run` has reported to this database)")
        healthy = False
    for hb in beats:
        age = now - hb.updatedAt
        if age > HEARTBEAT_STALE:
            print(
                f"pipeline {hb.name}: NOT RUNNING (last heartbeat {_ago(age)} ago, "
                f"{'connected' if hb.connected else 'disconnected'} then)"
            )
            healthy = False
        elif not hb.connected:
            print(
                f"pipeline {hb.name}: DISCONNECTED from {hb.broker} for {_ago(now - hb.changedAt)}"
                f" ({hb.detail or 'retrying'})"
            )
            healthy = False
        else:
            print(f"pipeline {hb.name}: connected to {hb.broker} for {_ago(now - hb.changedAt)}")
    print(f"last device message:  {last_seen or 'never'}")
    print(f"newest reading:       {counts.newest_reading_at or 'none'}")
    print(f"readings, last 5 min: {counts.readings_last_5_min}")
    print(f"open alerts:          {counts.open_alerts}")
    print(f"texts in flight:      {counts.texts_in_flight}")
    dead = counts.dead_letters_last_hour
    print("dead letters, 1 h:    " + (", ".join(f"{r} {n}" for r, n in dead) or "none"))
    recent_loss = [
        d for d in lossy if d.last_gap_at is not None and now - d.last_gap_at <= LOSS_WINDOW
    ]
    print(f"messages lost (seq gaps, all time): {sum(d.missing for d in lossy)}")
    for d in lossy:
        print(
            f"  {d.device_id}: {d.missing} missing, last gap {d.last_gap_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    if recent_loss:
        print(
            f"WARNING: {len(recent_loss)} device(s) lost messages in the last hour "
            "(gaps in their seq numbering: is the broker dropping messages?)"
        )
        healthy = False
    if last_seen is not None and now - last_seen > timedelta(minutes=5):
        print("WARNING: no device message stored for over 5 minutes")
        healthy = False
    return 0 if healthy else 1


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
