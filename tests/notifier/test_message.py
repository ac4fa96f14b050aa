from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.gsm7 import GSM7_BASIC, SEGMENT_CHARS, is_gsm7_basic, to_gsm7
from notifier.message import (
    ADVICE,
    MAX_CHARS,
    REPLY_HINT,
    AlertFacts,
    all_clear_text,
    confirmation_text,
    help_text,
    local_time_label,
    render_alert_text,
    responding_text,
    segments,
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
def test_every_text_is_gsm7_and_two_segments_at_most(
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
            tried=("Anna Maria Lopez-Garcia", "Benjamin Okafor") if level else (),
            location=(52.520008, 13.404954, 20.0) if level == 2 else None,
            link="https://vitals.example.org/a/123456" if level == 2 else None,
        )
    )
    assert len(text) <= MAX_CHARS and segments(text) <= 2
    assert set(text) <= GSM7_BASIC, sorted(set(text) - GSM7_BASIC)
    assert "\n" not in text and "\r" not in text
    assert REPLY_HINT in text
    assert what in text
    assert ("HR 156 bpm" in text) != (kind == "high_stress")
    assert ("stress 9/10" in text) == (kind == "high_stress")
    if level == 2:
        assert "52.52001,13.40495 (+-20 m)" in text and text.endswith("/a/123456")


@pytest.mark.parametrize("kind,severity,what", KINDS)
def test_first_text_with_a_usual_name_is_one_segment(kind: str, severity: str, what: str) -> None:
    """Measured: every first text for "Jane Doe" fits one segment, advice included; with
    a location and a link it takes two."""
    text = render_alert_text(_facts(kind=kind, severity=severity, heart_rate_bpm=156))
    assert segments(text) == 1, (len(text), text)
    assert ADVICE[kind] in text
    located = render_alert_text(
        _facts(
            kind=kind,
            severity=severity,
            heart_rate_bpm=156,
            location=(52.520008, 13.404954, 20.0),
            link="https://vitals.example.org/a/42",
        )
    )
    assert segments(located) == 2 and ADVICE[kind] in located


def test_text_has_who_what_when_value_advice() -> None:
    text = render_alert_text(_facts(heart_rate_bpm=156, time_zone="Europe/Paris"))
    assert text == (
        "URGENT vitals: Jane Doe - high heart rate, HR 156 bpm, at 03:14 CET 24 Nov. "
        "Call to check on them. Reply ACK if you are on it"
    )


def test_escalation_names_who_was_tried() -> None:
    text = render_alert_text(_facts(severity="high", escalation_level=1, tried=("Anna",)))
    assert text.startswith("ALERT vitals: Jane Doe - high heart rate")
    assert "No reply yet from Anna." in text
    assert "02:14 UTC 24 Nov" in text  # no zone known: UTC, and it says so


def test_long_name_is_shortened_not_the_message() -> None:
    text = render_alert_text(_facts(user_name="Bartholomew " * 20, escalation_level=1))
    assert len(text) <= MAX_CHARS
    assert "Bartholomew Bartholomew" in text
    assert "high heart rate" in text
    assert REPLY_HINT in text


def test_follow_up_texts_are_one_segment() -> None:
    for text in (
        responding_text("Ren", "Jane Doe", "fall_detected"),
        all_clear_text("Jane Doe", "high_heart_rate", AT, "Europe/Paris"),
        help_text("Jane Doe"),
        responding_text("A" * 90, "Z" * 90, "sos"),
    ):
        assert is_gsm7_basic(text) and len(text) <= SEGMENT_CHARS, text
    assert responding_text("Ren", "Jane Doe", "fall_detected") == (
        "vitals: Ren is responding to the alert for Jane Doe (possible fall). No need to reply."
    )


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
