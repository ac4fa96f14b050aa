"""The text a contact receives: who, what, when, the key value and how to answer, in one
GSM-7 segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.gsm7 import SEGMENT_CHARS, is_gsm7_basic, to_gsm7
from vocabulary import AlertKind, Severity

REPLY_HINT = "Reply ACK if you are on it"
#: A text may take two concatenated GSM-7 segments at most (153 characters each, the rest
#: of the 160 holds the concatenation header: 3GPP TS 23.040 section 9.2.3.24.1).
MAX_CHARS = 2 * 153
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WHAT: dict[str, str] = {
    AlertKind.FALL_DETECTED: "possible fall",
    AlertKind.ARRHYTHMIA: "irregular heart rhythm",
    AlertKind.HIGH_HEART_RATE: "high heart rate",
    AlertKind.LOW_HEART_RATE: "low heart rate",
    AlertKind.HIGH_STRESS: "high stress",
    AlertKind.SOS: "SOS pressed",
}
_CALL_FIRST = "Call them; if no answer, call emergency services."
#: What a caregiver should do, per alert type.
ADVICE: dict[str, str] = {
    AlertKind.FALL_DETECTED: _CALL_FIRST,
    AlertKind.SOS: _CALL_FIRST,
    AlertKind.ARRHYTHMIA: "Call to check on them.",
    AlertKind.HIGH_HEART_RATE: "Call to check on them.",
    AlertKind.LOW_HEART_RATE: "Call to check on them.",
    AlertKind.HIGH_STRESS: "Check in with them.",
}
#: Longest user name shown before the text is shortened to fit (characters).
MAX_NAME_CHARS = 40


@dataclass(frozen=True)
class AlertFacts:
    """What the text says about one alert.

    ``at`` is the alert's time (aware); ``time_zone`` the contact's IANA zone or None
    (then UTC); ``escalation_level`` 0 for the first contact, 1+ for escalations;
    ``tried`` the names of the people messaged before (escalations name them);
    ``location`` the wearer's latest fix (lat, lon, accuracy m) if the phone shares it;
    ``link`` the alert page when ``VITALS_PUBLIC_BASE_URL`` is set. ``heart_rate_bpm`` /
    ``stress_level`` are the values at alert time, frozen in the alert.
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
    tried: tuple[str, ...] = ()
    location: tuple[float, float, float | None] | None = None
    link: str | None = None


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
    if facts.kind == AlertKind.HIGH_STRESS and facts.stress_level is not None:
        return f"stress {facts.stress_level}/10"
    if facts.heart_rate_bpm is not None:
        return f"HR {facts.heart_rate_bpm} bpm"
    return ""


def _display_name(facts: AlertFacts) -> str:
    name = to_gsm7(facts.user_name or "").replace("\r", " ").replace("\n", " ").strip()
    return name or f"User {facts.user_id}"


def location_label(location: tuple[float, float, float | None]) -> str:
    """``Last location 52.52001,13.40495 (+-20 m).`` (5 decimals: about 1 m)."""
    lat, lon, acc_m = location
    accuracy = f" (+-{acc_m:.0f} m)" if acc_m is not None else ""
    return f"Last location {lat:.5f},{lon:.5f}{accuracy}."


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(to_gsm7(n).strip() or "a contact" for n in names)


