from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.gsm7 import GSM7_BASIC, SEGMENT_CHARS, is_gsm7_basic, to_gsm7
from notifier.message import (
    REPLY_HINT,
    AlertFacts,
    confirmation_text,
    local_time_label,
    render_alert_text,
)

AT = datetime(2026, 11, 24, 2, 14, tzinfo=UTC)
KINDS = [
    ("fall_detected", "critical", "possible fall"),
    ("arrhythmia", "high", "irregular heart rhythm"),
    ("high_heart_rate", "critical", "high heart rate"),
    ("low_heart_rate", "high", "low heart rate"),
    ("high_stress", "medium", "high stress"),
    ("sos", "critical", "SOS pressed"),
]
NAMES = [
    "Jane Doe",
    None,
    "",
    "Zoë Łukasiewicz-Brzęczyszczykiewicz",
    "José “Pepe” O’Connor — Sr.",
    "Ærøskøbing Østergård",
    "王小明",
    "Olha Шевченко",
    "Jane 🚑 Doe ❤️",
    "A" * 300,
    "Maximiliana Theodora Wilhelmina von und zu Hohenzollern-Sigmaringen",
    "Tab\tand\nnewline\r name",
    "{curly} [square] ~tilde~ |pipe| \\back\\ ^caret^ €uro",
]


def _facts(**kw: object) -> AlertFacts:
    base: dict[str, object] = dict(
        user_id=42, user_name="Jane Doe", kind="high_heart_rate", severity="critical", at=AT
    )
    base.update(kw)
    return AlertFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind,severity,what", KINDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("zone", [None, "Europe/Paris", "America/Sao_Paulo", "Asia/Kolkata"])
def test_every_text_is_one_gsm7_segment(
    kind: str, severity: str, what: str, name: str | None, level: int, zone: str | None
) -> None:
    text = render_alert_text(
        _facts(
            user_name=name,
            kind=kind,
            severity=severity,
            heart_rate_bpm=156,
            stress_level=9,
            time_zone=zone,
            escalation_level=level,
        )
    )
    assert len(text) <= SEGMENT_CHARS
    assert set(text) <= GSM7_BASIC, sorted(set(text) - GSM7_BASIC)
    assert "\n" not in text and "\r" not in text
    assert text.endswith(REPLY_HINT)
    assert what in text
    assert ("HR 156 bpm" in text) != (kind == "high_stress")
    assert ("stress 9/10" in text) == (kind == "high_stress")


def test_text_has_who_what_when_value() -> None:
    text = render_alert_text(_facts(heart_rate_bpm=156, time_zone="Europe/Paris"))
    assert text == (
        "URGENT vitals: Jane Doe - high heart rate, HR 156 bpm, at 03:14 CET 24 Nov. "
        "Reply ACK if you are responding"
    )


def test_high_severity_is_alert_and_escalation_says_so() -> None:
    text = render_alert_text(_facts(severity="high", escalation_level=1))
    assert text.startswith("ALERT vitals: Jane Doe - high heart rate")
    assert "No reply from the first contact." in text
    assert "02:14 UTC 24 Nov" in text  # no zone known: UTC, and it says so


def test_long_name_is_shortened_not_the_message() -> None:
    text = render_alert_text(_facts(user_name="Bartholomew " * 20, escalation_level=1))
    assert len(text) <= SEGMENT_CHARS
    assert "Bartholomew Bartholomew" in text
    assert "HR" not in text or "high heart rate" in text
    assert text.endswith(REPLY_HINT)


def test_unicode_names_are_transliterated_or_dropped() -> None:
    assert to_gsm7("Müller Zoë Łukasz Ćwik") == "Müller Zoe Lukasz Cwik"  # ü is GSM-7
    assert to_gsm7("“Pepe” O’Connor – Sr…") == '"Pepe" O\'Connor - Sr...'
    assert to_gsm7("Jane 🚑 Doe") == "Jane Doe"
    assert to_gsm7("王小明") == ""
    assert render_alert_text(_facts(user_name="王小明", user_id=7)).startswith(
        "URGENT vitals: User 7 - "
    )


def test_local_time_in_contact_zone() -> None:
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time_label(summer, "Europe/Paris") == "14:00 CEST 1 Jul"
    assert local_time_label(summer, "America/Sao_Paulo") == "09:00 UTC-03 1 Jul"
    assert local_time_label(summer, "Not/AZone") == "12:00 UTC 1 Jul"
    assert local_time_label(summer, None) == "12:00 UTC 1 Jul"


def test_confirmation_is_gsm7() -> None:
    for count in (0, 1, 3):
        text = confirmation_text("Zoë 🙂", "Łucja", count)
        assert is_gsm7_basic(text) and len(text) <= SEGMENT_CHARS
    assert "acknowledged" in confirmation_text("Anna", "Jane", 1)
    assert "no open alert" in confirmation_text("Anna", "Jane", 0)
