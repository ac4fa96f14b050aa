from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AlertState, SmsNotification
from storage.repositories import notifications as repo
from storage.repositories.alerts import AlertChange, acknowledge_alert, clear_alert, open_alert
from storage.repositories.people import add_contact, add_user

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def _change(user_id: int, kind: str, severity: str = "high") -> AlertChange:
    return AlertChange(user_id, kind, severity, T0, T0, f"{kind} alert", heart_rate=130)


@pytest.fixture
def ids(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-n", name="Nora")
        contact = add_contact(
            session, user_id=user.id, name="Max", phone="+33612345678", time_zone="Europe/Paris"
        )
        alert_id, _ = open_alert(session, _change(user.id, "arrhythmia"))
        return user.id, contact.id, alert_id


def _claim(
    session: Session, alert_id: int, contact_id: int, user_id: int, at: datetime = T0
) -> SmsNotification | None:
    return repo.claim_notification(
        session,
        alert_id=alert_id,
        contact_id=contact_id,
        user_id=user_id,
        escalation_level=0,
        body="text",
        at=at,
    )


def test_claim_is_unique_per_alert_and_contact(
    sessions: sessionmaker[Session], ids: tuple[int, int, int]
) -> None:
    user_id, contact_id, alert_id = ids
    with sessions.begin() as session:
        first = _claim(session, alert_id, contact_id, user_id)
        assert first is not None and first.status == "sending"
    with sessions.begin() as session:
        assert _claim(session, alert_id, contact_id, user_id) is None
        assert repo.notified_contact_ids(session, alert_id) == {contact_id}  # session usable
    with sessions() as session:
        (delivery,) = repo.deliveries_of_alert(session, alert_id)
        assert delivery.phone_masked == "+3********78" and delivery.contact_name == "Max"
        assert [r.id for r in repo.orphaned_claims(session)] == [delivery.notification_id]
        assert repo.texts_since(session, user_id, T0) == 1
        assert repo.texts_since(session, user_id, T0 + timedelta(seconds=1)) == 0
        assert repo.contact_time_zone(session, contact_id) == "Europe/Paris"


def test_due_rows_and_lookup_by_sid(
    sessions: sessionmaker[Session], ids: tuple[int, int, int]
) -> None:
    user_id, contact_id, alert_id = ids
    with sessions.begin() as session:
        row = _claim(session, alert_id, contact_id, user_id)
        assert row is not None
        row.status, row.nextAttemptAt, row.providerSid = (
            "retrying",
            T0 + timedelta(seconds=5),
            "SM1",
        )
    with sessions() as session:
        assert repo.due_notifications(session, T0 + timedelta(seconds=4)) == []
        assert len(repo.due_notifications(session, T0 + timedelta(seconds=5))) == 1
        found = repo.notification_by_sid(session, "SM1")
        assert found is not None and found.contactId == contact_id
        assert repo.notification_by_sid(session, "SM2") is None
        assert [c.id for c in repo.contacts_with_phone(session, "+33612345678")] == [contact_id]
        assert [a.id for a in repo.open_alerts_texted_to(session, contact_id)] == [alert_id]


def test_awaiting_first_text_and_escalations(
    sessions: sessionmaker[Session], ids: tuple[int, int, int]
) -> None:
    user_id, contact_id, alert_id = ids
    with sessions.begin() as session:
        stress, _ = open_alert(session, _change(user_id, "high_stress", "medium"))
        sos, _ = open_alert(session, _change(user_id, "sos", "low"))
        low, _ = open_alert(session, _change(user_id, "low_heart_rate", "medium"))

    def awaiting() -> list[int]:
        with sessions() as session:
            found = repo.alerts_awaiting_first_text(
                session,
                severities=("high", "critical"),
                always_kinds=("sos",),
                never_kinds=("high_stress",),
                actor="notifier",
            )
            return [alert.id for alert, _ in found]

    assert awaiting() == [alert_id, sos]
    with sessions.begin() as session:
        _claim(session, alert_id, contact_id, user_id)
        clear_alert(session, _change(user_id, "sos", "low"))
    assert awaiting() == [] and {stress, low}.isdisjoint(awaiting())
    with sessions.begin() as session:
        state = session.get(AlertState, alert_id)
        assert state is not None
        state.nextEscalationAt = T0 + timedelta(minutes=5)
    with sessions() as session:
        assert repo.due_escalations(session, T0 + timedelta(minutes=4)) == []
        assert [a.id for a, _ in repo.due_escalations(session, T0 + timedelta(minutes=5))] == [
            alert_id
        ]
    with sessions.begin() as session:
        acknowledge_alert(session, alert_id, "contact:1", T0)
    with sessions() as session:
        assert repo.due_escalations(session, T0 + timedelta(hours=1)) == []
        assert repo.open_alerts_texted_to(session, contact_id) == []
