"""Alerts of a vitals database, as :class:`~simulators.scoring.RaisedAlert` rows."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from simulators.scoring import RaisedAlert
from storage.models import AlertState, HealthAlert, User
from storage.types import ms_from_utc


def alerts_from_db(engine: Engine, open_ids: Mapping[str, int] | None = None) -> list[RaisedAlert]:
    """Every ``healthAlerts`` row with its type (``alertType``, else ``alertStates.kind``,
    e.g. ``sos``) and ``createdAt``.

    ``open_ids`` maps ``users.openId`` to the trace's user id (from the users manifest),
    so scoring still works when the database numbered the registered users differently;
    users not in it keep their database id.
    """
    query = (
        select(
            HealthAlert.userId,
            HealthAlert.alertType,
            AlertState.kind,
            HealthAlert.createdAt,
            User.openId,
        )
        .outerjoin(AlertState, AlertState.alertId == HealthAlert.id)
        .outerjoin(User, User.id == HealthAlert.userId)
        .order_by(HealthAlert.createdAt, HealthAlert.id)
    )
    mapping = open_ids or {}
    out = []
    with Session(engine) as session:
        for user_id, alert_type, kind, created, open_id in session.execute(query):
            kind_name = alert_type or kind
            if kind_name is None or created is None:
                continue
            user = mapping.get(open_id, user_id) if open_id is not None else user_id
            out.append(RaisedAlert(int(user), str(kind_name), ms_from_utc(created)))
    return out
