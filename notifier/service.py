"""The notification loop: first texts, retries, crash recovery and escalation, all found
by querying the database (an outbox), so nothing is lost when the process dies.

Exactly once per contact per alert
----------------------------------
The ``smsNotifications`` row (unique alertId+contactId) is committed in status
``sending`` *before* the API call, and every retry commits ``sending`` again before its
call. A row found in ``sending`` without a provider SID at the start of
:meth:`NotificationService.process_due` belongs to a process that died during the call
(one notifier runs per database; the lock below serialises calls inside it). Such a
row, like a call whose answer timed out, becomes ``unconfirmed``: before anything is
resent the provider is asked whether the text exists (Twilio: list messages to that
number with that body). Found: the SID is adopted, nothing is sent. Not found: the call
never created a text, so it is sent. If the provider cannot be asked, the default is
**at most once**: the row becomes ``unknown`` and the *next* contact is texted instead
(``NotificationPolicy.resend_unconfirmed=True`` chooses at-least-once instead).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifier.compose import acknowledger, alert_facts, sms_body
from notifier.delivery import (
    GiveUp,
    LookUp,
    LookupAnswered,
    Message,
    MessageEffect,
    MessageEvent,
    Orphaned,
    Resend,
    RetryUnconfirmed,
    ScheduleRetry,
    SendFailed,
    message_step,
)
from notifier.errors import PermanentSendError, SendError, TransientSendError
from notifier.machine import (
    ONCALL,
    RATE_WINDOW,
    AlertCleared,
    Budget,
    Channel,
    EscalationPolicy,
    OutboxState,
    PlaceCall,
    Purpose,
    RecordEvent,
    Reply,
    SendSms,
    Timer,
    contact_id_of,
    contact_recipient,
    escalation_plan,
    outbox_step,
)
from notifier.message import (
    voice_text,
)
from notifier.policy import (
    VOICE_GATHER_PATH,
    VOICE_STATUS_PATH,
    NotificationPolicy,
    webhook_url,
)
from notifier.senders import SendResult, SentMessageLookup, SmsSender, VoiceCaller, call_twiml
from storage.models import (
    AlertEvent,
    AlertState,
    EmergencyContact,
    HealthAlert,
    SmsNotification,
)
from storage.repositories import notifications as repo
from storage.repositories.alerts import record_event
from storage.repositories.people import contacts_in_order
from vocabulary import AlertKind, OutboxStatus

log = logging.getLogger(__name__)

ACTOR = "notifier"
#: Events marking an alert's follow-up texts as done.
RESPONDING_MARK = "responding_notified"
CLEAR_MARK = "all_clear_notified"
#: escalationLevel of follow-up rows (after every plan step).
FOLLOW_UP_LEVEL = 1000
#: Live loop period (s) when nothing wakes it earlier.
LOOP_PERIOD_S = 0.5


@dataclass
class ProcessReport:
    """What one :meth:`NotificationService.process_due` call did (counts)."""

    first_texts: int = 0
    escalations: int = 0
    retries: int = 0
    sent: int = 0
    retry_scheduled: int = 0
    failed: int = 0
    rate_limited: int = 0
    recovered: int = 0
    confirmed_by_lookup: int = 0
    cancelled: int = 0
    no_contacts: int = 0
    follow_ups: int = 0
    to_clinicians: int = 0

    @property
    def work_done(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class NotificationService:
    """Sends the texts the database says are due.

    Parameters
    ----------
    sessions : sessionmaker[Session]
        Session factory of the vitals database.
    sender : SmsSender
        TwilioSender or OutboxSender (see :func:`vitals.wiring.sender_from_settings`).
    policy : NotificationPolicy
        Eligibility, escalation delay, rate limit and retry bounds.
    rng : random.Random | None
        Source of retry jitter (seed it in tests).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: SmsSender,
        policy: NotificationPolicy | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self.policy = policy or NotificationPolicy()
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._lock = threading.Lock()
        self._reading_time = False

    def _horizon(self, now: datetime) -> datetime | None:
        """The time up to which stored raisings and clearings count (None: all of them)."""
        return now if self._reading_time else None

    # -- public -----------------------------------------------------------------------
    def process_due(self, now: datetime, *, reading_time: bool = False) -> ProcessReport:
        """Do all work due at ``now`` (aware): recover orphaned sends, retries, first texts
        of new eligible alerts, escalations whose delay has passed (and, at once, the
        next contact after a permanent failure), follow-up texts.

        ``reading_time`` (replays): ``now`` is the replay's clock, and alerts raised or
        cleared later in reading time (already stored by the replayed batch) are treated
        as not raised / not cleared yet. Live (False), the database's state is the truth:
        a device clock a little ahead of the server's never delays a first text."""
        if now.tzinfo is None:
            raise ValueError(f"naive now={now!r}: pass an aware UTC datetime")
        with self._lock:
            self._reading_time = reading_time
            report = ProcessReport()
            self._recover_orphans(now, report)
            self._retry_due(now, report)
            self._first_texts(now, report)
            for _ in range(100):  # a permanent failure makes the next contact due at once
                if not self._escalate_due(now, report):
                    break
            self._follow_ups(now, report)
            return report

    def next_due(self) -> datetime | None:
        """The earliest time :meth:`process_due` has work: a new alert's first text (at
        the alert's time), an escalation step, a retry, a follow-up text."""
        always, never = self._kinds()
        with self._sessions() as session:
            times = [
                repo.next_due_at(session),
                repo.first_text_due_at(
                    session,
                    severities=self.policy.text_severities,
                    always_kinds=always,
                    never_kinds=never,
                    actor=ACTOR,
                ),
                repo.follow_up_due_at(
                    session, actor=ACTOR, acked_marker=RESPONDING_MARK, cleared_marker=CLEAR_MARK
                ),
            ]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def process_until(self, now: datetime, max_steps: int = 10_000) -> ProcessReport:
        """Reading-time mode (replays): run :meth:`process_due` at every due time up to
        ``now``, each at its own second, then at ``now``. A text due at 02:50:00 is sent
        at 02:50:00 reading time however far past it the replayed batch went, so every
        replay writes the same ``alertEvents``, and escalation delays are kept exactly."""
        total = ProcessReport()
        last: datetime | None = None
        for _ in range(max_steps):
            due = self.next_due()
            if due is None or due > now or (last is not None and due <= last):
                break  # (the same due time twice: its work cannot be done yet)
            _add(total, self.process_due(due, reading_time=True))
            last = due
        _add(total, self.process_due(now, reading_time=True))
        return total

    def run_forever(
        self,
        stop: threading.Event,
        clock: Callable[[], datetime] = _wall_clock,
        wake: threading.Event | None = None,
    ) -> None:
        """Live mode: :meth:`process_due` every ~0.5 s, or at once when ``wake`` is set,
        until ``stop`` is set. Errors (e.g. the database is down) are logged, not fatal."""
        while not stop.is_set():
            try:
                report = self.process_due(clock())
                if report.work_done:
                    log.info("notifier: %s", report)
            except Exception:
                log.exception("notifier: process_due failed; retrying in %.1f s", LOOP_PERIOD_S)
            if wake is None:
                stop.wait(LOOP_PERIOD_S)
            else:
                wake.wait(LOOP_PERIOD_S)
                wake.clear()

    # -- first texts and escalation ----------------------------------------------------
    def _kinds(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(kinds that always text, kinds that never do)."""
        sos, stress = (AlertKind.SOS,), (AlertKind.HIGH_STRESS,)
        return ((*sos, *stress), ()) if self.policy.text_high_stress else (sos, stress)

    def _first_texts(self, now: datetime, report: ProcessReport) -> None:
        always, never = self._kinds()
        with self._sessions() as session:
            pending = repo.alerts_awaiting_first_text(
                session,
                severities=self.policy.text_severities,
                always_kinds=always,
                never_kinds=never,
                actor=ACTOR,
                now=self._horizon(now),
            )
        for alert, state in pending:
            if not self.policy.texts(state.kind, alert.severity):
                continue
            if self._advance(alert.id, now, report, first=True) == 0:
                report.first_texts += 1

    def _escalate_due(self, now: datetime, report: ProcessReport) -> bool:
        """Escalations that are due, and first texts deferred by the rate limit (those
        first: they tell a contact about the alert at all)."""
        with self._sessions() as session:
            due = repo.due_escalations(session, now, self._horizon(now))
        for alert, _state in due:
            index = self._advance(alert.id, now, report)
            if index == 0:
                report.first_texts += 1
            elif index is not None:
                report.escalations += 1
        return bool(due)

    def _load(
        self, session: Session, alert: HealthAlert, state: AlertState, now: datetime, *, first: bool
    ) -> tuple[OutboxState, EscalationPolicy, list[EmergencyContact]]:
        """The machine's state of one alert, from its rows and events."""
        contacts = contacts_in_order(session, alert.userId)
        escalation = self.policy.escalation_for(state.kind, alert.severity)
        plan = escalation_plan(
            [c.id for c in contacts], escalation, oncall=bool(self.policy.oncall_phone)
        )
        rows = repo.messages_of_alert(session, alert.id)
        alert_rows = [r for r in rows if r.purpose == Purpose.ALERT]
        taken = {(r.recipient, r.channel, r.round) for r in alert_rows}
        events = set(notifier_event_types(session, alert.id))
        indices = [
            i
            for i, step in enumerate(plan)
            if (step.recipient, step.channel, step.round) in taken
            or (step.channel is Channel.QUEUE and "escalated_to_clinicians" in events)
        ]
        next_index = max(indices) + 1 if indices else 0
        next_due = state.nextEscalationAt
        if next_due is None and first and not alert_rows:
            next_due = now
        reached = tuple(dict.fromkeys(r.recipient for r in alert_rows if r.sentAt is not None))
        follow_ups = frozenset(
            (r.recipient, Purpose(r.purpose)) for r in rows if r.purpose != Purpose.ALERT
        )
        machine_state = OutboxState(
            alert_id=alert.id,
            kind=state.kind,
            severity=alert.severity,
            plan=plan,
            next_index=next_index,
            next_due=next_due,
            cleared=_cleared_by(state, self._horizon(now)),
            ended="escalation_ended" in events,
            reached=reached,
            follow_ups=follow_ups,
        )
        return machine_state, escalation, contacts

    def _advance(
        self, alert_id: int, now: datetime, report: ProcessReport, *, first: bool = False
    ) -> int | None:
        """Load the alert's state, step it with the clock, persist, claim the message of the
        step (committed before the API call), then send it.

        Returns the plan step whose message was claimed (0: the first contact), None if
        none was (the clinicians' queue step sends nothing)."""
        with self._sessions.begin() as session:
            alert = session.get(HealthAlert, alert_id)
            state = session.get(AlertState, alert_id)
            if alert is None or state is None or alert.acknowledged:
                return None
            if state.heartRateAtAlert is None and state.stressLevelAtAlert is None:
                # an alert stored before values were frozen at opening: freeze them now
                state.heartRateAtAlert = alert.heartRate
                state.stressLevelAtAlert = alert.stressLevel
            loaded, escalation, contacts = self._load(session, alert, state, now, first=first)
            if (
                not contacts
                and loaded.next_index == 0
                and not _has_event(session, alert_id, "failed")
            ):
                report.no_contacts += 1
                record_event(
                    session, alert_id, "failed", ACTOR, now, detail="no emergency contacts"
                )
                log.warning("alert %d: user %d has no emergency contacts", alert_id, alert.userId)
            budget = self._budget(session, alert.userId, now)
            stepped, effects = outbox_step(loaded, Timer(now, budget), escalation)
            state.nextEscalationAt = stepped.next_due
            if stepped.ended and not loaded.ended:
                state.nextEscalationAt = None
            to_send: list[tuple[int, str, str, str]] = []
            taken: int | None = None
            for effect in effects:
                if isinstance(effect, RecordEvent):
                    record_event(
                        session, alert_id, effect.event_type, ACTOR, now, detail=effect.detail
                    )
                    if effect.event_type == "rate_limited":
                        report.rate_limited += 1
                        log.warning(
                            "alert %d: user %d reached the hourly text budget; deferred",
                            alert_id,
                            alert.userId,
                        )
                    if effect.event_type == "escalated_to_clinicians":
                        state.escalationLevel = loaded.next_index
                        report.to_clinicians += 1
                elif isinstance(effect, SendSms | PlaceCall):
                    index = effect.index if effect.index is not None else 0
                    taken = index
                    claimed = self._claim(
                        session, alert=alert, state=state, contacts=contacts, effect=effect, now=now
                    )
                    if claimed is not None:
                        to_send.append(claimed)
            if taken is not None:
                state.escalationLevel = taken
        for row_id, channel, phone, body in to_send:
            self._call(row_id, phone, body, now, report, channel=channel)
        return taken

    def _budget(self, session: Session, user_id: int, now: datetime) -> Budget:
        since = now - RATE_WINDOW
        return Budget(
            texts_last_hour=repo.texts_since(session, user_id, since),
            oldest_text_at=repo.oldest_text_since(session, user_id, since),
            limit=self.policy.max_texts_per_user_per_hour,
        )

    def _claim(
        self,
        session: Session,
        *,
        alert: HealthAlert,
        state: AlertState,
        contacts: list[EmergencyContact],
        effect: SendSms | PlaceCall,
        now: datetime,
    ) -> tuple[int, str, str, str] | None:
        """Insert the message's row (status ``sending``); (row id, channel, phone, body) or
        None when it was claimed before."""
        contact_id = contact_id_of(effect.recipient)
        contact = next((c for c in contacts if c.id == contact_id), None)
        if contact_id is not None and contact is None:
            contact = session.get(EmergencyContact, contact_id)
        phone = (contact.phone if contact is not None else self.policy.oncall_phone) or ""
        names = {contact_recipient(c.id): c.name or "a contact" for c in contacts}
        tried = tuple(names.get(r, "on-call") for r in effect.tried)
        if isinstance(effect, PlaceCall):
            channel, purpose, round_no = Channel.CALL, Purpose.ALERT, 1
            body = voice_text(
                alert_facts(
                    session, self.policy, alert=alert, state=state, contact=contact, level=0
                )
            )
            level = effect.index
        else:
            channel, purpose, round_no = Channel.SMS, effect.purpose, effect.round
            level = effect.index if effect.index is not None else FOLLOW_UP_LEVEL
            body = sms_body(
                session,
                self.policy,
                alert=alert,
                state=state,
                contact=contact,
                effect=effect,
                tried=tried,
            )
        row = repo.claim_notification(
            session,
            alert_id=alert.id,
            contact_id=contact_id,
            user_id=alert.userId,
            escalation_level=level,
            body=body,
            at=now,
            recipient=effect.recipient,
            channel=channel,
            purpose=purpose,
            round_no=round_no,
        )
        if row is None:
            return None
        row.attempts = 1
        session.flush()
        return row.id, str(channel), phone, body

    # -- follow-ups: "X is responding", all-clear -----------------------------------------
    def _follow_ups(self, now: datetime, report: ProcessReport) -> None:
        with self._sessions() as session:
            due = repo.alerts_needing_follow_up(
                session,
                self._horizon(now),
                actor=ACTOR,
                acked_marker=RESPONDING_MARK,
                cleared_marker=CLEAR_MARK,
            )
        for alert_id in due:
            self._follow_up(alert_id, now, report)

    def _follow_up(self, alert_id: int, now: datetime, report: ProcessReport) -> None:
        with self._sessions.begin() as session:
            alert = session.get(HealthAlert, alert_id)
            state = session.get(AlertState, alert_id)
            if alert is None or state is None:
                return
            loaded, escalation, contacts = self._load(session, alert, state, now, first=False)
            loaded = replace(loaded, cleared=False)
            events: list[tuple[str, Reply | AlertCleared]] = []
            if alert.acknowledged and not _has_event(session, alert_id, RESPONDING_MARK):
                events.append((RESPONDING_MARK, Reply(acknowledger(session, alert_id), now)))
            cleared = _cleared_by(state, self._horizon(now))
            if cleared and not _has_event(session, alert_id, CLEAR_MARK):
                events.append((CLEAR_MARK, AlertCleared(now)))
            to_send: list[tuple[int, str, str, str]] = []
            for mark, event in events:
                if isinstance(event, Reply):
                    loaded = replace(loaded, acknowledged_by=None)
                loaded, effects = outbox_step(loaded, event, escalation)
                sent_to = []
                for effect in effects:
                    if isinstance(effect, SendSms):
                        claimed = self._claim(
                            session,
                            alert=alert,
                            state=state,
                            contacts=contacts,
                            effect=effect,
                            now=now,
                        )
                        if claimed is not None:
                            to_send.append(claimed)
                            sent_to.append(effect.recipient)
                record_event(
                    session, alert_id, mark, ACTOR, now, detail=", ".join(sent_to) or "nobody"
                )
        for row_id, channel, phone, body in to_send:
            self._call(row_id, phone, body, now, report, channel=channel)
            report.follow_ups += 1

    # -- one API call -------------------------------------------------------------------
    def _call(
        self,
        row_id: int,
        phone: str,
        body: str,
        now: datetime,
        report: ProcessReport,
        *,
        channel: str = Channel.SMS,
    ) -> None:
        """Call the provider for a row already committed in status ``sending``."""
        try:
            if not phone:
                raise PermanentSendError("contact has no phone number")
            if channel == Channel.CALL:
                result = self._place_call(phone, body)
            else:
                result = self._sender.send(phone, body, self.policy.status_callback_url)
        except PermanentSendError as error:
            self._give_up(row_id, error, now, report)
            return
        except TransientSendError as error:
            self._schedule_retry(row_id, error, now, report)
            return
        except Exception as error:  # an unexpected sender bug: the outcome is unknown
            log.exception("sender raised unexpectedly for notification %d", row_id)
            unknown = TransientSendError(f"sender error {type(error).__name__}", maybe_sent=True)
            self._schedule_retry(row_id, unknown, now, report)
            return
        self._record_sent(row_id, result, now, report, how="sent")

    def _place_call(self, phone: str, spoken: str) -> SendResult:
        if not isinstance(self._sender, VoiceCaller):
            raise PermanentSendError("this sender cannot place voice calls")
        base = self.policy.public_base_url
        twiml = call_twiml(spoken, webhook_url(base, VOICE_GATHER_PATH))
        return self._sender.call(phone, twiml, webhook_url(base, VOICE_STATUS_PATH))

    def _record_sent(
        self, row_id: int, result: SendResult, now: datetime, report: ProcessReport, *, how: str
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            row.status, row.providerSid = result.status, result.sid
            row.sentAt, row.updatedAt, row.nextAttemptAt = now, now, None
            who = f"contact {row.contactId}" if row.contactId is not None else row.recipient
            if row.purpose != Purpose.ALERT:
                event_type, detail = f"{row.purpose}_sent", f"{who} {how} {result.sid}"
            elif row.channel == Channel.CALL:
                event_type = "called"
                detail = f"{who} (level {row.escalationLevel}) {how} {result.sid}"
            else:
                event_type = "notified"
                detail = f"{who} (level {row.escalationLevel}) {how} {result.sid}"
                if row.round > 1:
                    detail += f" round {row.round}"
            record_event(session, row.alertId, event_type, ACTOR, now, detail=detail)
            alert_id, recipient = row.alertId, row.recipient
        report.sent += 1
        log.info("alert %d: message to %s %s (%s)", alert_id, recipient, how, result.sid)

    def _schedule_retry(
        self, row_id: int, error: TransientSendError, now: datetime, report: ProcessReport
    ) -> None:
        event = SendFailed(now, str(error), True, error.maybe_sent, self._rng.random())
        self._message_event(row_id, event, report)

    def _give_up(self, row_id: int, error: SendError, now: datetime, report: ProcessReport) -> None:
        self._message_event(row_id, SendFailed(now, str(error), False), report, code=error.code)

    def _message_event(
        self,
        row_id: int,
        event: MessageEvent,
        report: ProcessReport,
        *,
        code: int | None = None,
    ) -> tuple[MessageEffect, ...]:
        """Load one message, step it (:func:`notifier.delivery.message_step`), persist the
        row and return the effects the caller carries out (look up, resend, adopt)."""
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            message = Message(attempts=row.attempts, claimed_at=row.createdAt, status=row.status)
            if isinstance(event, LookupAnswered) and event.error is not None:
                row.attempts += 1
            _, effects = message_step(message, event, self.policy.retry_bounds)
            for effect in effects:
                if isinstance(effect, ScheduleRetry):
                    row.status, row.lastError = effect.status, effect.error
                    row.updatedAt, row.nextAttemptAt = event.now, effect.at
                    if isinstance(event, Orphaned):
                        report.recovered += 1
                        log.warning(
                            "alert %d: message to %s was interrupted; will confirm before "
                            "resending",
                            row.alertId,
                            row.recipient,
                        )
                    else:
                        report.retry_scheduled += 1
                        log.warning(
                            "alert %d: attempt %d failed (%s); retry in %.1f s",
                            row.alertId,
                            row.attempts,
                            effect.error,
                            (effect.at - event.now).total_seconds(),
                        )
                elif isinstance(effect, GiveUp):
                    error = SendError(effect.error, code=code)
                    self._fail_row(session, row, error, event.now, status=effect.status)
                    report.failed += 1
        return effects

    def _fail_row(
        self,
        session: Session,
        row: SmsNotification,
        error: SendError,
        now: datetime,
        status: str = OutboxStatus.FAILED,
    ) -> None:
        """Record the text as failed and make the next contact due at once."""
        row.status, row.lastError, row.updatedAt, row.nextAttemptAt = status, str(error), now, None
        code = f" code {error.code}" if error.code else ""
        who = f"contact {row.contactId}" if row.contactId is not None else row.recipient
        record_event(session, row.alertId, "failed", ACTOR, now, detail=f"{who}{code}: {error}")
        log.warning("alert %d: message to %s %s: %s", row.alertId, row.recipient, status, error)
        escalate_now(session, row, now)

    # -- retries and recovery -------------------------------------------------------------
    def _recover_orphans(self, now: datetime, report: ProcessReport) -> None:
        with self._sessions() as session:
            orphans = [row.id for row in repo.orphaned_claims(session)]
        for row_id in orphans:
            self._message_event(row_id, Orphaned(now), report)

    def _retry_due(self, now: datetime, report: ProcessReport) -> None:
        with self._sessions() as session:
            due = [row.id for row in repo.due_notifications(session, now)]
        for row_id in due:
            self._retry_one(row_id, now, report)

    def _retry_one(self, row_id: int, now: datetime, report: ProcessReport) -> None:
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            alert = session.get(HealthAlert, row.alertId) if row else None
            state = session.get(AlertState, row.alertId) if row else None
            if row is None or alert is None or state is None:
                return
            contact = session.get(EmergencyContact, row.contactId) if row.contactId else None
            if contact is None and row.recipient != ONCALL:
                return
            closed = alert.acknowledged or state.clearedAt is not None
            if closed and row.purpose == Purpose.ALERT:
                row.status, row.nextAttemptAt, row.updatedAt = OutboxStatus.CANCELLED, None, now
                report.cancelled += 1
                return
            phone = (contact.phone if contact is not None else self.policy.oncall_phone) or ""
            body, unconfirmed, channel = (
                row.body or "",
                row.status == OutboxStatus.UNCONFIRMED,
                row.channel,
            )
        if unconfirmed and not self._confirm(row_id, phone, body, now, report, channel=channel):
            return
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            row.status, row.attempts, row.updatedAt = OutboxStatus.CLAIMED, row.attempts + 1, now
            row.nextAttemptAt = None
        report.retries += 1
        self._call(row_id, phone, body, now, report, channel=channel)

    def _confirm(
        self,
        row_id: int,
        phone: str,
        body: str,
        now: datetime,
        report: ProcessReport,
        *,
        channel: str = Channel.SMS,
    ) -> bool:
        """Settle an unconfirmed row; True when it must be (re)sent. A call cannot be
        looked up (Twilio's call list has no body to match): it follows the policy."""
        can_look_up = channel != Channel.CALL and isinstance(self._sender, SentMessageLookup)
        effects = self._message_event(row_id, RetryUnconfirmed(now, can_look_up), report)
        if not any(isinstance(e, LookUp) for e in effects):
            return any(isinstance(e, Resend) for e in effects)
        assert isinstance(self._sender, SentMessageLookup)
        try:
            found = self._sender.find_sent(phone, body)
        except SendError as error:
            answered = LookupAnswered(now, False, str(error), self._rng.random())
            self._message_event(row_id, answered, report)
            return False
        effects = self._message_event(row_id, LookupAnswered(now, found is not None), report)
        if found is None:
            log.info("notification %d: provider has no such text; sending it", row_id)
            return True
        report.confirmed_by_lookup += 1
        self._record_sent(row_id, found, now, report, how="confirmed by lookup")
        return False


def escalate_now(session: Session, row: SmsNotification, now: datetime) -> None:
    """The text of ``row`` will not reach its contact: if it is the latest one of its open
    alert, make the next contact due now."""
    state = session.get(AlertState, row.alertId)
    alert = session.get(HealthAlert, row.alertId)
    if state is None or alert is None or alert.acknowledged or state.clearedAt is not None:
        return
    if state.escalationLevel == row.escalationLevel:
        state.nextEscalationAt = now


def _cleared_by(state: AlertState, horizon: datetime | None) -> bool:
    return state.clearedAt is not None and (horizon is None or state.clearedAt <= horizon)


def notifier_event_types(session: Session, alert_id: int) -> list[str]:
    """The types of the notifier's events of ``alert_id``."""
    return list(
        session.scalars(
            select(AlertEvent.eventType).where(
                AlertEvent.alertId == alert_id, AlertEvent.actor == ACTOR
            )
        )
    )


def _has_event(session: Session, alert_id: int, event_type: str) -> bool:
    return event_type in notifier_event_types(session, alert_id)


def _add(total: ProcessReport, report: ProcessReport) -> None:
    for f in fields(ProcessReport):
        setattr(total, f.name, getattr(total, f.name) + getattr(report, f.name))
