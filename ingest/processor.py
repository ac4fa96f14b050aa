"""Batch processing: decode, check devices, drop duplicates, run the engine, and commit
every effect of the batch in one transaction — retried until it succeeds — before the
caller acknowledges the messages to the broker.

Exactly-once effects on top of at-least-once delivery: a message is acknowledged only
after its effects *and* the per-user detector checkpoint are committed, and the highest
committed ``seq`` of each device is stored in the same transaction, so a redelivered
message (seq ≤ lastSeq) has no second effect.

What can never be stored must not stall everyone else: a reading dated outside a sane
window around its receive time is a dead letter before it reaches a window or the
database, and a batch the database refuses for its *data* (not for a lost connection or
a lock timeout) is split, so that only the refused message(s) become dead letters and
the rest of the batch commits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from detectors import AlertAction
from ingest.checkpoint import restore_checkpoints
from ingest.columns import ReadingColumns, decode_batch
from ingest.deadletters import DeadLetterLimits, DeadLetterQuota
from ingest.engine import Effects, Engine
from ingest.errors import InvalidPayload
from ingest.metrics import Metrics
from ingest.payload import DEFAULT_LIMITS, Limits, decode
from ingest.sequence import SeqVerdict, check_seq
from storage.errors import database_error_code, refused_for_good
from storage.repositories import alerts as alert_repo
from storage.repositories.ingest import (
    DeadLetterRow,
    DeviceProgress,
    DeviceRecord,
    ReadingRow,
    advance_devices,
    insert_dead_letters,
    insert_readings,
    load_checkpoints,
    load_devices,
    save_checkpoints,
)
from storage.repositories.locations import LOC, Fix, save_latest_fixes
from storage.types import utc_from_ms
from vocabulary import DeadLetterReason, DeviceEvent, PayloadKind

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One raw message as it came off the broker (or a trace line)."""

    topic: str | None  # None for a line of a trace file
    payload: bytes
    token: object = None  # the source's handle to acknowledge it (MQTT mid)


