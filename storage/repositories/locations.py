"""The latest location fix per user (payload kind ``loc``): one row, overwritten by a
newer fix, never a history (``docs/architecture.md``, "Payload contract")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage.models import UserLocation
from storage.types import utc_from_ms
from vocabulary import PayloadKind

LOC = PayloadKind.LOC


@dataclass(frozen=True)
class Fix:
    """One position fix: WGS84 degrees, accuracy in metres (None: not given)."""

    user_id: int
    ts_ms: int
    lat: float
    lon: float
    acc_m: float | None = None


def save_latest_fixes(session: Session, fixes: Sequence[Fix], now: datetime) -> None:
    """Keep, per user, the newest of ``fixes`` and of the stored fix (older ones are
    dropped, so a late or redelivered fix never moves the wearer back)."""
    newest: dict[int, Fix] = {}
    for fix in fixes:
        if fix.user_id not in newest or fix.ts_ms > newest[fix.user_id].ts_ms:
            newest[fix.user_id] = fix
    for user_id, fix in sorted(newest.items()):
        at = utc_from_ms(fix.ts_ms)
        row = session.get(UserLocation, user_id)
        if row is None:
            session.add(
                UserLocation(
                    userId=user_id,
                    lat=fix.lat,
                    lon=fix.lon,
                    accM=fix.acc_m,
                    fixAt=at,
                    updatedAt=now,
                )
            )
        elif at > row.fixAt:
            row.lat, row.lon, row.accM, row.fixAt, row.updatedAt = (
                fix.lat,
                fix.lon,
                fix.acc_m,
                at,
                now,
            )


def latest_fix(session: Session, user_id: int) -> UserLocation | None:
    return session.get(UserLocation, user_id)
