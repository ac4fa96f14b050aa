from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError
from storage.models import HealthReading
from storage.repositories.alerts import AlertChange, open_alert
from storage.repositories.history import (
    AlertFilter,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    iter_alerts,
    list_alerts,
    readings_series,
)
from storage.repositories.people import add_user
from vitals.api.alerts_csv import csv_row

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_cursor_round_trip_and_rejects_garbage() -> None:
    assert decode_cursor(encode_cursor(T0, 42)) == (T0, 42)
    for bad in ("", "abc", "bm90LWEtY3Vyc29y", encode_cursor(T0, 1) + "!!"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_pages_cover_every_alert_once_with_equal_times(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-a").id
        for index in range(23):
            at = T0 + timedelta(minutes=index // 3)  # three alerts share each second
            open_alert(
                session,
                AlertChange(user, "sos", "critical", at - timedelta(seconds=index), at, "sos"),
            )
    with sessions() as session:
        pages = []
        cursor = None
        while True:
            page = list_alerts(session, AlertFilter(user_id=user), limit=4, cursor=cursor)
            pages.append([row.id for row in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        everything = list(iter_alerts(session, AlertFilter(), max_rows=1000))
        capped = list(iter_alerts(session, AlertFilter(), max_rows=5))
        with pytest.raises(StorageError, match="501"):
            list_alerts(session, AlertFilter(), limit=501)
    ids = [alert_id for page in pages for alert_id in page]
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert ids == [row.id for row in everything] and len(set(ids)) == 23
    keys = [(row.created_at, row.id) for row in everything]
    assert keys == sorted(keys, reverse=True)
    assert len(capped) == 5
    assert all(row.kind == "sos" for row in everything)


def test_readings_bucket_means_match_numpy(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(8)
    hr = rng.normal(70, 6, 600).round().astype(int)
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-a").id
        for minute, bpm in enumerate(hr):
            session.add(
                HealthReading(
                    userId=user,
                    heartRate=int(bpm),
                    hrv=40,
                    stressLevel=4,
                    createdAt=T0 + timedelta(minutes=minute),
                )
            )
    with sessions() as session:
        series = readings_series(session, user, T0, T0 + timedelta(hours=10), max_points=60)
        raw = readings_series(session, user, T0, T0 + timedelta(hours=1), max_points=60)
    assert series.bucket_seconds == 600 and len(series.points) == 60
    expected = hr.reshape(60, 10).mean(axis=1)
    got = np.array([p.heart_rate_bpm for p in series.points])
    assert np.allclose(got, expected, atol=0.01)
    assert raw.bucket_seconds == 0 and len(raw.points) == 60


def test_csv_cells_cannot_run_as_formulas(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-a", name="=HYPERLINK(1)").id
        open_alert(session, AlertChange(user, "high_stress", "low", T0, T0, "-2+3"))
    with sessions() as session:
        row = list_alerts(session, AlertFilter(), limit=1).items[0]
    cells = csv_row(row)
    assert cells[2] == "'=HYPERLINK(1)" and cells[-1] == "'-2+3"
