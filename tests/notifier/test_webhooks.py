"""Twilio webhooks through FastAPI's TestClient, signed with the library's validator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from notifier.errors import NotifierConfigError
from notifier.inbound import is_acknowledgement
from notifier.policy import NotificationPolicy
from notifier.senders import TwilioSender
from notifier.service import NotificationService
from storage.models import AlertEvent, AlertState, HealthAlert
from storage.repositories.notifications import Delivery, deliveries_of_alert
from storage.repositories.people import add_contact, add_user
from tests.notifier.conftest import ANNA, BEN, PUBLIC_URL, T0, Family, raise_alert, seconds
from tests.notifier.fake_twilio import FakeTwilio
from vitals.api.webhooks import webhook_router

SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + seconds(60))


@pytest.fixture
def wake() -> threading.Event:
    return threading.Event()


@pytest.fixture
def client(
    sessions: sessionmaker[Session], fake: FakeTwilio, clock: Clock, wake: threading.Event
) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(
        webhook_router(
            sessions,
            auth_token=fake.auth_token,
            public_base_url=PUBLIC_URL,
            clock=clock,
            wake=wake,
        )
    )
    with TestClient(app) as test_client:
        yield test_client


def post_signed(
    client: TestClient, token: str, path: str, params: dict[str, str], *, url: str | None = None
) -> Response:
    signature = str(RequestValidator(token).compute_signature(url or PUBLIC_URL + path, params))
    response: Response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    return response


def deliveries(sessions: sessionmaker[Session], alert_id: int) -> list[Delivery]:
    with sessions() as session:
        return deliveries_of_alert(session, alert_id)


def acknowledged(sessions: sessionmaker[Session], alert_id: int) -> bool:
    with sessions() as session:
        alert = session.get(HealthAlert, alert_id)
        return bool(alert and alert.acknowledged)


def event_rows(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.scalars(
            select(AlertEvent).where(AlertEvent.alertId == alert_id).order_by(AlertEvent.id)
        )
        return [(e.eventType, e.actor) for e in rows]


@pytest.mark.parametrize(
    "body,ack",
    [
        ("ACK", True),
        ("ok", True),
        ("Ok on my way", True),
        ("okay!", True),
        ("  ack  ", True),
        ("1", True),
        ("Yes.", True),
        ("ON IT", True),
        ("omw", True),
        ("is she ok?", False),  # a question acknowledges nothing (issue 18)
        ("not ok", False),
        ("Yes?", False),
        ("ok?", False),
        ("ok but call me", False),
        ("no", False),
        ("ackward", False),
        ("", False),
        ("STOP", False),
        ("12", False),
    ],
)
def test_ack_words(body: str, ack: bool) -> None:
    assert is_acknowledgement(body) is ack


def test_signed_ack_stops_escalation_and_confirms(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    params = {"From": ANNA, "To": "+15005550006", "Body": "Ok on my way", "MessageSid": "SMin1"}
    response = post_signed(client, fake.auth_token, SMS_PATH, params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message>Thank you, Anna. Alert for Jane Doe acknowledged" in response.text
    assert acknowledged(sessions, alert_id)
    assert ("acknowledged", f"contact:{family.anna}") in event_rows(sessions, alert_id)
    service.process_due(T0 + seconds(3600))
    assert fake.sends_to(BEN) == 0  # escalation stopped
    replay = post_signed(client, fake.auth_token, SMS_PATH, params)  # harmless
    assert replay.status_code == 200 and "<Message>" not in replay.text
    assert [e for e, _ in event_rows(sessions, alert_id)].count("acknowledged") == 1


@pytest.mark.parametrize("attack", ["forged", "unsigned", "other-url", "tampered-body"])
def test_bad_signature_is_403_and_changes_nothing(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
    attack: str,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    params = {"From": ANNA, "Body": "ACK"}
    if attack == "forged":
        response = post_signed(client, "not-the-token", SMS_PATH, params)
    elif attack == "unsigned":
        response = client.post(SMS_PATH, data=params)
    elif attack == "other-url":
        response = post_signed(
            client,
            fake.auth_token,
            SMS_PATH,
            params,
            url="https://evil.example/webhooks/twilio/sms",
        )
    else:
        signature = RequestValidator(fake.auth_token).compute_signature(
            PUBLIC_URL + SMS_PATH, {"From": BEN, "Body": "hello"}
        )
        response = client.post(SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert not acknowledged(sessions, alert_id)
    sid = deliveries(sessions, alert_id)[0].provider_sid
    assert sid is not None
    forged_status = client.post(
        STATUS_PATH,
        data={"MessageSid": sid, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "AAAA"},
    )
    assert forged_status.status_code == 403
    assert deliveries(sessions, alert_id)[0].status == "queued"
    assert service.process_due(T0 + seconds(300)).escalations == 1  # escalation goes on


def test_ack_from_unknown_number_or_other_words_changes_nothing(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    stranger = post_signed(
        client, fake.auth_token, SMS_PATH, {"From": "+14155550199", "Body": "ACK"}
    )
    assert stranger.status_code == 200 and "<Message>" not in stranger.text
    for n, question in enumerate(("who is this?", "is she ok?", "not ok", "Yes?")):
        params = {"From": ANNA, "Body": question, "MessageSid": f"SMq{n}"}
        chat = post_signed(client, fake.auth_token, SMS_PATH, params)
        assert "Not understood. To acknowledge the alert for Jane Doe, reply ACK" in chat.text
    # Ben was not texted yet: his ACK does not acknowledge an alert he does not know about
    early = post_signed(client, fake.auth_token, SMS_PATH, {"From": BEN, "Body": "ack"})
    assert "no open alert" in early.text
    assert not acknowledged(sessions, alert_id)


def test_status_callbacks_move_forward_only(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
    wake: threading.Event,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    sid = deliveries(sessions, alert_id)[0].provider_sid
    assert sid is not None

    def status(value: str, code: str | None = None) -> str:
        params = {"MessageSid": sid, "MessageStatus": value, "AccountSid": fake.account_sid}
        if code:
            params["ErrorCode"] = code
        assert post_signed(client, fake.auth_token, STATUS_PATH, params).status_code == 204
        return deliveries(sessions, alert_id)[0].status

    assert status("sent") == "sent"
    assert status("queued") == "sent"  # late news never moves a row backwards
    assert status("delivered") == "delivered"
    assert status("delivered") == "delivered"  # a replay
    assert status("sent") == "delivered"
    row = deliveries(sessions, alert_id)[0]
    assert row.delivered_at == T0 + seconds(60)
    assert [e for e, _ in event_rows(sessions, alert_id)].count("delivered") == 1
    assert ("delivered", "twilio") in event_rows(sessions, alert_id) and wake.is_set()


def test_undelivered_texts_the_next_contact_at_once(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    sid = deliveries(sessions, alert_id)[0].provider_sid
    assert sid is not None
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_signed(client, fake.auth_token, STATUS_PATH, params).status_code == 204
    anna = deliveries(sessions, alert_id)[0]
    assert anna.status == "undelivered" and "30003" in (anna.last_error or "")
    assert service.process_due(T0 + seconds(61)).escalations == 1  # not 5 minutes later
    assert fake.sends_to(BEN) == 1


def test_router_needs_token_and_url(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(NotifierConfigError):
        webhook_router(sessions, auth_token="", public_base_url=PUBLIC_URL)
    with pytest.raises(NotifierConfigError, match=r"vitals\.example\.org"):
        webhook_router(sessions, auth_token="t", public_base_url="vitals.example.org")


GATHER_PATH = "/webhooks/twilio/voice/gather"
VOICE_STATUS_PATH = "/webhooks/twilio/voice/status"


def test_replayed_ack_is_ignored_and_never_acknowledges_a_later_alert(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
    clock: Clock,
) -> None:
    """Issue 17 item 9: a captured, validly signed ACK re-posted later changes nothing,
    and an ACK never acknowledges an alert texted after it arrived."""
    first = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    params = {"From": ANNA, "Body": "ACK", "MessageSid": "SMcaptured"}
    assert "acknowledged" in post_signed(client, fake.auth_token, SMS_PATH, params).text
    later_at = T0 + seconds(7200)
    later = raise_alert(sessions, family.user_id, "low_heart_rate", at=later_at, heart_rate=28)
    service.process_due(later_at)
    clock.now = later_at + seconds(30)
    replay = post_signed(client, fake.auth_token, SMS_PATH, params)
    assert replay.status_code == 200 and "<Message>" not in replay.text
    assert acknowledged(sessions, first) and not acknowledged(sessions, later)
    # an ACK that arrived (by Twilio's clock here) before the text was sent: nothing
    clock.now = later_at - seconds(1)
    early = {"From": ANNA, "Body": "ACK", "MessageSid": "SMearly"}
    assert "no open alert" in post_signed(client, fake.auth_token, SMS_PATH, early).text
    assert not acknowledged(sessions, later)


def test_one_number_two_wearers_acknowledges_the_most_recent_and_names_it(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
    clock: Clock,
) -> None:
    """Issue 17 item 10: Anna is a contact of Jane and of her father Tom. One "ok"
    acknowledges only the alert she was texted about last (Tom's), names Tom, and says
    that Jane's is still open; a second ACK acknowledges Jane's."""
    with sessions.begin() as session:
        tom = add_user(session, open_id="oauth-tom", name="Tom Doe")
        add_contact(session, user_id=tom.id, name="Anna", phone=ANNA, is_primary=True)
        tom_id = tom.id
    jane_alert = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    tom_alert = raise_alert(sessions, tom_id, at=T0 + seconds(20))
    service.process_due(T0 + seconds(20))
    reply = post_signed(
        client, fake.auth_token, SMS_PATH, {"From": ANNA, "Body": "ok", "MessageSid": "SMa"}
    )
    assert "Alert for Tom Doe acknowledged" in reply.text
    assert "An alert for Jane Doe is still open: reply ACK again" in reply.text
    assert acknowledged(sessions, tom_alert) and not acknowledged(sessions, jane_alert)
    again = post_signed(
        client, fake.auth_token, SMS_PATH, {"From": ANNA, "Body": "ACK", "MessageSid": "SMb"}
    )
    assert "Alert for Jane Doe acknowledged" in again.text and "still open" not in again.text
    assert acknowledged(sessions, jane_alert)


def test_ack_after_the_alert_cleared_is_recorded(
    sessions: sessionmaker[Session],
    service: NotificationService,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
) -> None:
    alert_id = raise_alert(sessions, family.user_id)
    service.process_due(T0)
    with sessions.begin() as session:
        state = session.get(AlertState, alert_id)
        assert state is not None
        state.clearedAt = T0 + seconds(30)
    params = {"From": ANNA, "Body": "ACK", "MessageSid": "SMlate"}
    reply = post_signed(client, fake.auth_token, SMS_PATH, params)
    assert "had already cleared; your answer is recorded" in reply.text
    assert acknowledged(sessions, alert_id)
    assert ("cleared_ack", f"contact:{family.anna}") in event_rows(sessions, alert_id)


def test_pressing_1_on_a_call_acknowledges_and_busy_moves_on(
    sessions: sessionmaker[Session],
    sender: TwilioSender,
    policy: NotificationPolicy,
    fake: FakeTwilio,
    family: Family,
    client: TestClient,
) -> None:
    service = NotificationService(sessions, sender, replace(policy, text_rounds=1))
    alert_id = raise_alert(sessions, family.user_id)
    for step in range(4):  # three texts, then the first call (Anna)
        service.process_due(T0 + seconds(300 * step))
    call_sid = fake.calls[0]["sid"]
    busy = {"CallSid": call_sid, "CallStatus": "busy"}
    assert post_signed(client, fake.auth_token, VOICE_STATUS_PATH, busy).status_code == 204
    assert service.process_due(T0 + seconds(901)).escalations == 1  # Ben is called at once
    assert fake.calls_to(BEN) == 1
    ben_call = fake.calls[1]["sid"]
    nothing = {"CallSid": ben_call, "Digits": "7"}
    said = post_signed(client, fake.auth_token, GATHER_PATH, nothing)
    assert "Not acknowledged" in said.text and not acknowledged(sessions, alert_id)
    replayed = post_signed(client, fake.auth_token, GATHER_PATH, {**nothing, "Digits": "1"})
    assert "Goodbye." in replayed.text and not acknowledged(sessions, alert_id)  # one per call
    service.process_due(T0 + seconds(1201))
    cara_call = fake.calls[2]["sid"]
    said = post_signed(client, fake.auth_token, GATHER_PATH, {"CallSid": cara_call, "Digits": "1"})
    assert "Thank you. The alert for Jane Doe is acknowledged" in said.text
    assert acknowledged(sessions, alert_id)
    assert ("acknowledged", f"contact:{family.cara}") in event_rows(sessions, alert_id)
    answered = {"CallSid": cara_call, "CallStatus": "in-progress"}
    assert post_signed(client, fake.auth_token, VOICE_STATUS_PATH, answered).status_code == 204
    assert ("call_answered", "twilio") in event_rows(sessions, alert_id)
