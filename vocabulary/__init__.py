"""The project's vocabulary: every domain word that is stored, sent or compared, once.

Standard library only, so that every package may import it (``docs/architecture.md``).
Each enum's values are the exact strings stored in the database, written in payloads and
trace files, or sent by the SMS provider: a member compares equal to its string, and a
string read back from a row compares equal to the member.

>>> AlertKind.SOS == "sos" and "critical" == Severity.CRITICAL
True
>>> [kind.value for kind in APP_ALERT_KINDS]
['fall_detected', 'arrhythmia', 'high_stress', 'low_heart_rate', 'high_heart_rate']
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "APP_ALERT_KINDS",
    "SEVERITY_RANK",
    "AlertKind",
    "DeadLetterReason",
    "DeviceEvent",
    "OutboxStatus",
    "PayloadKind",
    "ProviderStatus",
    "ReadingType",
    "Severity",
]


class AlertKind(StrEnum):
    """What an alert is about: ``healthAlerts.alertType``, plus ``sos``.

    The wellness app's ``alertType`` ENUM has no value for an SOS press, so the
    ``healthAlerts`` row of an SOS has ``alertType`` NULL and ``alertStates.kind`` says
    ``sos`` (``storage/models/own.py``).
    """

    FALL_DETECTED = "fall_detected"
    ARRHYTHMIA = "arrhythmia"
    HIGH_STRESS = "high_stress"
    LOW_HEART_RATE = "low_heart_rate"
    HIGH_HEART_RATE = "high_heart_rate"
    SOS = "sos"


#: The kinds the app's ``healthAlerts.alertType`` ENUM holds, in its order (all but SOS).
APP_ALERT_KINDS: tuple[AlertKind, ...] = tuple(k for k in AlertKind if k is not AlertKind.SOS)


class Severity(StrEnum):
    """``healthAlerts.severity``, least to most severe."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: Rank of each severity, 0 = least severe.
SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(Severity)}


class ReadingType(StrEnum):
    """``healthReadings.readingType``: automatic windows, a reading the user asked for
    (``manual`` event), the window of an SOS press (``emergency``)."""

    MANUAL = "manual"
    AUTOMATIC = "automatic"
    EMERGENCY = "emergency"


class PayloadKind(StrEnum):
    """The ``kind`` of an MQTT payload / trace line, and the last level of its topic."""

    RR = "rr"
    HR = "hr"
    PPG = "ppg"
    ECG = "ecg"
    ACCEL = "accel"
    EVENT = "event"
    LOC = "loc"


class DeviceEvent(StrEnum):
    """The ``event`` of an ``event`` payload."""

    SOS = "sos"  # raise a critical alert now
    CANCEL = "cancel"  # "I'm OK": cancels a pending fall alert inside its grace period
    MANUAL = "manual"  # a reading the user asked for


class DeadLetterReason(StrEnum):
    """``deadLetters.reason``: why an input was refused (and the metrics' ``reason`` label).

    ``duplicate`` is no dead letter (a redelivery is ignored and counted) but shares the
    codes of the device-numbering check.
    """

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    WRONG_TYPE = "wrong_type"
    WRONG_VERSION = "wrong_version"
    NON_FINITE = "non_finite"
    IMPOSSIBLE_VALUE = "impossible_value"
    BAD_TOPIC = "bad_topic"
    TOPIC_MISMATCH = "topic_mismatch"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    DEVICE_USER_MISMATCH = "device_user_mismatch"
    TS_AHEAD = "ts_ahead"
    TS_TOO_OLD = "ts_too_old"
    SEQ_REGRESSION = "seq_regression"
    DUPLICATE = "duplicate"
    LATE = "late"
    DB_REFUSED = "db_refused"
    OVER_QUOTA = "over_quota"


class OutboxStatus(StrEnum):
    """The statuses *we* write into ``smsNotifications.status``.

    The same column then takes the provider's statuses (:class:`ProviderStatus`) once the
    provider has the message. ``sending`` and ``failed`` are spelled as Twilio spells two
    of its own; ours mean "claimed, API call under way" and "given up".
    """

    CLAIMED = "sending"  # the row is committed before the provider is called
    RETRYING = "retrying"  # a transient error; ``nextAttemptAt`` says when
    UNCONFIRMED = "unconfirmed"  # the call may have reached the provider: look it up first
    UNKNOWN = "unknown"  # could not be confirmed and was not resent
    CANCELLED = "cancelled"  # the alert was acknowledged or cleared before a retry
    FAILED = "failed"  # given up (then the next contact is due)


class ProviderStatus(StrEnum):
    """Twilio's ``MessageStatus`` and ``CallStatus`` values (Twilio docs, "Message
    resource" and "Call resource" status values)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    READ = "read"
    RECEIVED = "received"
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
