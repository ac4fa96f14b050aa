"""The three rhythm outcomes stay apart in storage: an unreadable window is NULL, not false."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import HealthReading
from storage.repositories.history import readings_series
from storage.repositories.ingest import ReadingRow, insert_readings
from storage.repositories.outcomes import rhythm_verdict_counts
from storage.repositories.people import add_user

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_unreadable_window_is_stored_and_read_back_as_null(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    verdicts = [True, False, None, None, None, False]  # irregular, regular, unreadable x3
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-rhythm").id
        insert_readings(
            session,
            [
                ReadingRow(user, T0 + timedelta(minutes=i), None, None, None, v, "automatic")
                for i, v in enumerate(verdicts)
            ],
        )
    with sessions() as session:
        stored = session.scalars(
            select(HealthReading.arrhythmiaDetected).order_by(HealthReading.createdAt)
        ).all()
        raw = readings_series(session, user, T0, T0 + timedelta(minutes=6), max_points=10)
        # 2-minute buckets: (irregular, regular), (NULL, NULL), (NULL, regular)
        bucketed = readings_series(session, user, T0, T0 + timedelta(minutes=6), max_points=3)
    assert [None if v is None else bool(v) for v in stored] == verdicts
    assert [p.arrhythmia for p in raw.points] == verdicts
    assert bucketed.bucket_seconds == 120
    assert [p.arrhythmia for p in bucketed.points] == [True, None, False]
    # vitals score counts them apart
    assert rhythm_verdict_counts(engine) == {"irregular": 1, "regular": 2, "unreadable": 3}
