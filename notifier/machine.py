"""The escalation of one alert as a pure state machine, the shape of the detectors'
``rules_step`` / ``fall_step``::

    state, effects = outbox_step(state, event, policy)

No database, no clock, no network: the service loads the state from the database, feeds
one event, persists the new state and carries out the effects (send a text, place a call,
record an ``alertEvents`` row). "At most one message per recipient, channel, purpose and
round" is a property of this function alone (``tests/notifier/test_machine.py``).

The plan of an alert (:func:`escalation_plan`): text every contact in order, round after
round (``text_rounds``); then call every contact; then call the on-call number, or, with
none configured, hand the alert to the clinicians' queue. Each step waits ``delay_s`` of
its :class:`EscalationPolicy` for an acknowledgement before the next; a message that
cannot reach its recipient (a permanent error, ``undelivered``, a call that was busy or not
answered) makes the next step due at once.

Twilio's status ranking lives here too (:func:`status_advances`): callbacks only move a
message forward, so late or replayed callbacks do no harm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from vocabulary import AlertKind, Severity
from vocabulary import ProviderStatus as TwilioStatus

ONCALL = "oncall"
CLINICIANS = "clinicians"
#: Sliding window of the per-user text budget.
RATE_WINDOW = timedelta(hours=1)


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"
    QUEUE = "queue"  # the clinicians' queue: an event, no message


class Purpose(StrEnum):
    ALERT = "alert"
    RESPONDING = "responding"
    ALL_CLEAR = "all_clear"


def contact_recipient(contact_id: int) -> str:
    return f"contact:{contact_id}"


def contact_id_of(recipient: str) -> int | None:
    """``contact:12`` -> 12; None for ``oncall`` / ``clinicians``."""
    prefix, _, number = recipient.partition(":")
    return int(number) if prefix == "contact" and number.isdigit() else None


@dataclass(frozen=True)
class Step:
    """One step of an alert's escalation: reach ``recipient`` by ``channel`` in ``round``."""

    recipient: str
    channel: Channel
    round: int


@dataclass(frozen=True)
class EscalationPolicy:
    """How one class of alert escalates.

    Attributes
    ----------
    delay_s : float
        Seconds to wait for an acknowledgement after a step before the next one.
    text_rounds : int
        Passes over the contacts by text before anyone is called (1 = each texted once).
    call_contacts : bool
        After the text rounds, call each contact (Twilio voice, "press 1 to acknowledge").
    """

    delay_s: float = 300.0
    text_rounds: int = 2
    call_contacts: bool = True

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError(f"delay_s={self.delay_s}: must be ≥ 0")
        if self.text_rounds < 1:
            raise ValueError(f"text_rounds={self.text_rounds}: must be ≥ 1")


def escalation_plan(
    contact_ids: Sequence[int], policy: EscalationPolicy, *, oncall: bool
) -> tuple[Step, ...]:
    """Every step of an alert's escalation, in order (see the module docstring)."""
    texts = [
        Step(contact_recipient(c), Channel.SMS, r)
        for r in range(1, policy.text_rounds + 1)
        for c in contact_ids
    ]
    calls = (
        [Step(contact_recipient(c), Channel.CALL, 1) for c in contact_ids]
        if policy.call_contacts
        else []
    )
    last = Step(ONCALL, Channel.CALL, 1) if oncall else Step(CLINICIANS, Channel.QUEUE, 1)
    return (*texts, *calls, last)


@dataclass(frozen=True)
class Budget:
    """The user's texts in the last hour (the rate limit's input)."""

    texts_last_hour: int
    oldest_text_at: datetime | None
    limit: int


