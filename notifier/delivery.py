"""One message's delivery as a pure step: what follows a failed API call, a process that
died during one, or a lookup of a send whose answer was lost::

    message, effects = message_step(message, event, bounds)

The escalation of the alert is :mod:`notifier.machine`; this is the other half of the
notifier's decisions, per message (``smsNotifications`` row). No database, clock, random
source or network: the jitter draw comes in the event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from vocabulary import OutboxStatus

RETRYING = OutboxStatus.RETRYING
UNCONFIRMED = OutboxStatus.UNCONFIRMED
FAILED = OutboxStatus.FAILED
UNKNOWN = OutboxStatus.UNKNOWN


@dataclass(frozen=True)
class RetryBounds:
    """How long and how often a message is retried (see ``NotificationPolicy``)."""

    max_attempts: int = 5
    retry_for_s: float = 900.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    resend_unconfirmed: bool = False

    def retry_delay_s(self, attempt: int, jitter: float) -> float:
        """Full-jitter exponential backoff: ``jitter`` (uniform in [0, 1)) times
        min(cap, base·2^(attempt-1)) (M. Brooker, "Exponential Backoff And Jitter", AWS
        Architecture Blog, 2015)."""
        return jitter * min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** (attempt - 1))


@dataclass(frozen=True)
class Message:
    """What the decisions need of one message row."""

    attempts: int
    claimed_at: datetime
    status: str = OutboxStatus.CLAIMED


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendFailed:
    """The API call failed: ``transient`` (429, 5xx, network) or not; ``maybe_sent`` when
    the request may have created the message (a read timeout)."""

    now: datetime
    error: str
    transient: bool
    maybe_sent: bool = False
    jitter: float = 1.0


@dataclass(frozen=True)
class Orphaned:
    """Found in ``sending`` at start-up: the process died during the API call."""

    now: datetime


@dataclass(frozen=True)
class RetryUnconfirmed:
    """An unconfirmed message is due; ``can_look_up`` whether the provider can be asked."""

    now: datetime
    can_look_up: bool


@dataclass(frozen=True)
class LookupAnswered:
    """The provider was asked: ``found`` or not, or the lookup itself failed (``error``)."""

    now: datetime
    found: bool
    error: str | None = None
    jitter: float = 1.0


MessageEvent = SendFailed | Orphaned | RetryUnconfirmed | LookupAnswered


# -- effects ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleRetry:
    at: datetime
    status: str  # retrying, or unconfirmed (look it up before resending)
    error: str


@dataclass(frozen=True)
class GiveUp:
    """Record the message as ``status`` (failed / unknown) and move the escalation on."""

    status: str
    error: str


@dataclass(frozen=True)
class LookUp:
    pass


@dataclass(frozen=True)
class Resend:
    pass


@dataclass(frozen=True)
class AdoptFound:
    """The provider has the message: record it as sent, send nothing."""


MessageEffect = ScheduleRetry | GiveUp | LookUp | Resend | AdoptFound


def message_step(
    message: Message, event: MessageEvent, bounds: RetryBounds
) -> tuple[Message, tuple[MessageEffect, ...]]:
    """Decide what follows ``event`` for one message."""
    if isinstance(event, Orphaned):
        error = "process stopped during the API call; outcome unknown"
        return replace(message, status=UNCONFIRMED), (ScheduleRetry(event.now, UNCONFIRMED, error),)
    if isinstance(event, RetryUnconfirmed):
        if event.can_look_up:
            return message, (LookUp(),)
        if bounds.resend_unconfirmed:
            return message, (Resend(),)
        error = "outcome unknown and the provider cannot be asked; not resent"
        return replace(message, status=UNKNOWN), (GiveUp(UNKNOWN, error),)
    if isinstance(event, LookupAnswered):
        if event.error is not None:
            counted = replace(message, attempts=message.attempts + 1)
            failed = SendFailed(
                event.now, f"lookup failed: {event.error}", True, True, event.jitter
            )
            return message_step(counted, failed, bounds)
        return message, ((AdoptFound(),) if event.found else (Resend(),))
    if not event.transient:
        return replace(message, status=FAILED), (GiveUp(FAILED, event.error),)
    retried_s = (event.now - message.claimed_at).total_seconds()
    if message.attempts >= bounds.max_attempts and retried_s >= bounds.retry_for_s:
        error = f"gave up after {message.attempts} attempts in {retried_s:.0f} s: {event.error}"
        return replace(message, status=FAILED), (GiveUp(FAILED, error),)
    delay_s = bounds.retry_delay_s(message.attempts, event.jitter)
    status = UNCONFIRMED if event.maybe_sent else RETRYING
    at = event.now + timedelta(seconds=delay_s)
    return replace(message, status=status), (ScheduleRetry(at, status, event.error),)
