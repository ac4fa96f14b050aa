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
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from notifier.errors import PermanentSendError, SendError, TransientSendError
from notifier.message import AlertFacts, render_alert_text
from notifier.policy import HIGH_STRESS, SOS, NotificationPolicy
from notifier.senders import SendResult, SentMessageLookup, SmsSender
from storage.models import AlertState, EmergencyContact, HealthAlert, SmsNotification, User
from storage.repositories import notifications as repo
from storage.repositories.alerts import record_event
from storage.repositories.people import contacts_in_order

log = logging.getLogger(__name__)

ACTOR = "notifier"
#: Sliding window of the per-user rate limit.
RATE_WINDOW = timedelta(hours=1)
CRITICAL = "critical"
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
        TwilioSender or OutboxSender (see :func:`notifier.sender_from_settings`).
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

    # -- public -----------------------------------------------------------------------
    def process_due(self, now: datetime) -> ProcessReport:
        """Do all work due at ``now`` (aware): recover orphaned sends, retries, first texts
        of new eligible alerts, escalations whose delay has passed (and, at once, the
        next contact after a permanent failure)."""
        if now.tzinfo is None:
            raise ValueError(f"naive now={now!r}: pass an aware UTC datetime")
        with self._lock:
            report = ProcessReport()
            self._recover_orphans(now, report)
            self._retry_due(now, report)
            self._first_texts(now, report)
            for _ in range(100):  # a permanent failure makes the next contact due at once
                if not self._escalate_due(now, report):
                    break
            return report

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
    def _first_texts(self, now: datetime, report: ProcessReport) -> None:
        stress = (HIGH_STRESS,)
        always, never = ((SOS, *stress), ()) if self.policy.text_high_stress else ((SOS,), stress)
        with self._sessions() as session:
            pending = repo.alerts_awaiting_first_text(
                session,
                severities=self.policy.text_severities,
                always_kinds=always,
                never_kinds=never,
                actor=ACTOR,
            )
        for alert, state in pending:
            if not self.policy.texts(state.kind, alert.severity):
                continue
            if self._text_next_contact(alert.id, now, report) is not None:
                report.first_texts += 1

    def _escalate_due(self, now: datetime, report: ProcessReport) -> bool:
        """Escalations that are due, and first texts deferred by the rate limit (those
        first: they tell a contact about the alert at all)."""
        with self._sessions() as session:
            due = repo.due_escalations(session, now)
        for alert, _state in due:
            level = self._text_next_contact(alert.id, now, report)
            if level == 0:
                report.first_texts += 1
            elif level is not None:
                report.escalations += 1
        return bool(due)

    def _text_next_contact(self, alert_id: int, now: datetime, report: ProcessReport) -> int | None:
        """Claim (commit) the text to the next contact not yet texted, then send it.

        Returns the escalation level texted (0: the first contact), None if nothing was
        sent (no contact left, acknowledged, cleared, or deferred by the rate limit)."""
        with self._sessions.begin() as session:
            alert = session.get(HealthAlert, alert_id)
            state = session.get(AlertState, alert_id)
            if alert is None or state is None or alert.acknowledged or state.clearedAt:
                return None
            contacts = contacts_in_order(session, alert.userId)
            texted = repo.notified_contact_ids(session, alert_id)
            remaining = [c for c in contacts if c.id not in texted]
            if not remaining:
                state.nextEscalationAt = None
                if contacts:
                    detail = f"all {len(contacts)} contacts texted; none acknowledged"
                    record_event(session, alert_id, "escalation_ended", ACTOR, now, detail=detail)
                else:
                    report.no_contacts += 1
                    record_event(
                        session, alert_id, "failed", ACTOR, now, detail="no emergency contacts"
                    )
                    log.warning(
                        "alert %d: user %d has no emergency contacts", alert_id, alert.userId
                    )
                return None
            level = len(texted)
            if self._rate_limited(session, alert, state, now, level):
                report.rate_limited += 1
                return None
            contact = remaining[0]
            body = self._body(session, alert, state, contact, level)
            row = repo.claim_notification(
                session,
                alert_id=alert_id,
                contact_id=contact.id,
                user_id=alert.userId,
                escalation_level=level,
                body=body,
                at=now,
            )
            if row is None:
                return None
            row.attempts = 1
            state.escalationLevel = level
            state.nextEscalationAt = now + timedelta(seconds=self.policy.escalation_delay_s)
            if level > 0:
                record_event(
                    session,
                    alert_id,
                    "escalated",
                    ACTOR,
                    now,
                    detail=f"contact {contact.id} (level {level})",
                )
            row_id, phone = row.id, contact.phone or ""
        self._call(row_id, phone, body, now, report)
        return level

    def _rate_limited(
        self, session: Session, alert: HealthAlert, state: AlertState, now: datetime, level: int
    ) -> bool:
        """Hold the text back if the user's hourly budget is spent, and defer it (never
        drop it) to when the oldest text of the hour ages out. Exempt: the kinds in
        ``rate_limit_exempt_kinds`` (SOS) and the first text of a critical alert (a fall,
        HR > 150 or < 30), so a flood of lesser alerts cannot hide the one that matters."""
        if state.kind in self.policy.rate_limit_exempt_kinds:
            return False
        if level == 0 and alert.severity == CRITICAL:
            return False
        since = now - RATE_WINDOW
        count = repo.texts_since(session, alert.userId, since)
        if count < self.policy.max_texts_per_user_per_hour:
            return False
        oldest = repo.oldest_text_since(session, alert.userId, since) or now
        retry_at = max(oldest + RATE_WINDOW, now + timedelta(seconds=1))
        state.nextEscalationAt = retry_at
        limit = self.policy.max_texts_per_user_per_hour
        record_event(
            session,
            alert.id,
            "rate_limited",
            ACTOR,
            now,
            detail=(
                f"{count} texts in the last hour for user {alert.userId} (limit {limit}); "
                f"deferred to {retry_at.isoformat()}"
            ),
        )
        log.warning(
            "alert %d: user %d reached %d texts per hour; text deferred",
            alert.id,
            alert.userId,
            limit,
        )
        return True

    @staticmethod
    def _body(
        session: Session,
        alert: HealthAlert,
        state: AlertState,
        contact: EmergencyContact,
        level: int,
    ) -> str:
        user = session.get(User, alert.userId)
        return render_alert_text(
            AlertFacts(
                user_id=alert.userId,
                user_name=user.name if user is not None else None,
                kind=state.kind,
                severity=alert.severity,
                at=alert.createdAt or state.onsetAt,
                heart_rate_bpm=alert.heartRate,
                stress_level=alert.stressLevel,
                time_zone=repo.contact_time_zone(session, contact.id),
                escalation_level=level,
            )
        )

    # -- one API call -------------------------------------------------------------------
    def _call(
        self, row_id: int, phone: str, body: str, now: datetime, report: ProcessReport
    ) -> None:
        """Call the provider for a row already committed in status ``sending``."""
        try:
            if not phone:
                raise PermanentSendError("contact has no phone number")
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

    def _record_sent(
        self, row_id: int, result: SendResult, now: datetime, report: ProcessReport, *, how: str
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            row.status, row.providerSid = result.status, result.sid
            row.sentAt, row.updatedAt, row.nextAttemptAt = now, now, None
            record_event(
                session,
                row.alertId,
                "notified",
                ACTOR,
                now,
                detail=f"contact {row.contactId} (level {row.escalationLevel}) {how} {result.sid}",
            )
            alert_id, contact_id = row.alertId, row.contactId
        report.sent += 1
        log.info("alert %d: text to contact %d %s (%s)", alert_id, contact_id, how, result.sid)

    def _schedule_retry(
        self, row_id: int, error: TransientSendError, now: datetime, report: ProcessReport
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            retried_s = (now - row.createdAt).total_seconds()
            if row.attempts >= self.policy.max_attempts and retried_s >= self.policy.retry_for_s:
                exhausted = SendError(
                    f"gave up after {row.attempts} attempts in {retried_s:.0f} s: {error}"
                )
                self._fail_row(session, row, exhausted, now)
                report.failed += 1
                return
            delay_s = self.policy.retry_delay_s(row.attempts, self._rng)
            row.status = repo.UNCONFIRMED if error.maybe_sent else repo.RETRYING
            row.lastError, row.updatedAt = str(error), now
            row.nextAttemptAt = now + timedelta(seconds=delay_s)
            alert_id, attempts = row.alertId, row.attempts
        report.retry_scheduled += 1
        log.warning(
            "alert %d: attempt %d failed (%s); retry in %.1f s", alert_id, attempts, error, delay_s
        )

    def _give_up(self, row_id: int, error: SendError, now: datetime, report: ProcessReport) -> None:
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            self._fail_row(session, row, error, now)
        report.failed += 1

    def _fail_row(
        self,
        session: Session,
        row: SmsNotification,
        error: SendError,
        now: datetime,
        status: str = "failed",
    ) -> None:
        """Record the text as failed and make the next contact due at once."""
        row.status, row.lastError, row.updatedAt, row.nextAttemptAt = status, str(error), now, None
        code = f" code {error.code}" if error.code else ""
        record_event(
            session,
            row.alertId,
            "failed",
            ACTOR,
            now,
            detail=f"contact {row.contactId}{code}: {error}",
        )
        log.warning(
            "alert %d: text to contact %d %s: %s", row.alertId, row.contactId, status, error
        )
        escalate_now(session, row, now)

    # -- retries and recovery -------------------------------------------------------------
    def _recover_orphans(self, now: datetime, report: ProcessReport) -> None:
        with self._sessions.begin() as session:
            for row in repo.orphaned_claims(session):
                row.status, row.nextAttemptAt, row.updatedAt = repo.UNCONFIRMED, now, now
                row.lastError = "process stopped during the API call; outcome unknown"
                report.recovered += 1
                log.warning(
                    "alert %d: text to contact %d was interrupted; will confirm before resending",
                    row.alertId,
                    row.contactId,
                )

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
            contact = session.get(EmergencyContact, row.contactId) if row else None
            if row is None or alert is None or state is None or contact is None:
                return
            if alert.acknowledged or state.clearedAt is not None:
                row.status, row.nextAttemptAt, row.updatedAt = "cancelled", None, now
                report.cancelled += 1
                return
            phone, body, unconfirmed = (
                contact.phone or "",
                row.body or "",
                row.status == repo.UNCONFIRMED,
            )
        if unconfirmed and not self._confirm(row_id, phone, body, now, report):
            return
        with self._sessions.begin() as session:
            row = session.get(SmsNotification, row_id)
            assert row is not None
            row.status, row.attempts, row.updatedAt = repo.CLAIMED, row.attempts + 1, now
            row.nextAttemptAt = None
        report.retries += 1
        self._call(row_id, phone, body, now, report)

    def _confirm(
        self, row_id: int, phone: str, body: str, now: datetime, report: ProcessReport
    ) -> bool:
        """Settle an unconfirmed row; True when it must be (re)sent."""
        if not isinstance(self._sender, SentMessageLookup):
            if self.policy.resend_unconfirmed:
                return True
            with self._sessions.begin() as session:
                row = session.get(SmsNotification, row_id)
                assert row is not None
                unknown = SendError("outcome unknown and the provider cannot be asked; not resent")
                self._fail_row(session, row, unknown, now, status="unknown")
            report.failed += 1
            return False
        try:
            found = self._sender.find_sent(phone, body)
        except SendError as error:
            retry = TransientSendError(f"lookup failed: {error}", maybe_sent=True)
            with self._sessions.begin() as session:
                row = session.get(SmsNotification, row_id)
                assert row is not None
                row.attempts += 1
            self._schedule_retry(row_id, retry, now, report)
            return False
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
