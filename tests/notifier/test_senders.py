"""The real twilio library against the local fake server, and the outbox."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from notifier.errors import NotifierConfigError, PermanentSendError, TransientSendError
from notifier.senders import OutboxSender, TwilioSender
from tests.notifier.conftest import ANNA, FROM_NUMBER
from tests.notifier.fake_twilio import FakeTwilio, Reply
from vitals.settings import Settings
from vitals.wiring import sender_from_settings


def test_201_returns_sid_and_sends_form(fake: FakeTwilio, sender: TwilioSender) -> None:
    result = sender.send(ANNA, "hello", "https://x.example/status")
    assert result.sid.startswith("SM") and result.status == "queued"
    (request,) = fake.sends()
    assert request.authorized
    assert request.form == {
        "To": ANNA,
        "From": FROM_NUMBER,
        "Body": "hello",
        "StatusCallback": "https://x.example/status",
    }


def test_messaging_service_sid_instead_of_number(fake: FakeTwilio) -> None:
    sender = TwilioSender(
        fake.account_sid,
        fake.auth_token,
        messaging_service_sid="MG" + "1" * 32,
        api_base_url=fake.base_url,
    )
    assert sender.send(ANNA, "hi", None).status == "accepted"
    assert fake.sends()[0].form["MessagingServiceSid"] == "MG" + "1" * 32


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_transient(
    fake: FakeTwilio, sender: TwilioSender, status: int
) -> None:
    fake.enqueue(Reply(status))
    with pytest.raises(TransientSendError) as caught:
        sender.send(ANNA, "hi", None)
    assert caught.value.status == status and not caught.value.maybe_sent
    assert "+1********01" in str(caught.value) and ANNA not in str(caught.value)


@pytest.mark.parametrize("code", [21211, 21610, 21408])
def test_invalid_or_unsubscribed_numbers_are_permanent(
    fake: FakeTwilio, sender: TwilioSender, code: int
) -> None:
    fake.enqueue(Reply(400, code=code))
    with pytest.raises(PermanentSendError) as caught:
        sender.send(ANNA, "hi", None)
    assert caught.value.code == code and caught.value.status == 400


def test_wrong_token_is_permanent(fake: FakeTwilio) -> None:
    sender = TwilioSender(
        fake.account_sid, "wrong", from_number=FROM_NUMBER, api_base_url=fake.base_url
    )
    with pytest.raises(PermanentSendError) as caught:
        sender.send(ANNA, "hi", None)
    assert caught.value.status == 401 and caught.value.code == 20003


def test_slow_answer_times_out_as_maybe_sent_and_lookup_finds_it(
    fake: FakeTwilio, sender: TwilioSender
) -> None:
    fake.enqueue(Reply(201, delay_s=1.0))
    with pytest.raises(TransientSendError) as caught:
        sender.send(ANNA, "slow one", None)
    assert caught.value.maybe_sent
    found = sender.find_sent(ANNA, "slow one")
    assert found is not None and found.sid == fake.messages[0]["sid"]
    assert sender.find_sent(ANNA, "another body") is None
    assert sender.find_sent("+14155550199", "slow one") is None


def test_unreachable_server_is_transient() -> None:
    sender = TwilioSender(
        "AC" + "0" * 32,
        "t",
        from_number=FROM_NUMBER,
        api_base_url="http://127.0.0.1:9",
        timeout_s=0.5,
    )
    with pytest.raises(TransientSendError):
        sender.send(ANNA, "hi", None)


def test_sender_needs_a_from_number_or_service() -> None:
    with pytest.raises(NotifierConfigError, match="twilio_from_number"):
        TwilioSender("AC" + "0" * 32, "t")


def test_outbox_writes_jsonl_and_masks_console(tmp_path: Path) -> None:
    console = io.StringIO()
    outbox = OutboxSender(tmp_path / "sms" / "outbox.jsonl", console=console)
    first = outbox.send(ANNA, "one", None)
    outbox.send(ANNA, "two", None)
    lines = [json.loads(x) for x in (tmp_path / "sms" / "outbox.jsonl").read_text().splitlines()]
    assert [x["body"] for x in lines] == ["one", "two"] and lines[0]["to"] == ANNA
    assert ANNA not in console.getvalue() and "+1********01" in console.getvalue()
    assert outbox.find_sent(ANNA, "one") == first
    assert outbox.find_sent(ANNA, "three") is None


def test_sender_from_settings(tmp_path: Path, fake: FakeTwilio) -> None:
    outbox = sender_from_settings(Settings(sms_outbox_path=tmp_path / "o.jsonl"))
    assert isinstance(outbox, OutboxSender)
    twilio = sender_from_settings(
        Settings(
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=fake.auth_token,  # type: ignore[arg-type]
            twilio_from_number=FROM_NUMBER,
            twilio_api_base_url=fake.base_url,
        )
    )
    assert isinstance(twilio, TwilioSender)
    assert twilio.send(ANNA, "via settings", None).sid.startswith("SM")
