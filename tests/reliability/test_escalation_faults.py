"""Faults during escalation, on MariaDB with the pipeline and the real twilio library
against the local fake Twilio (texts and calls): a Twilio outage in the middle of the
escalation, and the process dying during a call. Zero loss (every step of every plan
happens, or is recorded as failed/unknown and the plan moves on), zero duplicates (no
recipient gets two messages of one step)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from notifier.policy import NotificationPolicy
from notifier.senders import SendResult, TwilioSender
from notifier.service import NotificationService
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AlertEvent, SmsNotification
from storage.repositories.devices import add_device
from storage.repositories.people import add_contact, add_user
from storage.types import utc_from_ms
from tests.notifier.fake_twilio import FakeTwilio, Reply
from tests.reliability.harness import T0_MS
from tests.reliability.report import record

USERS = 6
ONCALL = "+15550109999"


class ProcessDied(BaseException):
    """The process is killed (nothing in it can catch this)."""


class DiesDuringFirstCall:
    """Texts go through; the first call reaches Twilio, then the process dies."""

    def __init__(self, inner: TwilioSender) -> None:
        self.inner = inner

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        return self.inner.send(to, body, status_callback)

    def find_sent(self, to: str, body: str) -> SendResult | None:
        return self.inner.find_sent(to, body)

    def call(self, to: str, twiml: str, status_callback: str | None) -> SendResult:
        self.inner.call(to, twiml, status_callback)
        raise ProcessDied


def test_twilio_outage_mid_escalation_and_a_crash_during_a_call(
    clean_mysql_url: str, tmp_path: Path
) -> None:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    phones: list[tuple[str, str]] = []
    messages = []
    with sessions.begin() as session:
        for n in range(USERS):
            user = add_user(session, open_id=f"esc-fault-{n}", name=f"Wearer {n}")
            add_device(session, user_id=user.id, device_id=f"esc-watch-{n}")
            a, b = f"+1555010{7000 + 2 * n:04d}", f"+1555010{7001 + 2 * n:04d}"
            add_contact(session, user_id=user.id, name=f"A{n}", phone=a, is_primary=True)
            add_contact(session, user_id=user.id, name=f"B{n}", phone=b)
            phones.append((a, b))
            payload = {"v": 1, "user": user.id, "device": f"esc-watch-{n}", "seq": 1,
                       "ts": T0_MS + 1000 * n, "kind": "event", "event": "sos"}  # fmt: skip
            messages.append(Inbound(None, orjson.dumps(payload)))
    assert len(BatchProcessor(sessions, Engine()).handle(messages).alerts_opened) == USERS
    policy = NotificationPolicy(
        fast_escalation_delay_s=60.0,
        text_rounds=2,
        oncall_phone=ONCALL,
        backoff_base_s=2.0,
        backoff_cap_s=8.0,
        max_attempts=6,
        retry_for_s=0.0,
        status_callback_url="https://vitals.example.org/webhooks/twilio/status",
        public_base_url="https://vitals.example.org",
    )
    start = utc_from_ms(T0_MS)
    with FakeTwilio() as fake:
        sender = TwilioSender(
            fake.account_sid,
            fake.auth_token,
            from_number="+15005550006",
            api_base_url=fake.base_url,
            timeout_s=0.5,
        )
        live = NotificationService(sessions, sender, policy, rng=random.Random(11))
        live.process_until(start + timedelta(seconds=70))  # round 1 under way
        # Twilio is down for the second contacts' texts and the second round: 429s, 5xx,
        # and a hang past the client timeout (the text may exist: looked up, not resent)
        fake.enqueue(*[Reply(429), Reply(503), Reply(500), Reply(504, delay_s=0.8)] * 3)
        live.process_until(start + timedelta(seconds=200))
        doomed = NotificationService(
            sessions, DiesDuringFirstCall(sender), policy, rng=random.Random(12)
        )
        with pytest.raises(ProcessDied):
            doomed.process_until(start + timedelta(seconds=400))
        restarted = NotificationService(sessions, sender, policy, rng=random.Random(13))
        restarted.process_until(start + timedelta(hours=2))
        created_texts = Counter(m["to"] for m in fake.messages)
        created_calls = Counter(c["to"] for c in fake.calls)
        api_calls = len(fake.requests)
    with sessions() as session:
        rows = session.scalars(select(SmsNotification)).all()
        ended = session.scalars(
            select(AlertEvent.alertId).where(AlertEvent.eventType == "escalation_ended")
        ).all()
    engine.dispose()
    # every plan ran to its end: 2 rounds x 2 texts, 2 calls, the on-call call
    assert sorted(ended) == sorted(set(ended)) and len(ended) == USERS
    assert len(rows) == USERS * 7
    statuses = Counter((r.channel, r.status) for r in rows)
    # texts: all sent (timeouts looked up, never resent); calls whose outcome is unknown
    # (the crash, a timeout: a call cannot be looked up) are not placed again
    assert statuses[("sms", "queued")] == USERS * 4
    assert statuses[("call", "queued")] + statuses[("call", "unknown")] == USERS * 3
    assert statuses[("call", "unknown")] >= 1  # the crash
    # zero duplicates: one created text per contact and round, one call per person
    assert all(created_texts[a] == 2 and created_texts[b] == 2 for a, b in phones)
    assert all(created_calls[a] == 1 and created_calls[b] == 1 for a, b in phones)
    assert created_calls[ONCALL] == USERS
    assert api_calls > USERS * 7 + 6  # the outage was hit and ridden out
    record(
        "outage",
        "Twilio down mid-escalation (429/5xx/timeouts), process killed during a call",
        alerts=USERS,
        steps=len(rows),
        api_calls=api_calls,
        lost=0,
    )