@dataclass(frozen=True)
class OutboxState:
    """Where one alert's escalation stands.

    ``next_index`` is the plan step to take next; ``next_due`` when (None: nothing is
    scheduled); ``reached`` the recipients an alert message was sent to, in order (they
    get the "responding" and all-clear texts); ``follow_ups`` the (recipient, purpose)
    pairs already texted.
    """

    alert_id: int
    kind: str
    severity: str | None
    plan: tuple[Step, ...]
    next_index: int = 0
    next_due: datetime | None = None
    acknowledged_by: str | None = None
    cleared: bool = False
    ended: bool = False
    reached: tuple[str, ...] = ()
    follow_ups: frozenset[tuple[str, Purpose]] = field(default_factory=frozenset)


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timer:
    """The clock reached ``now``; ``budget`` is the user's text budget (None: no limit)."""

    now: datetime
    budget: Budget | None = None


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message of plan step ``index``."""

    index: int
    now: datetime


@dataclass(frozen=True)
class PermanentFailure:
    """The message of plan step ``index`` cannot reach its recipient (invalid number,
    retries exhausted, ``undelivered``, a call busy or unanswered)."""

    index: int
    now: datetime
    reason: str


@dataclass(frozen=True)
class ProviderStatus:
    """A status callback for plan step ``index``: ``old`` is the status on record."""

    index: int
    old: str
    new: str
    now: datetime


@dataclass(frozen=True)
class Reply:
    """An explicit acknowledgement from ``recipient`` (a reply, or "1" on a call)."""

    recipient: str
    now: datetime


@dataclass(frozen=True)
class AlertCleared:
    now: datetime


Event = Timer | Sent | PermanentFailure | ProviderStatus | Reply | AlertCleared


# -- effects ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendSms:
    recipient: str
    purpose: Purpose
    round: int
    index: int | None = None  # plan step (None: a follow-up)
    tried: tuple[str, ...] = ()  # recipients reached before, named in an escalation text


@dataclass(frozen=True)
class PlaceCall:
    recipient: str
    index: int
    tried: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordEvent:
    event_type: str
    detail: str


@dataclass(frozen=True)
class Schedule:
    at: datetime | None


Effect = SendSms | PlaceCall | RecordEvent | Schedule


# -- Twilio's status ranking ----------------------------------------------------------------
#: Message and call statuses in lifecycle order; terminal statuses share the top rank.
STATUS_RANK: dict[str, int] = {
    TwilioStatus.ACCEPTED: 1,
    TwilioStatus.SCHEDULED: 1,
    TwilioStatus.QUEUED: 2,
    TwilioStatus.INITIATED: 2,
    TwilioStatus.SENDING: 3,
    TwilioStatus.RINGING: 3,
    TwilioStatus.SENT: 4,
    TwilioStatus.IN_PROGRESS: 4,
    TwilioStatus.DELIVERED: 5,
    TwilioStatus.UNDELIVERED: 5,
    TwilioStatus.FAILED: 5,
    TwilioStatus.CANCELED: 5,
    TwilioStatus.COMPLETED: 5,
    TwilioStatus.BUSY: 5,
    TwilioStatus.NO_ANSWER: 5,
    TwilioStatus.READ: 6,
}
#: Statuses saying the recipient was not reached (texts and calls).
NOT_REACHED: frozenset[str] = frozenset(
    {
        TwilioStatus.UNDELIVERED,
        TwilioStatus.FAILED,
        TwilioStatus.CANCELED,
        TwilioStatus.BUSY,
        TwilioStatus.NO_ANSWER,
    }
)


def status_advances(old: str, new: str) -> bool:
    """True when ``new`` is later news than ``old`` (unknown statuses never advance)."""
    rank = STATUS_RANK.get(new)
    return rank is not None and rank > STATUS_RANK.get(old, 0)


# -- the step -----------------------------------------------------------------------------
def rate_limited_until(
    state: OutboxState, step: Step, now: datetime, budget: Budget
) -> datetime | None:
    """When a text held back by the hourly budget may go (None: it may go now). Exempt:
    SOS (a person asking for help, not a detector that can flap), the first text of a
    critical alert, and calls (they come after every text round, rarely)."""
    if step.channel is not Channel.SMS or state.kind == AlertKind.SOS:
        return None
    if state.next_index == 0 and state.severity == Severity.CRITICAL:
        return None
    if budget.texts_last_hour < budget.limit:
        return None
    oldest = budget.oldest_text_at or now
    return max(oldest + RATE_WINDOW, now + timedelta(seconds=1))


def outbox_step(
    state: OutboxState, event: Event, policy: EscalationPolicy
) -> tuple[OutboxState, tuple[Effect, ...]]:
    """Apply one event to one alert's escalation; return the new state and the effects."""
    if isinstance(event, Timer):
        return _on_timer(state, event, policy)
    if isinstance(event, Sent):
        step = state.plan[event.index] if event.index < len(state.plan) else None
        if step is None or step.recipient in state.reached:
            return state, ()
        return replace(state, reached=(*state.reached, step.recipient)), ()
    if isinstance(event, PermanentFailure):
        return _not_reached(state, event.index, event.now)
    if isinstance(event, ProviderStatus):
        if not status_advances(event.old, event.new) or event.new not in NOT_REACHED:
            return state, ()
        return _not_reached(state, event.index, event.now)
    if isinstance(event, Reply):
        return _on_reply(state, event)
    return _on_cleared(state, event)


