"""The notification service on SQLite and MariaDB, sending through the real twilio
library to the local fake server."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifier.gsm7 import is_gsm7_basic
from notifier.policy import NotificationPolicy
from notifier.senders import SendResult, TwilioSender
from notifier.service import NotificationService
from storage.models import AlertEvent, AlertState
from storage.repositories.alerts import acknowledge_alert
from storage.repositories.notifications import Delivery, deliveries_of_alert
from storage.repositories.people import add_user
from tests.notifier.conftest import (
    ANNA,
    BEN,
    CARA,
    PUBLIC_URL,
    T0,
    Family,
    raise_alert,
    seconds,
)
from tests.notifier.fake_twilio import FakeTwilio, Reply


def deliveries(sessions: sessionmaker[Session], alert_id: int) -> list[Delivery]:
    with sessions() as session:
        return deliveries_of_alert(session, alert_id)


def events(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.scalars(
            select(AlertEvent).where(AlertEvent.alertId == alert_id).order_by(AlertEvent.id)
        )
        return [(e.eventType, e.actor) for e in rows]


def test_one_text_to_primary_contact_and_queryable(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    report = service.process_due(T0)
    for k in range(1, 4):  # later calls before the escalation delay do nothing
        assert service.process_due(T0 + seconds(10 * k)).work_done == 0
    assert report.first_texts == 1 and report.sent == 1
    assert (fake.sends_to(ANNA), fake.sends_to(BEN), fake.sends_to(CARA)) == (1, 0, 0)
    body = fake.sends()[0].form["Body"]
    assert len(body) <= 160 and is_gsm7_basic(body)
    assert "Jane Doe" in body and "03:14 CET" in body and "HR 156 bpm" in body  # Anna: Paris
    assert fake.sends()[0].form["StatusCallback"].endswith("/webhooks/twilio/status")
    (delivery,) = deliveries(sessions, alert_id)
    assert delivery.contact_id == family.anna and delivery.status == "queued"
    assert delivery.provider_sid == fake.messages[0]["sid"] and delivery.attempts == 1
    assert delivery.phone_masked == "+1********01" and delivery.sent_at == T0
    assert events(sessions, alert_id) == [("created", "detector"), ("notified", "notifier")]


def test_429_then_201_is_retried_once(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    fake.enqueue(Reply(429))
    alert_id = raise_alert(sessions, family.user_id)
    first = service.process_due(T0)
    assert first.retry_scheduled == 1 and first.sent == 0
    (row,) = deliveries(sessions, alert_id)
    assert row.status == "retrying" and row.next_attempt_at is not None
    assert T0 <= row.next_attempt_at <= T0 + seconds(2)  # full jitter, first ceiling 2 s
    second = service.process_due(T0 + seconds(2))
    assert second.retries == 1 and second.sent == 1
    assert fake.sends_to(ANNA) == 2 and fake.created_to(ANNA) == 1
    assert service.process_due(T0 + seconds(60)).work_done == 0
    (row,) = deliveries(sessions, alert_id)
    assert row.status == "queued" and row.attempts == 2


def test_500_forever_is_bounded_then_next_contact(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    fake.rule(ANNA, Reply(500))
    alert_id = raise_alert(sessions, family.user_id)
    for k in range(8):
        service.process_due(T0 + seconds(10 * k))
    assert fake.sends_to(ANNA) == 3  # policy.max_attempts
    assert fake.sends_to(BEN) == 1 and fake.sends_to(CARA) == 0
    anna, ben = deliveries(sessions, alert_id)
    assert anna.status == "failed" and anna.attempts == 3 and "gave up" in (anna.last_error or "")
    assert ben.status == "queued" and ben.escalation_level == 1
    assert ben.created_at == T0 + seconds(20)  # the moment Anna's text was given up
    kinds = [e for e, _ in events(sessions, alert_id)]
    assert kinds == ["created", "failed", "escalated", "notified"]


@pytest.mark.parametrize("code", [21211, 21610])
def test_permanent_error_not_retried_next_contact_at_once(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    code: int,
) -> None:
    fake.rule(ANNA, Reply(400, code=code))
    alert_id = raise_alert(sessions, family.user_id)
    report = service.process_due(T0)
    assert report.failed == 1 and report.escalations == 1 and report.sent == 1
    service.process_due(T0 + seconds(120))
    assert fake.sends_to(ANNA) == 1 and fake.sends_to(BEN) == 1
    anna, _ben = deliveries(sessions, alert_id)
    assert anna.status == "failed" and str(code) in (anna.last_error or "")
    with sessions() as session:
        state = session.get(AlertState, alert_id)
        assert state is not None and state.escalationLevel == 1
        assert state.nextEscalationAt == T0 + timedelta(seconds=300)


def test_slow_answer_is_confirmed_by_lookup_not_resent(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    fake.enqueue(Reply(201, delay_s=1.0))  # created, but the answer comes after the timeout
    alert_id = raise_alert(sessions, family.user_id)
    assert service.process_due(T0).retry_scheduled == 1
    (row,) = deliveries(sessions, alert_id)
    assert row.status == "unconfirmed"
    report = service.process_due(T0 + seconds(10))
    assert report.confirmed_by_lookup == 1
    assert fake.sends_to(ANNA) == 1 and fake.created_to(ANNA) == 1
    (row,) = deliveries(sessions, alert_id)
    assert row.provider_sid == fake.messages[0]["sid"] and row.status == "queued"


def test_slow_error_is_looked_up_then_resent_once(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    fake.enqueue(Reply(500, delay_s=1.0))  # timed out, and nothing was created
    raise_alert(sessions, family.user_id)
    service.process_due(T0)
    service.process_due(T0 + seconds(10))
    service.process_due(T0 + seconds(20))
    assert fake.sends_to(ANNA) == 2 and fake.created_to(ANNA) == 1


class SimulatedCrash(BaseException):
    """The process dies (not an Exception: nothing in the service may swallow it)."""


class CrashingSender:
    """Dies before or after handing the text to the real sender."""

    def __init__(self, inner: TwilioSender, *, after_call: bool) -> None:
        self.inner, self.after_call = inner, after_call

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        if self.after_call:
            self.inner.send(to, body, status_callback)
        raise SimulatedCrash


class SendOnly:
    """A sender that cannot look messages up."""

    def __init__(self, inner: TwilioSender) -> None:
        self.inner = inner

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        return self.inner.send(to, body, status_callback)


@pytest.mark.parametrize("after_call", [True, False], ids=["after-api-call", "before-api-call"])
def test_crash_between_commit_and_answer_never_double_texts(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
    after_call: bool,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    doomed = NotificationService(sessions, CrashingSender(sender, after_call=after_call), policy)
    with pytest.raises(SimulatedCrash):
        doomed.process_due(T0)
    (row,) = deliveries(sessions, alert_id)
    assert row.status == "sending" and row.provider_sid is None  # committed before the call
    restarted = NotificationService(sessions, sender, policy, rng=random.Random(1))
    report = restarted.process_due(T0 + seconds(5))
    assert report.recovered == 1
    assert report.confirmed_by_lookup == (1 if after_call else 0)
    for k in range(2, 5):
        restarted.process_due(T0 + seconds(5 * k))
    assert fake.created_to(ANNA) == 1 and fake.sends_to(ANNA) == 1
    assert fake.sends_to(BEN) == 0
    (row,) = deliveries(sessions, alert_id)
    assert row.status == "queued" and row.provider_sid == fake.messages[0]["sid"]


@pytest.mark.parametrize("resend", [False, True], ids=["at-most-once", "at-least-once"])
def test_crash_without_lookup_follows_policy(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
    resend: bool,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    with pytest.raises(SimulatedCrash):
        NotificationService(sessions, CrashingSender(sender, after_call=True), policy).process_due(
            T0
        )
    chosen = NotificationPolicy(
        max_attempts=policy.max_attempts,
        resend_unconfirmed=resend,
        status_callback_url=policy.status_callback_url,
    )
    restarted = NotificationService(sessions, SendOnly(sender), chosen)
    restarted.process_due(T0 + seconds(5))
    restarted.process_due(T0 + seconds(10))
    anna = deliveries(sessions, alert_id)[0]
    if resend:  # at least once: Anna may get it twice, Ben is not bothered
        assert fake.sends_to(ANNA) == 2 and fake.sends_to(BEN) == 0 and anna.status == "queued"
    else:  # at most once: Anna is not texted again, Ben is texted instead
        assert fake.sends_to(ANNA) == 1 and fake.sends_to(BEN) == 1 and anna.status == "unknown"


ONCALL_PHONE = "+14155550199"


def test_escalation_ends_with_a_person(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
) -> None:
    """Nobody answers: texts in order, a second round naming who was tried, calls to
    each contact, then the on-call number; each step one delay (300 s) after the last."""
    service = NotificationService(
        sessions, sender, replace(policy, oncall_phone=ONCALL_PHONE), rng=random.Random(7)
    )
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    assert service.process_due(T0 + seconds(299)).escalations == 0
    assert fake.sends_to(BEN) == 0
    assert service.process_due(T0 + seconds(300)).escalations == 1
    assert fake.sends_to(BEN) == 1
    ben_body = fake.sends()[-1].form["Body"]
    assert "No reply yet from Anna." in ben_body and "02:14 UTC" in ben_body
    for step in range(2, 12):
        service.process_due(T0 + seconds(300 * step))
    assert [fake.sends_to(p) for p in (ANNA, BEN, CARA)] == [2, 2, 2]
    assert [fake.calls_to(p) for p in (ANNA, BEN, CARA, ONCALL_PHONE)] == [1, 1, 1, 1]
    second_round_anna = fake.sends()[3].form
    assert second_round_anna["To"] == ANNA
    assert "No reply yet from Anna, Ben, Cara." in second_round_anna["Body"]
    call = fake.call_requests()[0].form
    assert call["To"] == ANNA and call["From"] == "+15005550006"
    assert "<Gather" in call["Twiml"] and "Press 1 to acknowledge" in call["Twiml"]
    assert f"{PUBLIC_URL}/webhooks/twilio/voice/gather" in call["Twiml"]
    assert call["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/voice/status"
    sent = [(d.recipient, d.channel, d.round) for d in deliveries(sessions, alert_id)]
    anna, ben, cara = (f"contact:{c}" for c in (family.anna, family.ben, family.cara))
    assert sent == [
        (anna, "sms", 1),
        (ben, "sms", 1),
        (cara, "sms", 1),
        (anna, "sms", 2),
        (ben, "sms", 2),
        (cara, "sms", 2),
        (anna, "call", 1),
        (ben, "call", 1),
        (cara, "call", 1),
        ("oncall", "call", 1),
    ]
    timeline = event_times(sessions, alert_id)
    notified = [at for kind, at in timeline if kind in {"notified", "called"}]
    assert notified == [T0 + seconds(300 * k) for k in range(10)]
    assert timeline[-1] == ("escalation_ended", T0 + seconds(3000))
    assert service.process_due(T0 + seconds(9000)).work_done == 0


def test_falls_escalate_faster_and_the_queue_ends_without_oncall(
    sessions: sessionmaker[Session], sender: TwilioSender, fake: FakeTwilio, family: Family
) -> None:
    service = NotificationService(
        sessions, sender, NotificationPolicy(text_rounds=1, call_contacts=False)
    )
    fall = raise_alert(sessions, family.user_id, "fall_detected", "critical")
    service.process_due(T0)
    assert service.process_due(T0 + seconds(119)).escalations == 0
    assert service.process_due(T0 + seconds(120)).escalations == 1  # 2 min, not 5
    service.process_due(T0 + seconds(240))
    assert service.process_due(T0 + seconds(360)).to_clinicians == 1
    service.process_due(T0 + seconds(480))
    kinds = [k for k, _ in event_times(sessions, fall)]
    assert kinds[-2:] == ["escalated_to_clinicians", "escalation_ended"]


def event_times(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, datetime]]:
    with sessions() as session:
        rows = session.scalars(
            select(AlertEvent).where(AlertEvent.alertId == alert_id).order_by(AlertEvent.id)
        )
        return [(e.eventType, e.createdAt) for e in rows]


def test_acknowledged_or_cleared_alert_stops_escalation(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    with sessions.begin() as session:
        acknowledge_alert(session, alert_id, "clinician:1", T0 + seconds(60))
    service.process_due(T0 + seconds(3600))
    assert fake.sends_to(BEN) == 0


def test_retry_cancelled_once_acknowledged(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    fake.enqueue(Reply(503))
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    with sessions.begin() as session:
        acknowledge_alert(session, alert_id, "clinician:1", T0 + seconds(1))
    assert service.process_due(T0 + seconds(30)).cancelled == 1
    assert fake.sends_to(ANNA) == 1
    assert deliveries(sessions, alert_id)[0].status == "cancelled"


def test_which_alerts_text(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    stress = raise_alert(sessions, family.user_id, "high_stress", "medium", stress_level=9)
    medium = raise_alert(sessions, family.user_id, "low_heart_rate", "medium", heart_rate=38)
    sos = raise_alert(sessions, family.user_id, "sos", "critical", heart_rate=None)
    report = service.process_due(T0)
    assert report.first_texts == 1 and fake.sends_to(ANNA) == 1
    assert "SOS pressed" in fake.sends()[0].form["Body"]
    assert deliveries(sessions, stress) == []
    assert deliveries(sessions, medium) == []
    assert len(deliveries(sessions, sos)) == 1
    opted_in = NotificationService(
        sessions, service._sender, NotificationPolicy(text_high_stress=True)
    )
    assert opted_in.process_due(T0 + seconds(1)).first_texts == 1
    assert "stress 9/10" in fake.sends()[-1].form["Body"]


def next_escalation_at(sessions: sessionmaker[Session], alert_id: int) -> datetime:
    with sessions() as session:
        state = session.get(AlertState, alert_id)
        assert state is not None and state.nextEscalationAt is not None
        return state.nextEscalationAt


def test_rate_limited_texts_are_deferred_never_dropped(
    sessions: sessionmaker[Session], sender: TwilioSender, fake: FakeTwilio, family: Family
) -> None:
    service = NotificationService(
        sessions,
        sender,
        NotificationPolicy(
            max_texts_per_user_per_hour=2,
            critical_escalation_delay_s=300.0,  # one delay for every kind: the budget is
            fast_escalation_delay_s=300.0,  # what this test is about
            text_rounds=1,
            call_contacts=False,
        ),
    )
    kinds = ["high_heart_rate", "arrhythmia", "low_heart_rate"]
    alerts = [
        raise_alert(sessions, family.user_id, k, "high", T0 + seconds(i))
        for i, k in enumerate(kinds)
    ]
    report = service.process_due(T0 + seconds(5))
    assert report.first_texts == 2 and report.rate_limited == 1
    assert ("rate_limited", "notifier") in events(sessions, alerts[2])
    assert deliveries(sessions, alerts[2]) == []
    # the budget is spent, but a critical alert's first text and an SOS still go out
    fall = raise_alert(sessions, family.user_id, "fall_detected", "critical", T0 + seconds(8))
    sos = raise_alert(sessions, family.user_id, "sos", "critical", T0 + seconds(10))
    report = service.process_due(T0 + seconds(12))
    assert report.first_texts == 2
    assert len(deliveries(sessions, fall)) == 1 and len(deliveries(sessions, sos)) == 1
    # escalations inside the hour are held back (the SOS's is not)
    report = service.process_due(T0 + seconds(400))
    assert report.escalations == 1 and report.rate_limited == 3
    assert len(deliveries(sessions, sos)) == 2
    # once the oldest text has aged out, the deferred first text goes out before any
    # held escalation; the SOS (exempt) escalates too, and the rest wait for budget
    later = service.process_due(T0 + seconds(3700))
    assert later.first_texts == 1 and later.escalations == 1
    assert [len(deliveries(sessions, a)) for a in alerts] == [1, 1, 1]
    assert len(deliveries(sessions, sos)) == 3 and len(deliveries(sessions, fall)) == 1
    assert next_escalation_at(sessions, fall) > T0 + seconds(3700)  # deferred, not dropped
    # nothing is dropped: with budget again, the critical fall escalates first
    much_later = service.process_due(T0 + seconds(8000))
    assert much_later.escalations == 2
    assert len(deliveries(sessions, fall)) == 2
    assert sorted(len(deliveries(sessions, a)) for a in alerts[:2]) == [1, 2]


def test_user_without_contacts_is_recorded_once(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio
) -> None:
    with sessions.begin() as session:
        user_id = add_user(session, open_id="lonely").id
    alert_id = raise_alert(sessions, user_id)
    assert service.process_due(T0).no_contacts == 1
    assert service.process_due(T0 + seconds(1)).work_done == 0
    assert ("failed", "notifier") in events(sessions, alert_id) and fake.sends() == []


def test_logs_never_show_numbers_or_secrets(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.enqueue(Reply(429), Reply(201, delay_s=1.0))
    fake.rule(BEN, Reply(400, code=21211))
    raise_alert(sessions, family.user_id)
    for k in range(0, 600, 5):  # round 1 (round 2 starts at 600 s)
        service.process_due(T0 + seconds(k))
    assert fake.sends_to(ANNA) == 2 and fake.sends_to(BEN) == 1 and fake.sends_to(CARA) == 1
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "+1********01" in text  # masked numbers are logged ...
    for secret in (ANNA, BEN, CARA, "4155550101", "4155550102", "4155550103", fake.auth_token):
        assert secret not in text  # ... full ones and the token never
