"""The text a contact receives: who, what, when, the key value and how to answer, in one
GSM-7 segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.gsm7 import SEGMENT_CHARS, is_gsm7_basic, to_gsm7
from notifier.policy import HIGH_STRESS, SOS

REPLY_HINT = "Reply ACK if you are responding"
ESCALATION_NOTE = "No reply from the first contact."
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WHAT = {
    "fall_detected": "possible fall",
    "arrhythmia": "irregular heart rhythm",
    "high_heart_rate": "high heart rate",
    "low_heart_rate": "low heart rate",
    HIGH_STRESS: "high stress",
    SOS: "SOS pressed",
}
#: Longest user name shown before the text is shortened to fit (characters).
MAX_NAME_CHARS = 40


@dataclass(frozen=True)
class AlertFacts:
    """What the text says about one alert.

    ``at`` is the alert's time (aware); ``time_zone`` the contact's IANA zone or None
    (then UTC); ``escalation_level`` 0 for the first contact, 1+ for escalations.
    """

    user_id: int
    user_name: str | None
    kind: str
    severity: str | None
    at: datetime
    heart_rate_bpm: int | None = None
    stress_level: int | None = None
    time_zone: str | None = None
    escalation_level: int = 0


def local_time_label(at: datetime, time_zone: str | None) -> str:
    """``03:14 CET 24 Nov`` in the contact's zone, or ``02:14 UTC 24 Nov`` without one.

    A zone without an abbreviation (e.g. America/Sao_Paulo, ``-03``) is shown as
    ``UTC-03``. Month names are fixed English, independent of the process locale.
    """
    zone: ZoneInfo | None = None
    if time_zone:
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    local = at.astimezone(zone or UTC)
    label = "UTC" if zone is None else (local.tzname() or "UTC")
    if label[:1] in "+-":
        label = "UTC" + label
    return f"{local:%H:%M} {label} {local.day} {_MONTHS[local.month - 1]}"


def _key_value(facts: AlertFacts) -> str:
    if facts.kind == HIGH_STRESS and facts.stress_level is not None:
        return f"stress {facts.stress_level}/10"
    if facts.heart_rate_bpm is not None:
        return f"HR {facts.heart_rate_bpm} bpm"
    return ""


def _display_name(facts: AlertFacts) -> str:
    name = to_gsm7(facts.user_name or "").replace("\r", " ").replace("\n", " ").strip()
    return name or f"User {facts.user_id}"


def render_alert_text(facts: AlertFacts) -> str:
    """Render the SMS for one alert: GSM 03.38 basic characters only, ≤ 160 characters.

    The user's name is transliterated to GSM-7 and shortened (ending in ``.``) when the
    whole text would not fit one segment; the escalation note is the first thing
    dropped if even a one-letter name does not fit.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> text = render_alert_text(AlertFacts(7, "Jane Doe", "high_heart_rate", "critical",
    ...     datetime(2026, 11, 24, 2, 14, tzinfo=UTC), heart_rate_bpm=156,
    ...     time_zone="Europe/Paris"))
    >>> text[:61]
    'URGENT vitals: Jane Doe - high heart rate, HR 156 bpm, at 03:'
    >>> text[61:]
    '14 CET 24 Nov. Reply ACK if you are responding'
    """
    level = "URGENT" if facts.severity == "critical" or facts.kind == SOS else "ALERT"
    what = _WHAT.get(facts.kind, to_gsm7(facts.kind.replace("_", " ")))
    value = _key_value(facts)
    detail = f"{what}, {value}" if value else what
    when = local_time_label(facts.at, facts.time_zone)
    notes = [ESCALATION_NOTE] if facts.escalation_level > 0 else []
    full_name = _display_name(facts)
    while True:
        tail = " ".join([f"- {detail}, at {when}.", *notes, REPLY_HINT])
        room = SEGMENT_CHARS - len(f"{level} vitals:  {tail}")
        name = full_name[:MAX_NAME_CHARS]
        if len(name) > room:
            name = full_name[: max(room - 1, 1)] + "."
        text = f"{level} vitals: {name} {tail}"
        if len(text) <= SEGMENT_CHARS or not notes:
            break
        notes = []
    text = text[:SEGMENT_CHARS]
    assert is_gsm7_basic(text), text  # every part went through to_gsm7 or is ASCII
    return text


def confirmation_text(contact_name: str | None, user_name: str | None, count: int) -> str:
    """The reply to a contact's ACK (GSM-7, one segment)."""
    who = to_gsm7(user_name or "the user").strip()[:MAX_NAME_CHARS] or "the user"
    thanks = to_gsm7(contact_name or "").strip()[:MAX_NAME_CHARS]
    greeting = f"Thank you, {thanks}." if thanks else "Thank you."
    if count == 0:
        return f"{greeting} There is no open alert for {who} to acknowledge."[:SEGMENT_CHARS]
    noun = "alert" if count == 1 else f"{count} alerts"
    return f"{greeting} {noun.capitalize()} for {who} acknowledged; others will not be texted."[
        :SEGMENT_CHARS
    ]
