"""Batch processing: decode, check devices, drop duplicates, run the engine, and commit
every effect of the batch in one transaction — retried until it succeeds — before the
caller acknowledges the messages to the broker.

Exactly-once effects on top of at-least-once delivery: a message is acknowledged only
after its effects *and* the per-user detector checkpoint are committed, and the highest
committed ``seq`` of each device is stored in the same transaction, so a redelivered
message (seq ≤ lastSeq) has no second effect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from detectors import AlertAction
from ingest.engine import Effects, Engine
from ingest.errors import InvalidPayload
from ingest.metrics import Metrics
from ingest.payload import DEFAULT_LIMITS, Limits, Reading, decode
from ingest.userstate import UserState
from storage.repositories import alerts as alert_repo
from storage.repositories.ingest import (
    DeadLetterRow,
    DeviceRecord,
    ReadingRow,
    advance_devices,
    insert_dead_letters,
    insert_readings,
    load_checkpoints,
    load_devices,
    save_checkpoints,
)
from storage.types import utc_from_ms

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One raw message as it came off the broker (or a trace line)."""

    topic: str | None  # None for a line of a trace file
    payload: bytes
    token: object = None  # the source's handle to acknowledge it (MQTT mid)


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    readings: int = 0
    alerts_opened: list[int] = field(default_factory=list)
    reading_time_ms: int = 0
    users: set[int] = field(default_factory=set)


