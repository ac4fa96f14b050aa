from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import NotFound
from storage.models import AlertEvent, AlertState, HealthAlert
from storage.repositories.alerts import (
    AlertChange,
    acknowledge_alert,
    clear_alert,
    open_alert,
    open_alerts_of_user,
    update_alert,
)
from storage.repositories.people import add_user

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def _change(user_id: int, kind: str = "high_heart_rate", **kw: object) -> AlertChange:
    base = dict(
        user_id=user_id,
        kind=kind,
        severity="high",
        onset_at=T0,
        at=T0 + timedelta(minutes=10),
        message="Heart rate 131 bpm at rest for 10 min",
        heart_rate=131,
    )
    base.update(kw)
    return AlertChange(**base)  # type: ignore[arg-type]


@pytest.fixture
def user_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return add_user(session, open_id="oauth-a").id


def test_open_is_idempotent_on_natural_key(sessions: sessionmaker[Session], user_id: int) -> None:
    with sessions.begin() as session:
        first, created = open_alert(session, _change(user_id))
    with sessions.begin() as session:
        again, created_again = open_alert(session, _change(user_id))
    assert created and not created_again and first == again
    with sessions() as session:
        assert session.scalars(select(HealthAlert)).all()[0].alertType == "high_heart_rate"
        events = session.scalars(select(AlertEvent.eventType)).all()
    assert events == ["created"]


def test_sos_has_null_alert_type_and_kind(sessions: sessionmaker[Session], user_id: int) -> None:
    with sessions.begin() as session:
        alert_id, _ = open_alert(session, _change(user_id, kind="sos", severity="critical"))
    with sessions() as session:
        alert = session.get(HealthAlert, alert_id)
        state = session.get(AlertState, alert_id)
    assert alert is not None and alert.alertType is None and alert.severity == "critical"
    assert state is not None and state.kind == "sos"


def test_update_escalates_then_clear_then_ack(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    with sessions.begin() as session:
        alert_id, _ = open_alert(session, _change(user_id))
    later = T0 + timedelta(minutes=15)
    with sessions.begin() as session:
        update_alert(session, _change(user_id, severity="critical", at=later, heart_rate=156))
        update_alert(session, _change(user_id, severity="high", at=later))  # stale: ignored
    with sessions.begin() as session:
        assert [a.id for a in open_alerts_of_user(session, user_id)] == [alert_id]
        assert clear_alert(session, _change(user_id, at=later + timedelta(minutes=5)))
        assert clear_alert(session, _change(user_id, at=later + timedelta(minutes=6))) is None
        assert open_alerts_of_user(session, user_id) == []
    with sessions.begin() as session:
        assert acknowledge_alert(session, alert_id, "clinician:3", later)
        assert not acknowledge_alert(session, alert_id, "clinician:3", later)
        with pytest.raises(NotFound):
            acknowledge_alert(session, 9999, "x", later)
    with sessions() as session:
        alert = session.get(HealthAlert, alert_id)
        assert alert is not None
        assert (alert.severity, alert.heartRate, alert.acknowledged) == ("critical", 156, True)
        events = session.execute(
            select(AlertEvent.eventType, AlertEvent.actor).order_by(AlertEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("created", "detector"),
        ("severity_changed", "detector"),
        ("cleared", "detector"),
        ("acknowledged", "clinician:3"),
    ]


def test_onset_with_milliseconds_is_the_same_alert_after_a_round_trip(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    """MariaDB TIMESTAMP keeps whole seconds: a redelivered open of a fall whose onset has
    milliseconds must find the stored alert, not collide with it."""
    onset = T0 + timedelta(milliseconds=59_720)
    with sessions.begin() as session:
        first, _ = open_alert(session, _change(user_id, kind="fall_detected", onset_at=onset))
    with sessions.begin() as session:
        again, created = open_alert(session, _change(user_id, kind="fall_detected", onset_at=onset))
        update_alert(
            session,
            _change(user_id, kind="fall_detected", onset_at=onset, at=T0 + timedelta(minutes=20)),
        )
    assert (again, created) == (first, False)
    with sessions() as session:
        assert len(session.scalars(select(AlertState)).all()) == 1
