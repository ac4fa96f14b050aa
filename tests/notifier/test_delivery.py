"""One message's retry decisions, pure (no database, clock or network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.delivery import (
    AdoptFound,
    GiveUp,
    LookUp,
    LookupAnswered,
    Message,
    Orphaned,
    Resend,
    RetryBounds,
    RetryUnconfirmed,
    ScheduleRetry,
    SendFailed,
    message_step,
)

T0 = datetime(2026, 11, 24, 2, 50, tzinfo=UTC)
BOUNDS = RetryBounds(max_attempts=3, retry_for_s=60.0, backoff_base_s=2.0, backoff_cap_s=8.0)


def test_transient_errors_back_off_then_give_up_after_attempts_and_time() -> None:
    message = Message(attempts=1, claimed_at=T0)
    _, effects = message_step(message, SendFailed(T0, "503", True, jitter=0.5), BOUNDS)
    assert effects == (ScheduleRetry(T0 + timedelta(seconds=1), "retrying", "503"),)
    third = Message(attempts=3, claimed_at=T0)
    _, soon = message_step(third, SendFailed(T0 + timedelta(seconds=30), "503", True), BOUNDS)
    assert isinstance(soon[0], ScheduleRetry)  # attempts used up, but not 60 s yet
    assert soon[0].at == T0 + timedelta(seconds=38)  # capped at 8 s
    _, late = message_step(third, SendFailed(T0 + timedelta(seconds=61), "503", True), BOUNDS)
    assert late == (GiveUp("failed", "gave up after 3 attempts in 61 s: 503"),)


def test_a_timeout_is_unconfirmed_and_looked_up_before_any_resend() -> None:
    message = Message(attempts=1, claimed_at=T0)
    _, effects = message_step(message, SendFailed(T0, "timeout", True, True, 0.0), BOUNDS)
    assert effects == (ScheduleRetry(T0, "unconfirmed", "timeout"),)
    assert message_step(message, RetryUnconfirmed(T0, True), BOUNDS)[1] == (LookUp(),)
    assert message_step(message, LookupAnswered(T0, True), BOUNDS)[1] == (AdoptFound(),)
    assert message_step(message, LookupAnswered(T0, False), BOUNDS)[1] == (Resend(),)
    failed_lookup = message_step(message, LookupAnswered(T0, False, "502", 0.0), BOUNDS)[1]
    assert failed_lookup == (ScheduleRetry(T0, "unconfirmed", "lookup failed: 502"),)


def test_crash_without_lookup_is_at_most_once_unless_chosen() -> None:
    message = Message(attempts=1, claimed_at=T0)
    orphan = message_step(message, Orphaned(T0), BOUNDS)[1]
    assert orphan == (
        ScheduleRetry(T0, "unconfirmed", "process stopped during the API call; outcome unknown"),
    )
    (give_up,) = message_step(message, RetryUnconfirmed(T0, False), BOUNDS)[1]
    assert isinstance(give_up, GiveUp) and give_up.status == "unknown"
    at_least_once = RetryBounds(resend_unconfirmed=True)
    assert message_step(message, RetryUnconfirmed(T0, False), at_least_once)[1] == (Resend(),)


def test_permanent_error_gives_up_at_once() -> None:
    message = Message(attempts=1, claimed_at=T0)
    _, effects = message_step(message, SendFailed(T0, "21211", False), BOUNDS)
    assert effects == (GiveUp("failed", "21211"),)