class _RateLimitedLog:
    """At most one line per reason every ``interval_s``: a flood of bad input cannot flood
    the logs (and payloads, which may hold personal data, are never logged)."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warn(self, reason: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(reason, -1e9) >= self.interval_s:
            skipped = self.suppressed.pop(reason, 0)
            extra = f" ({skipped} more since last report)" if skipped else ""
            log.warning("dead letter %s: %s%s", reason, message, extra)
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
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.limits = limits
        self.on_alerts = on_alerts
        self.retry_max_s = retry_max_s
        self.should_stop = should_stop
        self.devices: dict[str, DeviceRecord] = {}
        self.last_seq: dict[str, int] = {}
        self.restored: set[int] = set()
        self.dead_log = _RateLimitedLog()
        self.reading_now_ms = 0  # latest reading time seen: the replay/demo clock

    # -- batch --------------------------------------------------------------------
    def handle(self, batch: Sequence[Inbound]) -> BatchResult:
        """Process and durably commit one batch; returns once it is safe to acknowledge."""
        now = datetime.now(UTC)
        result = BatchResult()
        self.metrics.messages.inc(len(batch))
        decoded, dead = self._decode(batch, now)
        self._refresh_devices({reading.device_id for _, reading in decoded} - set(self.devices))
        readings: list[Reading] = []
        source: dict[tuple[str, int], Inbound] = {}
        for message, reading in decoded:
            problem = self._device_problem(reading)
            if problem is not None:
                dead.append(self._dead(message, now, *problem, reading))
                continue
            if reading.seq <= self.last_seq.get(reading.device_id, -1):
                result.duplicates += 1
                continue
            self.last_seq[reading.device_id] = reading.seq
            readings.append(reading)
            source[(reading.device_id, reading.seq)] = message
        self._restore({r.user_id for r in readings})
        effects = self.engine.process(readings)
        for late in effects.late:
            detail = f"reading time {late.ts_ms} is in a window already stored"
            dead.append(self._dead(source[(late.device_id, late.seq)], now, "late", detail, late))
        result.accepted = len(readings) - len(effects.late)
        result.dead_letters = len(dead)
        result.reading_time_ms = max((r.end_ms for r in readings), default=0)
        result.users = effects.touched
        self.reading_now_ms = max(self.reading_now_ms, result.reading_time_ms)
        self._commit(effects, dead, {r.device_id for r in readings}, now, result)
        self._count(result, dead, effects.actions)
        return result

    def flush(self, user_ids: Sequence[int] | None = None) -> BatchResult:
        """Close open windows (end of a replay, or users silent for too long) and commit."""
        now = datetime.now(UTC)
        result = BatchResult()
        effects = self.engine.flush(user_ids)
        self._commit(effects, [], set(), now, result)
        self._count(result, [], effects.actions)
        return result

    # -- steps ----------------------------------------------------------------------
    def _decode(
        self, batch: Sequence[Inbound], now: datetime
    ) -> tuple[list[tuple[Inbound, Reading]], list[DeadLetterRow]]:
        decoded, dead = [], []
        for message in batch:
            try:
                decoded.append((message, decode(message.topic, message.payload, self.limits)))
            except InvalidPayload as error:
                dead.append(
                    DeadLetterRow(
                        now,
                        _topic(message),
                        message.payload,
                        error.reason,
                        error.detail,
                        error.device_id,
                        error.user_id,
                    )
                )
        return decoded, dead

    def _refresh_devices(self, unknown: set[str]) -> None:
        if not unknown:
            return
        for record in self._read(lambda session: load_devices(session, unknown)):
            self.devices[record.device_id] = record
            self.engine.placements[record.device_id] = record.placement or ""
            if record.last_seq is not None:
                self.last_seq.setdefault(record.device_id, record.last_seq)

    def reload_devices(self) -> None:
        """Pick up devices enabled/disabled since start (called periodically)."""
        records = self._read(load_devices)
        self.devices = {record.device_id: record for record in records}
        self.engine.placements = {r.device_id: r.placement or "" for r in records}

    def _device_problem(self, reading: Reading) -> tuple[str, str] | None:
        device = self.devices.get(reading.device_id)
        if device is None:
            return "unknown_device", f"device {reading.device_id!r} is not registered"
        if not device.enabled:
            return "device_disabled", f"device {reading.device_id!r} is disabled"
        if device.user_id != reading.user_id:
            return (
                "device_user_mismatch",
                f"device {reading.device_id!r} belongs to another user than {reading.user_id}",
            )
        return None

    def _dead(
        self, message: Inbound, now: datetime, reason: str, detail: str, reading: Reading
    ) -> DeadLetterRow:
        return DeadLetterRow(
            now,
            _topic(message),
            message.payload,
            reason,
            detail,
            reading.device_id,
            reading.user_id,
        )

    def _restore(self, user_ids: set[int]) -> None:
        """Load checkpoints of users this process has not seen yet (after a restart)."""
        missing = user_ids - self.restored
        if not missing:
            return
        blobs = self._read(lambda session: load_checkpoints(session, missing))
        self.engine.restore(UserState.from_json(orjson.loads(blob)) for blob in blobs.values())
        self.restored |= missing

    def _commit(
        self,
        effects: Effects,
        dead: list[DeadLetterRow],
        devices: set[str],
        now: datetime,
        result: BatchResult,
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
        seqs = {device: self.last_seq[device] for device in devices}

        def write() -> None:
            with self.sessions.begin() as session:
                insert_dead_letters(session, dead)
                result.readings = insert_readings(session, rows)
                result.alerts_opened = _apply_actions(session, effects.actions)
                save_checkpoints(session, checkpoints, now)
                advance_devices(session, seqs, now)

        self._retrying("write", write)
        self.metrics.batches.inc()
        if result.alerts_opened and self.on_alerts is not None:
            self.on_alerts(result.alerts_opened)

    def _read(self, query: Callable[[Session], _T]) -> _T:
        """Run a read in a session of its own, retried like a commit."""

        def read() -> _T:
            with self.sessions() as session:
                return query(session)

        return self._retrying("read", read)

    def _retrying(self, what: str, action: Callable[[], _T]) -> _T:
        """Run ``action`` until the database takes it (exponential backoff up to
        ``retry_max_s``): an outage stalls the batch, it never kills the worker. Raises
        only once ``should_stop`` is true."""
        delay = 0.5
        while True:
            try:
                return action()
            except SQLAlchemyError as error:
                self.metrics.db_errors.inc()
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


def _topic(message: Inbound) -> str | None:
    return None if message.topic is None else message.topic[:255]
