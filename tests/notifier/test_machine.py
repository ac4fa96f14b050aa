"""The escalation state machine alone: no database, no network, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.machine import (
    AlertCleared,
    Budget,
    Channel,
    EscalationPolicy,
    Event,
    OutboxState,
    PermanentFailure,
    PlaceCall,
    ProviderStatus,
    Purpose,
    RecordEvent,
    Reply,
    SendSms,
    Sent,
    Timer,
    escalation_plan,
    outbox_step,
    status_advances,
)

T0 = datetime(2026, 11, 24, 2, 50, tzinfo=UTC)
POLICY = EscalationPolicy(delay_s=120.0, text_rounds=2, call_contacts=True)


def start(contacts: list[int], *, oncall: bool = True, kind: str = "fall_detected") -> OutboxState:
    plan = escalation_plan(contacts, POLICY, oncall=oncall)
    return OutboxState(alert_id=1, kind=kind, severity="critical", plan=plan, next_due=T0)


def run(state: OutboxState, events: list[Event]) -> tuple[OutboxState, list[object]]:
    """Feed events; a send is answered with Sent at once (what the service does)."""
    out: list[object] = []
    for event in events:
        state, effects = outbox_step(state, event, POLICY)
        out.extend(effects)
        for effect in effects:
            if (
                isinstance(effect, SendSms | PlaceCall)
                and getattr(effect, "index", None) is not None
            ):
                index = effect.index
                assert index is not None
                state, _ = outbox_step(state, Sent(index, event_time(event)), POLICY)
    return state, out


def event_time(event: Event) -> datetime:
    return event.now


def test_nobody_answers_texts_twice_then_calls_then_oncall() -> None:
    state = start([11, 12])
    state, effects = run(state, [Timer(T0 + timedelta(seconds=120 * k)) for k in range(9)])
    sends = [(e.recipient, e.round) for e in effects if isinstance(e, SendSms)]
    calls = [e.recipient for e in effects if isinstance(e, PlaceCall)]
    assert sends == [("contact:11", 1), ("contact:12", 1), ("contact:11", 2), ("contact:12", 2)]
    assert calls == ["contact:11", "contact:12", "oncall"]
    assert state.ended and isinstance(effects[-2], RecordEvent)
    assert effects[-2].event_type == "escalation_ended"  # type: ignore[union-attr]


def test_an_ack_tells_the_others_and_stops() -> None:
    state = start([11, 12, 13])
    timers: list[Event] = [Timer(T0 + timedelta(seconds=120 * k)) for k in range(3)]
    state, _ = run(state, timers)
    state, effects = run(state, [Reply("contact:12", T0 + timedelta(seconds=300))])
    assert [(e.recipient, e.purpose) for e in effects if isinstance(e, SendSms)] == [
        ("contact:11", Purpose.RESPONDING),
        ("contact:13", Purpose.RESPONDING),
    ]
    state, later = run(state, [Timer(T0 + timedelta(hours=5))])
    assert later == []
    state, cleared = run(state, [AlertCleared(T0 + timedelta(hours=6))])
    assert sorted(e.recipient for e in cleared if isinstance(e, SendSms)) == [
        "contact:11",
        "contact:12",
        "contact:13",
    ]


def test_not_reached_makes_the_next_step_due_now() -> None:
    state = start([11, 12])
    state, _ = run(state, [Timer(T0)])
    now = T0 + timedelta(seconds=5)
    state, _ = outbox_step(state, ProviderStatus(0, "queued", "undelivered", now), POLICY)
    assert state.next_due == now
    older = outbox_step(state, ProviderStatus(0, "delivered", "sent", now), POLICY)
    assert older == (state, ())  # late news changes nothing


@pytest.mark.parametrize(
    "old,new,advances",
    [
        ("queued", "sent", True),
        ("sent", "queued", False),
        ("delivered", "delivered", False),
        ("queued", "no-answer", True),
        ("ringing", "in-progress", True),
        ("completed", "ringing", False),
        ("sent", "bogus", False),
    ],
)
def test_status_ranking(old: str, new: str, advances: bool) -> None:
    assert status_advances(old, new) is advances


def test_rate_limit_defers_never_drops() -> None:
    state = start([11, 12], kind="high_heart_rate")
    state = OutboxState(**{**state.__dict__, "severity": "high"})
    spent = Budget(texts_last_hour=10, oldest_text_at=T0 - timedelta(minutes=30), limit=10)
    state, effects = outbox_step(state, Timer(T0, spent), POLICY)
    assert [e for e in effects if isinstance(e, SendSms)] == []
    assert state.next_due == T0 + timedelta(minutes=30) and state.next_index == 0


# -- the property -------------------------------------------------------------------------
events_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("timer"), st.integers(0, 400), st.integers(0, 12)),
        st.tuples(st.just("fail"), st.integers(0, 400), st.integers(0, 12)),
        st.tuples(st.just("status"), st.integers(0, 400), st.integers(0, 12)),
        st.tuples(st.just("reply"), st.integers(0, 400), st.integers(0, 4)),
        st.tuples(st.just("clear"), st.integers(0, 400), st.integers(0, 0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    contacts=st.lists(st.integers(1, 5), unique=True, max_size=4),
    oncall=st.booleans(),
    script=events_strategy,
)
def test_at_most_one_message_per_recipient_channel_purpose_and_round(
    contacts: list[int], oncall: bool, script: list[tuple[str, int, int]]
) -> None:
    """Whatever happens (timers at any time, failures, statuses, replies from anyone,
    the alert clearing), nobody gets two messages of one kind in one round, steps go in
    plan order, and no alert message goes out after an acknowledgement or clearing."""
    state = start(contacts, oncall=oncall)
    now = T0
    seen: set[tuple[str, str, str, int]] = set()
    taken: list[int] = []
    closed = False
    for kind, advance_s, n in script:
        now += timedelta(seconds=advance_s)
        event: Event
        if kind == "timer":
            event = Timer(now, Budget(n, now - timedelta(minutes=30), 10))
        elif kind == "fail":
            event = PermanentFailure(n, now, "test")
        elif kind == "status":
            event = ProviderStatus(n, "sent", "undelivered", now)
        elif kind == "reply":
            event = Reply(f"contact:{n}", now)
        else:
            event = AlertCleared(now)
        due_before = state.next_due
        state, effects = run(state, [event])
        for effect in effects:
            if isinstance(effect, SendSms):
                key = (effect.recipient, "sms", str(effect.purpose), effect.round)
            elif isinstance(effect, PlaceCall):
                key = (effect.recipient, "call", "alert", 1)
            else:
                continue
            assert key not in seen, key
            seen.add(key)
            if key[2] == "alert":
                assert not closed, "alert message after acknowledgement or clearing"
                assert isinstance(event, Timer) and due_before is not None
                assert event.now >= due_before
                index = effect.index
                assert index is not None
                taken.append(index)
        if kind in ("reply", "clear"):
            closed = True
    assert taken == sorted(taken) and len(set(taken)) == len(taken)
    assert all(state.plan[i].channel is not Channel.QUEUE for i in taken)
