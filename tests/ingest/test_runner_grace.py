"""The live runner after a (re)connection: the persistent session's backlog may arrive after
newer messages (a broker restart): one device's older messages after another device's
newer ones of the same user. Windows are held for the grace, so the older data is folded
in rather than refused as late; once the grace ends the due windows close at once. The
grace's clock is stepped by the test, so nothing depends on how busy the machine is."""

from __future__ import annotations

import queue
import threading
import time

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from ingest.runner import LiveRunner
from storage.models import DeadLetter, HealthReading
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.ingest.traces import rest_trace
from tests.reliability.report import record


@pytest.fixture
def user_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-grace")
        add_device(session, user_id=user.id, device_id="watch-g")
        add_device(session, user_id=user.id, device_id="strap-g")
        return user.id


def _two_devices(user: int, watch: str, strap: str) -> tuple[list[Inbound], list[Inbound]]:
    """A resting trace split over two devices of one user: RR from the strap, accel from
    the watch, each numbered 1, 2, ... in time order."""
    by_device: dict[str, list[Inbound]] = {watch: [], strap: []}
    for topic, raw in rest_trace(user, watch, minutes=5, hr_bpm=72):
        obj = orjson.loads(raw)
        device = strap if obj["kind"] == "rr" else watch
        obj["device"], obj["seq"] = device, len(by_device[device]) + 1
        by_device[device].append(
            Inbound(topic.replace(f"/{watch}/", f"/{device}/"), orjson.dumps(obj))
        )
    return by_device[strap], by_device[watch]


def _wait(check: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:.0f} s")
        time.sleep(0.02)


def _rows(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    HealthReading.createdAt, HealthReading.heartRate, HealthReading.hrv
                ).order_by(HealthReading.createdAt)
            )
        ]


def test_backlog_arriving_after_newer_messages_is_not_late(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    rr, accel = _two_devices(user_id, "watch-g", "strap-g")
    messages = rr + accel
    # the broker delivers the strap's messages first, then the watch's older backlog
    reordered = [Inbound(m.topic, m.payload, i) for i, m in enumerate(messages)]
    inbox: queue.Queue[Inbound] = queue.Queue()
    for message in reordered:
        inbox.put(message)
    processor = BatchProcessor(sessions, Engine())
    now = [0.0]
    acked: list[Inbound] = []
    connected = threading.Event()
    connected.set()
    runner = LiveRunner(
        processor,
        inbox,
        acked.append,
        batch_max=10,  # many batches: the newer ones are committed before the older arrive
        idle_flush_s=3600,
        connected=connected,
        reconnect_grace_s=30.0,
        clock=lambda: now[0],
    )
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, args=(stop,))
    worker.start()
    try:
        _wait(lambda: len(acked) == len(messages), "every message committed and acked")
        assert processor.hold_windows and _rows(sessions) == []  # held: nothing closed yet
        now[0] = 31.0  # the grace is over
        _wait(lambda: not processor.hold_windows, "grace ended")
        _wait(lambda: len(_rows(sessions)) >= 4, "due windows closed")
    finally:
        stop.set()
        worker.join(timeout=30)
    processor.flush()
    with sessions() as session:
        assert session.scalars(select(DeadLetter.reason)).all() == []  # nothing late
    got = _rows(sessions)

    with sessions.begin() as session:  # the same trace in order, as a reference
        session.query(HealthReading).delete()
        other = add_user(session, open_id="oauth-grace-ref")
        add_device(session, user_id=other.id, device_id="watch-r")
        add_device(session, user_id=other.id, device_id="strap-r")
        other_id = other.id
    in_order = BatchProcessor(sessions, Engine())
    rr, accel = _two_devices(other_id, "watch-r", "strap-r")
    reference = sorted(rr + accel, key=lambda m: int(orjson.loads(m.payload)["ts"]))
    for start in range(0, len(reference), 10):
        in_order.handle(reference[start : start + 10])
    in_order.flush()
    assert got == _rows(sessions)
    record("clock and order", "a second device's older backlog after newer data (reconnect)",
           messages=len(messages), late=0, lost=0)  # fmt: skip