def render_alert_text(facts: AlertFacts) -> str:
    """Render the SMS for one alert in GSM 03.38 basic characters: one segment (160
    characters) when it fits, two (306) at most.

    Who, what with the value at alert time, when (the contact's zone), what to do, where
    (when known), who was tried before (escalations), how to answer, the link. Over two
    segments, the names of those tried go first, then the advice; the user's name is
    shortened (ending in ``.``) last.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> text = render_alert_text(AlertFacts(7, "Jane Doe", "high_heart_rate", "critical",
    ...     datetime(2026, 11, 24, 2, 14, tzinfo=UTC), heart_rate_bpm=156,
    ...     time_zone="Europe/Paris"))
    >>> text[:61]
    'URGENT vitals: Jane Doe - high heart rate, HR 156 bpm, at 03:'
    >>> text[61:]
    '14 CET 24 Nov. Call to check on them. Reply ACK if you are on it'
    """
    level = (
        "URGENT" if facts.severity == Severity.CRITICAL or facts.kind == AlertKind.SOS else "ALERT"
    )
    what = _WHAT.get(facts.kind, to_gsm7(facts.kind.replace("_", " ")))
    value = _key_value(facts)
    detail = f"{what}, {value}" if value else what
    when = local_time_label(facts.at, facts.time_zone)
    advice = ADVICE.get(facts.kind, "Call to check on them.")
    where = location_label(facts.location) if facts.location is not None else ""
    tried = f"No reply yet from {_names(facts.tried)}." if facts.tried else ""
    if facts.escalation_level > 0 and not facts.tried:
        tried = "No reply from the first contact."
    link = to_gsm7(facts.link or "")
    full_name = _display_name(facts)
    optional = [tried, advice]  # dropped in this order when even two segments overflow
    while True:
        parts = [f"- {detail}, at {when}.", advice, where, tried, REPLY_HINT, link]
        tail = " ".join(p for p in parts if p)
        limit = (
            SEGMENT_CHARS
            if len(f"{level} vitals: {full_name[:MAX_NAME_CHARS]} {tail}") <= SEGMENT_CHARS
            else MAX_CHARS
        )
        room = limit - len(f"{level} vitals:  {tail}")
        name = full_name[:MAX_NAME_CHARS]
        if len(name) > room:
            name = full_name[: max(room - 1, 1)] + "."
        text = f"{level} vitals: {name} {tail}"
        if len(text) <= limit or not optional:
            break
        dropped = optional.pop(0)
        if dropped == tried:
            tried = ""
        else:
            advice = ""
    text = text[:MAX_CHARS]
    assert is_gsm7_basic(text), text  # every part went through to_gsm7 or is ASCII
    return text


def segments(text: str) -> int:
    """GSM-7 segments a text takes: 1 up to 160 characters, else 153 per segment."""
    return 1 if len(text) <= SEGMENT_CHARS else -(-len(text) // 153)


def voice_text(facts: AlertFacts) -> str:
    """What a call says (Twilio ``<Say>``), then "press 1"; ASCII, ≤ 320 characters."""
    what = _WHAT.get(facts.kind, facts.kind.replace("_", " "))
    value = _key_value(facts).replace("HR", "heart rate").replace("bpm", "beats per minute")
    detail = f"{what}, {value}" if value else what
    advice = ADVICE.get(facts.kind, "Please check on them.")
    when = local_time_label(facts.at, facts.time_zone)
    name = _display_name(facts)[:MAX_NAME_CHARS]
    text = (
        f"This is the vitals health alert service. {name}: {detail}, at {when}. "
        f"{advice} Press 1 to acknowledge that you are responding."
    )
    return to_gsm7(text)[:320]


def responding_text(responder: str | None, user_name: str | None, kind: str) -> str:
    """To the other contacts texted, when one acknowledged (GSM-7, one segment)."""
    who = to_gsm7(responder or "").strip()[:MAX_NAME_CHARS] or "Another contact"
    user = to_gsm7(user_name or "").strip()[:MAX_NAME_CHARS] or "the user"
    what = _WHAT.get(kind, kind.replace("_", " "))
    return f"vitals: {who} is responding to the alert for {user} ({what}). No need to reply."[
        :SEGMENT_CHARS
    ]


def all_clear_text(user_name: str | None, kind: str, at: datetime, time_zone: str | None) -> str:
    """To the contacts texted, when the alert clears (GSM-7, one segment)."""
    user = to_gsm7(user_name or "").strip()[:MAX_NAME_CHARS] or "the user"
    what = _WHAT.get(kind, kind.replace("_", " "))
    when = local_time_label(at, time_zone)
    return f"vitals all-clear: the {what} alert for {user} ({when}) has cleared. No action needed."[
        :SEGMENT_CHARS
    ]


def help_text(user_name: str | None) -> str:
    """The one-line answer to a reply that is not an acknowledgement."""
    user = to_gsm7(user_name or "").strip()[:MAX_NAME_CHARS] or "the user"
    return f"Not understood. To acknowledge the alert for {user}, reply ACK (or 1)."[:SEGMENT_CHARS]


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