@dataclass(frozen=True)
class ReceiveWindow:
    """Reading times accepted relative to the receive time (wall clock, UTC).

    ``max_ahead_s`` (default 5 min): a device clock synchronised by its phone (NTP) is
    seconds off, not minutes; a reading further ahead would drag the user's watermark
    forward (closing windows early, so real data became ``late``) and, past 2038-01-19,
    cannot even be stored in a MySQL ``TIMESTAMP``. ``max_age_s`` (default None: no
    limit, so recorded traces replay): readings older than this are refused.
    """

    max_ahead_s: float = 300.0
    max_age_s: float | None = None


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    readings: int = 0
    alerts_opened: list[int] = field(default_factory=list)
    reading_time_ms: int = 0
    users: set[int] = field(default_factory=set)
    seq_gaps: int = 0  # messages missing from devices' numbering

    def add(self, other: BatchResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.readings += other.readings
        self.alerts_opened += other.alerts_opened
        self.reading_time_ms = max(self.reading_time_ms, other.reading_time_ms)
        self.users |= other.users
        self.seq_gaps += other.seq_gaps


class _RefusedForGood(Exception):
    """The database refused a write for its data: retrying it can never succeed."""

    def __init__(self, error: BaseException) -> None:
        code = database_error_code(error)
        self.detail = type(getattr(error, "orig", None) or error).__name__ + (
            f" {code}" if code is not None else ""
        )
        super().__init__(self.detail)


class _RateLimitedLog:
    """At most one line per reason every ``interval_s``: a flood of bad input cannot flood
    the logs (and payloads, which may hold personal data, are never logged)."""

    def __init__(self, interval_s: float = 10.0, prefix: str = "dead letter") -> None:
        self.interval_s = interval_s
        self.prefix = prefix
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warn(self, reason: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(reason, -1e9) >= self.interval_s:
            skipped = self.suppressed.pop(reason, 0)
            extra = f" ({skipped} more since last report)" if skipped else ""
            log.warning("%s %s: %s%s", self.prefix, reason, message, extra)
            self.last[reason] = now
        else:
            self.suppressed[reason] = self.suppressed.get(reason, 0) + 1


class BatchProcessor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        engine: Engine,
        metrics: Metrics | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        on_alerts: Callable[[list[int]], None] | None = None,
        retry_max_s: float = 30.0,
        should_stop: Callable[[], bool] = lambda: False,
        receive_window: ReceiveWindow | None = None,
        dead_letter_limits: DeadLetterLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.limits = limits
        self.on_alerts = on_alerts
        self.retry_max_s = retry_max_s
        self.should_stop = should_stop
        self.receive_window = receive_window or ReceiveWindow()
        self.quota = DeadLetterQuota(dead_letter_limits)
        self.devices: dict[str, DeviceRecord] = {}
        self.last_seq: dict[str, int] = {}
        self.last_ts: dict[str, int] = {}  # newest ts each device sent (reset detection)
        self.restored: set[int] = set()
        self.dead_log = _RateLimitedLog()
        self.loss_log = _RateLimitedLog(prefix="messages missing from")
        self.reading_now_ms = 0  # latest reading time seen: the replay/demo clock
        self.hold_windows = False  # True: windows wait (the broker's backlog is arriving)

    # -- batch --------------------------------------------------------------------
    def handle(self, batch: Sequence[Inbound]) -> BatchResult:
        """Process and durably commit one batch; returns once it is safe to acknowledge."""
        self.metrics.messages.inc(len(batch))
        try:
            return self._handle(batch)
        except _RefusedForGood as refused:
            log.error(
                "database refused a batch of %d message(s) for its data (%s): "
                "retrying them one by one",
                len(batch),
                refused.detail,
            )
            return self._one_by_one(batch)

    def _handle(self, batch: Sequence[Inbound]) -> BatchResult:
        now = datetime.now(UTC)
        result = BatchResult()
        columns, dead = self._decode(batch, now)
        self._refresh_devices(set(columns.device_id) - set(self.devices))
        missing: dict[str, int] = {}  # per device with accepted messages: how many lost
        now_ms = round(now.timestamp() * 1000)
        signal_rows: list[int] = []
        fix_rows: list[int] = []
        end_ms = columns.end_ms.tolist()
        for row, (device, user) in enumerate(zip(columns.device_id, columns.user_id, strict=True)):
            problem = self._device_problem(device, user)
            if problem is None:  # a wrong clock still numbers its messages: no false gap
                ts_ms = columns.ts_ms[row]
                wrong_time = self._time_problem(ts_ms, end_ms[row], now_ms)
                problem = self._sequence(
                    columns, row, missing, result, trusted_ts=wrong_time is None
                )
                problem = problem or wrong_time
            if problem is not None:
                if problem[0] == DeadLetterReason.DUPLICATE:
                    result.duplicates += 1
                else:
                    message = batch[columns.source[row]]
                    dead.append(self._dead(message, now, *problem, device, user))
                continue
            # a location is where the wearer is, not a signal
            (fix_rows if columns.kind[row] == LOC else signal_rows).append(row)
        progress = {
            device: DeviceProgress(self.last_seq[device], self.last_ts.get(device), lost)
            for device, lost in missing.items()
        }
        fixes = [_fix(columns, row) for row in fix_rows]
        signal = columns if len(signal_rows) == len(columns) else columns.take(signal_rows)
        self._restore(set(signal.user_id))
        effects = self.engine.process(signal, close=not self.hold_windows)
        for row in effects.late:
            detail = f"reading time {signal.ts_ms[row]} is in a window already stored"
            message = batch[signal.source[row]]
            dead.append(
                self._dead(
                    message,
                    now,
                    DeadLetterReason.LATE,
                    detail,
                    signal.device_id[row],
                    signal.user_id[row],
                )
            )
        result.accepted = len(signal) + len(fixes) - len(effects.late)
        result.dead_letters = len(dead)
        result.reading_time_ms = int(signal.end_ms.max()) if len(signal) else 0
        result.users = effects.touched
        self.reading_now_ms = max(self.reading_now_ms, result.reading_time_ms)
        self._commit(effects, dead, progress, now, result, fixes=fixes)
        self._count(result, dead, effects.actions)
        return result

    def _one_by_one(self, batch: Sequence[Inbound]) -> BatchResult:
        """After the database refused a batch for its data: forget what this process
        derived from it (state is reloaded from the last commit) and handle each message
        alone; a message refused again is kept as a ``db_refused`` dead letter."""
        result = BatchResult()
        self._forget(batch)
        for message in batch:
            try:
                result.add(self._handle([message]))
            except _RefusedForGood as refused:
                self._forget([message])
                result.add(self._refused(message, refused.detail))
        return result

    def _refused(self, message: Inbound, detail: str) -> BatchResult:
        now = datetime.now(UTC)
        result = BatchResult(dead_letters=1)
        device: str | None
        user: int | None
        try:
            reading = decode(message.topic, message.payload, self.limits)
            device, user = reading.device_id, reading.user_id
        except InvalidPayload as error:
            device, user = error.device_id, error.user_id
        row = DeadLetterRow(
            now,
            _topic(message),
            message.payload,
            DeadLetterReason.DB_REFUSED,
            f"the database refused this message's effects for good ({detail})",
            device,
            user,
        )
        try:
            self._commit(Effects(), [row], {}, now, result)
        except _RefusedForGood:  # not even the dead letter: the bytes are logged as gone
            log.error("dead letter of a refused message could not be stored either; dropped")
            self.metrics.db_refused.inc()
            return result
        self.metrics.db_refused.inc()
        self._count(result, [row], [])
        return result

    def _forget(self, batch: Sequence[Inbound]) -> None:
        """Drop the cached state of the users and devices of ``batch`` (reloaded from the
        database on next use): what an uncommitted batch changed is undone."""
        for message in batch:
            try:
                reading = decode(message.topic, message.payload, self.limits)
            except InvalidPayload:
                continue
            self.engine.users.pop(reading.user_id, None)
            self.restored.discard(reading.user_id)
            self.devices.pop(reading.device_id, None)
            self.last_seq.pop(reading.device_id, None)
            self.last_ts.pop(reading.device_id, None)

    def forget_all(self) -> None:
        """Drop every cached user state and device record (a Faust rebalance)."""
        self.engine.users.clear()
        self.restored.clear()
        self.devices.clear()
        self.last_seq.clear()
        self.last_ts.clear()

    def flush(self, user_ids: Sequence[int] | None = None) -> BatchResult:
        """Close open windows (end of a replay, or users silent for too long) and commit."""
        now = datetime.now(UTC)
        result = BatchResult()
        effects = self.engine.flush(user_ids)
        return self._commit_closing(effects, now, result)

    def close_due(self) -> BatchResult:
        """Close the windows every user's watermark has passed (after windows were held
        while a broker's backlog arrived) and commit."""
        now = datetime.now(UTC)
        return self._commit_closing(self.engine.close_due(), now, BatchResult())

    def _commit_closing(self, effects: Effects, now: datetime, result: BatchResult) -> BatchResult:
        try:
            self._commit(effects, [], {}, now, result)
        except _RefusedForGood as refused:
            log.error("database refused closing windows (%s); state reloaded", refused.detail)
            for user in effects.touched:
                self.engine.users.pop(user, None)
                self.restored.discard(user)
            return BatchResult()
        self._count(result, [], effects.actions)
        return result

    # -- steps ----------------------------------------------------------------------
    def _decode(
        self, batch: Sequence[Inbound], now: datetime
    ) -> tuple[ReadingColumns, list[DeadLetterRow]]:
        columns, rejects = decode_batch(batch, self.limits)
        dead = [
            DeadLetterRow(
                now,
                _topic(batch[reject.source]),
                batch[reject.source].payload,
                reject.error.reason,
                reject.error.detail,
                reject.error.device_id,
                reject.error.user_id,
            )
            for reject in rejects
        ]
        return columns, dead

    def _refresh_devices(self, unknown: set[str]) -> None:
        if not unknown:
            return
        for record in self._read(lambda session: load_devices(session, unknown)):
            self.devices[record.device_id] = record
            self.engine.placements[record.device_id] = record.placement or ""
            if record.last_seq is not None:
                self.last_seq.setdefault(record.device_id, record.last_seq)
            if record.last_ts_ms is not None:
                self.last_ts.setdefault(record.device_id, record.last_ts_ms)

    def reload_devices(self) -> None:
        """Pick up devices enabled/disabled since start (called periodically)."""
        records = self._read(load_devices)
        self.devices = {record.device_id: record for record in records}
        self.engine.placements = {r.device_id: r.placement or "" for r in records}

    def _device_problem(self, device_id: str, user_id: int) -> tuple[DeadLetterReason, str] | None:
        device = self.devices.get(device_id)
        if device is None:
            return DeadLetterReason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered"
        if not device.enabled:
            return DeadLetterReason.DEVICE_DISABLED, f"device {device_id!r} is disabled"
        if device.user_id != user_id:
            return (
                DeadLetterReason.DEVICE_USER_MISMATCH,
                f"device {device_id!r} belongs to another user than {user_id}",
            )
        return None

    def _time_problem(
        self, ts_ms: int, end_ms: int, now_ms: int
    ) -> tuple[DeadLetterReason, str] | None:
        window = self.receive_window
        ahead_s = (end_ms - now_ms) / 1000.0
        if ahead_s > window.max_ahead_s:
            return (
                DeadLetterReason.TS_AHEAD,
                f"reading time {_iso(end_ms)} is {ahead_s:.0f} s ahead of the receive "
                f"time {_iso(now_ms)} (limit {window.max_ahead_s:g} s): device clock wrong",
            )
        age_s = (now_ms - ts_ms) / 1000.0
        if window.max_age_s is not None and age_s > window.max_age_s:
            return (
                DeadLetterReason.TS_TOO_OLD,
                f"reading time {_iso(ts_ms)} is {age_s:.0f} s before the receive "
                f"time (limit {window.max_age_s:g} s)",
            )
        return None

    def _sequence(
        self,
        columns: ReadingColumns,
        row: int,
        missing: dict[str, int],
        result: BatchResult,
        *,
        trusted_ts: bool = True,
    ) -> tuple[DeadLetterReason, str] | None:
        """Check the device's numbering; None to fold the reading in, else (reason, detail)
        with reason ``duplicate`` (ignored) or a dead letter's. An SOS is always folded in
        (its alert is idempotent on its natural key, so a redelivery has no second one).
        A reading whose ``ts`` is not ``trusted_ts`` may advance the seq, never the ts, and
        never move the seq back. ``missing`` counts, per device with an accepted message,
        the messages its numbering shows were lost."""
        device, seq, ts_ms = columns.device_id[row], columns.seq[row], columns.ts_ms[row]
        last = self.last_seq.get(device)
        if trusted_ts and last is not None and seq == last + 1:  # the next one: nothing lost
            self.last_seq[device] = seq
            last_ts = self.last_ts.get(device)
            self.last_ts[device] = ts_ms if last_ts is None or ts_ms > last_ts else last_ts
            missing.setdefault(device, 0)
            return None
        check = check_seq(last, self.last_ts.get(device), seq, ts_ms)
        if not trusted_ts and check.verdict in (SeqVerdict.RESET, SeqVerdict.REGRESSION):
            return None  # its newer ts proves nothing: the numbering stays, it is refused
        if check.accepted:
            self.last_seq[device] = seq
            if trusted_ts:
                self.last_ts[device] = max(self.last_ts.get(device, ts_ms), ts_ms)
            missing[device] = missing.get(device, 0) + check.missing
            if check.missing:
                result.seq_gaps += check.missing
                self.loss_log.warn(
                    device,
                    f"{check.missing} message(s) before seq {seq} never arrived "
                    "(lost at the broker? see max_queued_messages)",
                )
            if check.verdict is SeqVerdict.RESET:
                self.metrics.seq_resets.inc()
                log.info("device %s: seq counter restarted (%s -> %s)", device, last, seq)
            elif check.verdict is SeqVerdict.JUMP:
                log.warning("device %s: seq jumped from %s to %s", device, last, seq)
            return None
        if columns.kind[row] == PayloadKind.EVENT and columns.event[row] == DeviceEvent.SOS:
            return None
        if check.verdict is SeqVerdict.DUPLICATE:
            return DeadLetterReason.DUPLICATE, ""
        return (
            DeadLetterReason.SEQ_REGRESSION,
            f"seq {seq} is not above the device's last seq {last} although its ts is "
            "newer: the device numbers messages out of sending order",
        )

    def _dead(  # noqa: PLR0917 - one dead letter's fields
        self,
        message: Inbound,
        now: datetime,
        reason: str,
        detail: str,
        device_id: str,
        user_id: int,
    ) -> DeadLetterRow:
        return DeadLetterRow(
            now, _topic(message), message.payload, reason, detail, device_id, user_id
        )

    def _restore(self, user_ids: set[int]) -> None:
        """Load checkpoints of users this process has not seen yet (after a restart)."""
        missing = user_ids - self.restored
        if not missing:
            return
        blobs = self._read(lambda session: load_checkpoints(session, missing))
        self.engine.restore(restore_checkpoints(blobs, self.metrics))
        self.restored |= missing

    def _commit(
        self,
        effects: Effects,
        dead: list[DeadLetterRow],
        progress: dict[str, DeviceProgress],
        now: datetime,
        result: BatchResult,
        *,
        fixes: Sequence[Fix] = (),
    ) -> None:
        checkpoints = {
            user: (
                orjson.dumps(self.engine.users[user].to_json(), option=orjson.OPT_SERIALIZE_NUMPY),
                self.engine.users[user].watermark_ms,
            )
            for user in effects.touched
        }
        rows = [
            ReadingRow(
                s.user_id,
                utc_from_ms(s.end_ms),
                s.heart_rate_bpm,
                s.hrv_rmssd_ms,
                s.stress_level,
                s.arrhythmia,
                s.reading_type,
            )
            for s in effects.summaries
        ]
        stored, dropped = self.quota.admit(dead)
        for row in dropped:
            self.metrics.dead_letters_dropped.labels(row.reason).inc()
            self.dead_log.warn(
                DeadLetterReason.OVER_QUOTA, f"device {row.device_id!r}: {row.reason} not stored"
            )

        def write() -> None:
            with self.sessions.begin() as session:
                insert_dead_letters(session, stored)
                result.readings = insert_readings(session, rows)
                result.alerts_opened = _apply_actions(session, effects.actions)
                save_checkpoints(session, checkpoints, now)
                advance_devices(session, progress, now)
                save_latest_fixes(session, list(fixes), now)

        self._retrying("write", write, permanent_fails=True)
        self.metrics.batches.inc()
        if result.alerts_opened and self.on_alerts is not None:
            self.on_alerts(result.alerts_opened)

    def _read(self, query: Callable[[Session], _T]) -> _T:
        """Run a read in a session of its own, retried like a commit."""

        def read() -> _T:
            with self.sessions() as session:
                return query(session)

        return self._retrying("read", read)

    def _retrying(
        self, what: str, action: Callable[[], _T], *, permanent_fails: bool = False
    ) -> _T:
        """Run ``action`` until the database takes it (exponential backoff up to
        ``retry_max_s``): an outage stalls the batch, it never kills the worker. Raises
        once ``should_stop`` is true, and with ``permanent_fails`` raises
        :class:`_RefusedForGood` at once when the database refuses the data itself."""
        delay = 0.5
        while True:
            try:
                return action()
            except SQLAlchemyError as error:
                self.metrics.db_errors.inc()
                if permanent_fails and refused_for_good(error):
                    raise _RefusedForGood(error) from error
                if self.should_stop():
                    raise
                log.warning(
                    "database %s failed (%s); retrying in %.1f s",
                    what,
                    type(error).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    def _count(
        self, result: BatchResult, dead: list[DeadLetterRow], actions: list[tuple[int, AlertAction]]
    ) -> None:
        metrics = self.metrics
        metrics.accepted.inc(result.accepted)
        metrics.duplicates.inc(result.duplicates)
        metrics.seq_gaps.inc(result.seq_gaps)
        metrics.readings.inc(result.readings)
        for row in dead:
            metrics.dead_letters.labels(row.reason).inc()
            self.dead_log.warn(row.reason, row.detail)
        for _, action in actions:
            metrics.alerts.labels(action.action).inc()
        if result.reading_time_ms:
            metrics.lag.set(time.time() - result.reading_time_ms / 1000.0)


def _apply_actions(session: Session, actions: list[tuple[int, AlertAction]]) -> list[int]:
    """Store alert actions in order; return ids of alerts newly created."""
    created = []
    for user_id, action in actions:
        change = alert_repo.AlertChange(
            user_id=user_id,
            kind=action.alert_type,
            severity=action.severity,
            onset_at=utc_from_ms(action.onset_ms),
            at=utc_from_ms(action.at_ms),
            message=action.message,
            heart_rate=action.heart_rate_bpm,
            stress_level=action.stress_level,
        )
        if action.action == "open":
            alert_id, was_created = alert_repo.open_alert(session, change)
            if was_created:
                created.append(alert_id)
        elif action.action == "update":
            alert_repo.update_alert(session, change)
        else:
            alert_repo.clear_alert(session, change)
    return created


def _iso(at_ms: int) -> str:
    try:
        return utc_from_ms(at_ms).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return f"{at_ms} ms"


def _topic(message: Inbound) -> str | None:
    return None if message.topic is None else message.topic[:255]


def _fix(columns: ReadingColumns, row: int) -> Fix:
    """A decoded ``loc`` row (values [lat, lon, acc_m or NaN]) as a location fix."""
    lat, lon, acc_m = (float(v) for v in columns.values_of(row)[:3])
    return Fix(
        columns.user_id[row],
        columns.ts_ms[row],
        lat,
        lon,
        None if math.isnan(acc_m) else acc_m,
    )
