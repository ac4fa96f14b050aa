"""``vitals alerts``: alert history from the command line (operators; clinicians use the
authenticated API), and ``vitals status``: is the pipeline alive and keeping up?"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import func, select

from storage.models import AlertState, DeadLetter, Device, HealthReading, SmsNotification
from storage.repositories.history import MAX_PAGE_SIZE, AlertFilter, list_alerts
from storage.repositories.notifications import CLAIMED, RETRYING, UNCONFIRMED
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.settings import Settings

#: ``vitals status`` fails while a device has lost messages this recently.
LOSS_WINDOW = timedelta(hours=1)


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "alerts", _alerts, "list alert history, newest first")
    parser.add_argument("--user", type=int, help="only this user")
    parser.add_argument("--type", action="append", default=[], help="alertType or sos")
    parser.add_argument("--severity", action="append", default=[], help="low/medium/high/critical")
    parser.add_argument("--unacknowledged", action="store_true")
    parser.add_argument("--limit", type=int, default=50, help=f"at most {MAX_PAGE_SIZE}")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_command(subparsers, "status", _status, "is the pipeline alive and keeping up?")


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    flt = AlertFilter(
        user_id=args.user,
        kinds=tuple(args.type),
        severities=tuple(args.severity),
        acknowledged=False if args.unacknowledged else None,
    )
    with sessions() as session:
        page = list_alerts(session, flt, limit=args.limit)
    for row in page.items:
        if args.json:
            print(orjson.dumps(row, default=str).decode())
        else:
            ack = "ack" if row.acknowledged else "open" if row.cleared_at is None else "cleared"
            print(
                f"{row.id:>6}  {row.created_at:%Y-%m-%d %H:%M}  {row.severity or '':<8} "
                f"{row.kind:<16} {row.user_name:<16} {ack:<7} {row.message or ''}"
            )
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    """Latest reading time, volume of the last 5 minutes, dead letters, open alerts."""
    _, sessions = open_database(settings)
    now = datetime.now(UTC)
    with sessions() as session:
        last_reading = session.scalar(select(func.max(HealthReading.createdAt)))
        last_seen = session.scalar(select(func.max(Device.lastSeenAt)))
        recent = session.scalar(
            select(func.count()).where(HealthReading.createdAt >= now - timedelta(minutes=5))
        )
        dead = session.execute(
            select(DeadLetter.reason, func.count())
            .where(DeadLetter.receivedAt >= now - timedelta(hours=1))
            .group_by(DeadLetter.reason)
        ).all()
        open_alerts = session.scalar(
            select(func.count()).select_from(AlertState).where(AlertState.clearedAt.is_(None))
        )
        lossy = session.execute(
            select(Device.deviceId, Device.seqGaps, Device.lastGapAt)
            .where(Device.seqGaps > 0)
            .order_by(Device.lastGapAt.desc())
        ).all()
        pending_sms = session.scalar(
            select(func.count())
            .select_from(SmsNotification)
            .where(SmsNotification.status.in_((CLAIMED, RETRYING, UNCONFIRMED)))
        )
    print(f"last device message:  {last_seen or 'never'}")
    print(f"newest reading:       {last_reading or 'none'}")
    print(f"readings, last 5 min: {recent}")
    print(f"open alerts:          {open_alerts}")
    print(f"texts in flight:      {pending_sms}")
    print("dead letters, 1 h:    " + (", ".join(f"{r} {n}" for r, n in dead) or "none"))
    status = 0
    recent_loss = [row for row in lossy if row[2] is not None and now - row[2] <= LOSS_WINDOW]
    print(f"messages lost (seq gaps, all time): {sum(n for _, n, _ in lossy)}")
    for device, missing, at in lossy:
        print(f"  {device}: {missing} missing, last gap {at:%Y-%m-%d %H:%M:%S} UTC")
    if recent_loss:
        print(
            f"WARNING: {len(recent_loss)} device(s) lost messages in the last hour "
            "(gaps in their seq numbering: is the broker dropping messages?)"
        )
        status = 1
    if last_seen is not None and now - last_seen > timedelta(minutes=5):
        print("WARNING: no device message stored for over 5 minutes")
        status = 1
    return status
