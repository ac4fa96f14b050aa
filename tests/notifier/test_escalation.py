"""Escalation through the service on SQLite and MariaDB: frozen values, follow-up texts,
calls that crash or meet a Twilio outage (zero loss, zero duplicates)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifier.message import segments
from notifier.policy import NotificationPolicy
from notifier.senders import SendResult, TwilioSender
from notifier.service import NotificationService
from storage.models import AlertEvent, AlertState, HealthAlert
from storage.repositories.alerts import AlertChange, acknowledge_alert, update_alert
from storage.repositories.locations import Fix, save_latest_fixes
from storage.repositories.notifications import Delivery, deliveries_of_alert
from tests.notifier.conftest import ANNA, BEN, CARA, T0, Family, raise_alert, seconds
from tests.notifier.fake_twilio import FakeTwilio, Reply

ONCALL = "+14155550199"


def deliveries(sessions: sessionmaker[Session], alert_id: int) -> list[Delivery]:
    with sessions() as session:
        return deliveries_of_alert(session, alert_id)


def event_types(sessions: sessionmaker[Session], alert_id: int) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AlertEvent.eventType)
                .where(AlertEvent.alertId == alert_id)
                .order_by(AlertEvent.id)
            )
        )


def test_every_text_quotes_the_value_at_alert_time(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    """Issue 18: HR 89 in the first text and 91 in the escalation. The value is frozen
    when the alert is raised, whatever the detector writes later."""
    alert_id = raise_alert(sessions, family.user_id, heart_rate=156)
    service.process_due(T0)
    with sessions.begin() as session:
        update_alert(
            session,
            AlertChange(
                user_id=family.user_id,
                kind="high_heart_rate",
                severity="critical",
                onset_at=T0 - timedelta(minutes=10),
                at=T0 + seconds(60),
                message="still high",
                heart_rate=171,
            ),
        )
    service.process_due(T0 + seconds(300))
    bodies = [r.form["Body"] for r in fake.sends()]
    assert len(bodies) == 2 and all("HR 156 bpm" in b for b in bodies)
    assert deliveries(sessions, alert_id)[1].contact_id == family.ben


def test_all_clear_goes_to_everyone_texted_once(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    service.process_due(T0 + seconds(300))
    with sessions.begin() as session:
        state = session.get(AlertState, alert_id)
        assert state is not None
        state.clearedAt = T0 + seconds(400)
    # in reading time (replays), a clearing stored ahead of the clock is not yet seen
    assert service.process_due(T0 + seconds(399), reading_time=True).follow_ups == 0
    assert service.process_due(T0 + seconds(400), reading_time=True).follow_ups == 2
    service.process_due(T0 + seconds(2000))
    assert (fake.sends_to(ANNA), fake.sends_to(BEN), fake.sends_to(CARA)) == (2, 2, 0)
    clear = [r.form["Body"] for r in fake.sends()][-1]
    assert clear.startswith("vitals all-clear: the high heart rate alert for Jane Doe")
    assert event_types(sessions, alert_id).count("all_clear_notified") == 1


def test_responding_goes_to_the_others_after_an_ack(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    service.process_due(T0 + seconds(300))
    with sessions.begin() as session:
        acknowledge_alert(session, alert_id, f"contact:{family.ben}", T0 + seconds(330))
    assert service.process_due(T0 + seconds(330)).follow_ups == 1
    body = fake.sends()[-1].form
    assert body["To"] == ANNA
    assert body["Body"] == (
        "vitals: Ben is responding to the alert for Jane Doe (high heart rate). No need to reply."
    )
    service.process_due(T0 + seconds(5000))
    assert (fake.sends_to(ANNA), fake.sends_to(BEN), fake.sends_to(CARA)) == (2, 1, 0)


class SimulatedCrash(BaseException):
    """The process dies (not an error the service could catch)."""


class CrashDuringCall:
    """Texts go through; the process dies during the call's API request (after Twilio
    placed the call, or before the request left)."""

    def __init__(self, inner: TwilioSender, *, after_call: bool) -> None:
        self.inner, self.after_call = inner, after_call

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        return self.inner.send(to, body, status_callback)

    def call(self, to: str, twiml: str, status_callback: str | None) -> SendResult:
        if self.after_call:
            self.inner.call(to, twiml, status_callback)
        raise SimulatedCrash


@pytest.mark.parametrize("after_call", [True, False], ids=["after-api-call", "before-api-call"])
def test_crash_during_a_call_never_calls_twice_and_escalation_goes_on(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
    after_call: bool,
) -> None:
    chosen = replace(policy, text_rounds=1, oncall_phone=ONCALL)
    alert_id = raise_alert(sessions, family.user_id)
    doomed = NotificationService(sessions, CrashDuringCall(sender, after_call=after_call), chosen)
    for step in range(3):
        doomed.process_due(T0 + seconds(300 * step))
    with pytest.raises(SimulatedCrash):
        doomed.process_due(T0 + seconds(900))  # Anna's call
    restarted = NotificationService(sessions, sender, chosen, rng=random.Random(3))
    for k in range(1, 30):
        restarted.process_due(T0 + seconds(900 + 60 * k))
    # at most once: a call cannot be looked up, so Anna is not called again; the
    # escalation goes on to Ben, Cara and the on-call number, one call each
    assert fake.calls_to(ANNA) == (1 if after_call else 0)
    assert [fake.calls_to(p) for p in (BEN, CARA, ONCALL)] == [1, 1, 1]
    assert [fake.sends_to(p) for p in (ANNA, BEN, CARA)] == [1, 1, 1]
    anna_call = next(d for d in deliveries(sessions, alert_id) if d.channel == "call")
    assert anna_call.status == "unknown"
    assert event_types(sessions, alert_id)[-1] == "escalation_ended"


def test_twilio_outage_mid_escalation_delays_but_loses_and_doubles_nothing(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
) -> None:
    chosen = replace(policy, text_rounds=1, oncall_phone=ONCALL, max_attempts=6)
    service = NotificationService(sessions, sender, chosen, rng=random.Random(5))
    alert_id = raise_alert(sessions, family.user_id)
    fake.enqueue(Reply(503))  # the outage starts with the first text (Anna) ...
    for step in range(3):
        service.process_due(T0 + seconds(300 * step))
    fake.enqueue(Reply(503), Reply(429), Reply(500))  # ... and is back for the first call
    for k in range(1, 120):
        service.process_due(T0 + seconds(600 + 30 * k))
    assert [fake.sends_to(p) for p in (ANNA, BEN, CARA)] == [2, 1, 1]  # Anna retried once
    assert [fake.created_to(p) for p in (ANNA, BEN, CARA)] == [1, 1, 1]
    assert [fake.calls_to(p) for p in (ANNA, BEN, CARA, ONCALL)] == [4, 1, 1, 1]
    assert len(fake.calls) == 4  # one call placed per person: none lost, none doubled
    assert event_types(sessions, alert_id)[-1] == "escalation_ended"


def test_fall_text_says_where_the_phone_last_was(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    with sessions.begin() as session:
        save_latest_fixes(
            session,
            [Fix(family.user_id, int(T0.timestamp() * 1000) - 60_000, 52.520008, 13.404954, 20.0)],
            T0 - seconds(60),
        )
    fall = raise_alert(sessions, family.user_id, "fall_detected", "critical")
    high = raise_alert(sessions, family.user_id, "arrhythmia", "high", T0 + seconds(1))
    service.process_due(T0 + seconds(1))
    fall_text, high_text = (r.form["Body"] for r in fake.sends())
    assert "Last location 52.52001,13.40495 (+-20 m)." in fall_text
    assert f"vitals.example.org/?alert={fall}" in fall_text and segments(fall_text) == 2
    assert "Last location" not in high_text  # where is said for falls and SOS only
    assert deliveries(sessions, fall) and deliveries(sessions, high)


def test_live_a_device_clock_ahead_never_delays_the_first_text(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    raise_alert(sessions, family.user_id, "sos", "critical", at=T0 + seconds(90))
    # a replay's clock has not reached the alert yet ...
    assert service.process_due(T0, reading_time=True).first_texts == 0
    # ... live, the stored alert is the truth: an SOS dated 90 s ahead is texted now
    assert service.process_due(T0).first_texts == 1
    assert fake.sends_to(ANNA) == 1


def test_an_alert_stored_before_freezing_is_frozen_at_its_first_text(
    sessions: sessionmaker[Session], service: NotificationService, fake: FakeTwilio, family: Family
) -> None:
    alert_id = raise_alert(sessions, family.user_id, heart_rate=156)
    with sessions.begin() as session:  # as a row migrated from before 0006 looks
        state = session.get(AlertState, alert_id)
        assert state is not None
        state.heartRateAtAlert = None
    service.process_due(T0)
    with sessions.begin() as session:
        alert = session.get(HealthAlert, alert_id)
        assert alert is not None
        alert.heartRate = 171  # the detector updates the alert later
    service.process_due(T0 + seconds(300))
    assert all("HR 156 bpm" in r.form["Body"] for r in fake.sends())
