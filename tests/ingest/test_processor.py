"""The batch processor end to end on a real database (SQLite and MariaDB), no broker:
windows become readings, a sustained tachycardia becomes one alert, redelivery and restart
have no second effect, bad input lands in dead letters with its reason."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter, DetectorState, HealthAlert, HealthReading
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.ingest.traces import T0_MS, rest_trace


@pytest.fixture
def user_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-1", name="Aiko")
        add_device(session, user_id=user.id, device_id="watch-1")
        other = add_user(session, open_id="oauth-2")
        add_device(session, user_id=other.id, device_id="watch-2")
        return user.id


def _inbound(pairs: list[tuple[str, bytes]]) -> list[Inbound]:
    return [Inbound(topic, raw, i) for i, (topic, raw) in enumerate(pairs)]


def _table(
    sessions: sessionmaker[Session],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sessions() as session:
        readings = session.execute(
            select(
                HealthReading.userId,
                HealthReading.createdAt,
                HealthReading.heartRate,
                HealthReading.hrv,
                HealthReading.arrhythmiaDetected,
                HealthReading.readingType,
            ).order_by(HealthReading.createdAt)
        ).all()
        alerts = session.execute(
            select(
                HealthAlert.userId,
                HealthAlert.alertType,
                HealthAlert.severity,
                HealthAlert.createdAt,
            ).order_by(HealthAlert.id)
        ).all()
    return [tuple(r) for r in readings], [tuple(a) for a in alerts]


def _processor(sessions: sessionmaker[Session]) -> BatchProcessor:
    return BatchProcessor(sessions, Engine())


def _feed(processor: BatchProcessor, messages: list[Inbound], size: int = 50) -> None:
    for start in range(0, len(messages), size):
        processor.handle(messages[start : start + size])


def test_tachycardia_at_rest_gives_readings_and_one_alert(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    messages = _inbound(rest_trace(user_id, "watch-1", minutes=16, hr_bpm=132))
    processor = _processor(sessions)
    _feed(processor, messages)
    processor.flush()
    readings, alerts = _table(sessions)
    assert 15 <= len(readings) <= 17
    assert len({r[1] for r in readings}) == len(readings)  # one row per window
    assert all(r[1].timestamp() * 1000 % 60_000 == 0 for r in readings)  # whole minutes
    assert all(125 <= r[2] <= 140 for r in readings)  # type: ignore[operator]
    assert all(r[5] == "automatic" for r in readings)
    assert [(a[1], a[2]) for a in alerts] == [("high_heart_rate", "high")]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DetectorState)) == 1


def test_redelivery_and_restart_have_no_second_effect(
    sessions: sessionmaker[Session], user_id: int, tmp_path: Path
) -> None:
    messages = _inbound(rest_trace(user_id, "watch-1", minutes=16, hr_bpm=132, seed=3))
    half = len(messages) // 2
    first = _processor(sessions)
    _feed(first, messages[:half])
    _feed(first, messages[half - 40 : half])  # redelivered after lost acks
    assert first.metrics.value("vitals_duplicates_total") == 40
    # "crash": a new processor with a fresh engine resumes from the checkpoints, and the
    # broker redelivers the unacknowledged tail of the first run as well
    second = _processor(sessions)
    _feed(second, messages[half - 25 :])
    second.flush()
    assert second.metrics.value("vitals_duplicates_total") == 25
    resumed = _table(sessions)

    reference_engine = create_engine_from_url(f"sqlite:///{tmp_path}/reference.db")
    upgrade(reference_engine)
    reference = session_factory(reference_engine)
    with reference.begin() as session:
        user = add_user(session, open_id="oauth-1")
        add_device(session, user_id=user.id, device_id="watch-1")
    once = _processor(reference)
    _feed(once, messages)
    once.flush()
    assert resumed == _table(reference)
    assert len(resumed[1]) == 1


def test_bad_input_goes_to_dead_letters_and_valid_input_is_kept(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    good = rest_trace(user_id, "watch-1", minutes=2, hr_bpm=70)
    forged = rest_trace(user_id, "watch-2", minutes=1, hr_bpm=70)[:1]  # watch-2 is user 2's
    unknown = rest_trace(user_id, "watch-9", minutes=1, hr_bpm=70)[:1]
    bad = [
        (good[0][0], b"not json at all"),
        (good[0][0], orjson.dumps({"v": 1, "user": user_id})),
        *forged,
        *unknown,
    ]
    batch = _inbound([good[0], *bad, *good[1:]])
    processor = _processor(sessions)
    result = processor.handle(batch)
    assert result.dead_letters == 4
    assert result.accepted == len(good)
    with sessions() as session:
        rows = session.execute(select(DeadLetter.reason, DeadLetter.payload)).all()
    reasons = sorted(reason for reason, _ in rows)
    assert reasons == ["device_user_mismatch", "not_json", "unknown_device", "wrong_type"]
    assert b"not json at all" in {bytes(payload) for _, payload in rows}
    assert processor.metrics.value("vitals_dead_letters_total", reason="not_json") == 1


def test_late_data_is_a_dead_letter_not_a_changed_window(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    messages = rest_trace(user_id, "watch-1", minutes=3, hr_bpm=70)
    processor = _processor(sessions)
    processor.handle(_inbound(messages))
    late = orjson.dumps(
        {
            "v": 1,
            "user": user_id,
            "device": "watch-1",
            "seq": 10_000,
            "ts": T0_MS + 1000,
            "kind": "rr",
            "rr_ms": [850, 850],
        }
    )
    result = processor.handle([Inbound(f"vitals/v1/{user_id}/watch-1/rr", late)])
    assert result.dead_letters == 1
    with sessions() as session:
        assert session.scalars(select(DeadLetter.reason)).all() == ["late"]


def test_sos_opens_a_critical_alert_and_an_emergency_reading(
    sessions: sessionmaker[Session], user_id: int
) -> None:
    messages = rest_trace(user_id, "watch-1", minutes=2, hr_bpm=80)
    sos = orjson.dumps(
        {
            "v": 1,
            "user": user_id,
            "device": "watch-1",
            "seq": 10_000,
            "ts": T0_MS + 90_000,
            "kind": "event",
            "event": "sos",
        }
    )
    processor = _processor(sessions)
    processor.handle(_inbound(messages))
    result = processor.handle([Inbound(f"vitals/v1/{user_id}/watch-1/event", sos)])
    processor.flush()
    assert len(result.alerts_opened) == 1
    readings, alerts = _table(sessions)
    assert [(a[1], a[2]) for a in alerts] == [(None, "critical")]
    assert "emergency" in {r[5] for r in readings}