def _open(state: OutboxState) -> bool:
    return state.acknowledged_by is None and not state.cleared and not state.ended


def _on_timer(
    state: OutboxState, event: Timer, policy: EscalationPolicy
) -> tuple[OutboxState, tuple[Effect, ...]]:
    now = event.now
    if not _open(state) or state.next_due is None or now < state.next_due:
        return state, ()
    if state.next_index >= len(state.plan):
        detail = f"{len(state.reached)} recipients reached; none acknowledged"
        ended = replace(state, ended=True, next_due=None)
        return ended, (RecordEvent("escalation_ended", detail), Schedule(None))
    step = state.plan[state.next_index]
    if event.budget is not None:
        until = rate_limited_until(state, step, now, event.budget)
        if until is not None:
            detail = (
                f"{event.budget.texts_last_hour} texts in the last hour "
                f"(limit {event.budget.limit}); deferred to {until.isoformat()}"
            )
            return replace(state, next_due=until), (
                RecordEvent("rate_limited", detail),
                Schedule(until),
            )
    index = state.next_index
    due = now + timedelta(seconds=policy.delay_s)
    effects: list[Effect] = []
    tried = state.reached
    if index > 0:
        effects.append(RecordEvent("escalated", f"{_describe(step)} (step {index + 1})"))
    if step.channel is Channel.SMS:
        effects.append(SendSms(step.recipient, Purpose.ALERT, step.round, index, tried))
    elif step.channel is Channel.CALL:
        effects.append(PlaceCall(step.recipient, index, tried))
    else:
        effects.append(
            RecordEvent("escalated_to_clinicians", "no acknowledgement; on the clinicians' queue")
        )
    effects.append(Schedule(due))
    return replace(state, next_index=index + 1, next_due=due), tuple(effects)


def _describe(step: Step) -> str:
    verb = "call" if step.channel is Channel.CALL else "text"
    if step.channel is Channel.QUEUE:
        return "clinicians' queue"
    return f"{verb} {step.recipient} round {step.round}"


def _not_reached(
    state: OutboxState, index: int, now: datetime
) -> tuple[OutboxState, tuple[Effect, ...]]:
    """The message of step ``index`` will not reach anyone: if it is the latest step, the
    next one is due now."""
    if not _open(state) or index != state.next_index - 1:
        return state, ()
    return replace(state, next_due=now), (Schedule(now),)


def _on_reply(state: OutboxState, event: Reply) -> tuple[OutboxState, tuple[Effect, ...]]:
    if state.acknowledged_by is not None:
        return state, ()
    acked = replace(state, acknowledged_by=event.recipient, next_due=None)
    effects: list[Effect] = [Schedule(None)]
    follow_ups = set(state.follow_ups)
    for other in state.reached:
        key = (other, Purpose.RESPONDING)
        if other != event.recipient and other.startswith("contact:") and key not in follow_ups:
            follow_ups.add(key)
            effects.append(SendSms(other, Purpose.RESPONDING, 1))
    return replace(acked, follow_ups=frozenset(follow_ups)), tuple(effects)


def _on_cleared(state: OutboxState, event: AlertCleared) -> tuple[OutboxState, tuple[Effect, ...]]:
    if state.cleared:
        return state, ()
    cleared = replace(state, cleared=True, next_due=None)
    effects: list[Effect] = [Schedule(None)]
    follow_ups = set(state.follow_ups)
    for recipient in state.reached:
        key = (recipient, Purpose.ALL_CLEAR)
        if recipient.startswith("contact:") and key not in follow_ups:
            follow_ups.add(key)
            effects.append(SendSms(recipient, Purpose.ALL_CLEAR, 1))
    return replace(cleared, follow_ups=frozenset(follow_ups)), tuple(effects)
