"""Scoring: tables of cases for the pure function, and the query on real databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from simulators.scoring import RaisedAlert, format_report, score_alerts
from simulators.trace_io import Label
from storage.models import AlertState, HealthAlert
from storage.repositories.outcomes import StoredAlert, alerts_from_db
from storage.repositories.people import add_user

MIN = 60_000
AF = Label(1, "arrhythmia", 10 * MIN, 40 * MIN)
FALL = Label(2, "fall_detected", 50 * MIN, 50 * MIN)
EXERCISE = Label(3, "exercise", 0, 20 * MIN)
CANCELLED = Label(2, "cancelled_fall", 80 * MIN, 80 * MIN + 15_000)


@pytest.mark.parametrize(
    ("alerts", "kind", "detected", "false", "delay_s"),
    [
        ([], "arrhythmia", 0, 0, math.nan),
        ([RaisedAlert(1, "arrhythmia", 17 * MIN)], "arrhythmia", 1, 0, 420.0),
        # before the onset: false, and the event is missed
        ([RaisedAlert(1, "arrhythmia", 9 * MIN)], "arrhythmia", 0, 1, math.nan),
        # after the end but within the 5 min tolerance: detected
        ([RaisedAlert(1, "arrhythmia", 44 * MIN)], "arrhythmia", 1, 0, 2040.0),
        # after end + tolerance: false
        ([RaisedAlert(1, "arrhythmia", 46 * MIN)], "arrhythmia", 0, 1, math.nan),
        # the right time but another user: false and missed
        ([RaisedAlert(9, "arrhythmia", 17 * MIN)], "arrhythmia", 0, 1, math.nan),
        # the right user and time but another type: does not detect AF
        ([RaisedAlert(1, "high_stress", 17 * MIN)], "arrhythmia", 0, 0, math.nan),
        # two alerts for one event: detected once, delay from the first, no false alert
        (
            [RaisedAlert(1, "arrhythmia", 30 * MIN), RaisedAlert(1, "arrhythmia", 20 * MIN)],
            "arrhythmia",
            1,
            0,
            600.0,
        ),
        ([RaisedAlert(2, "fall_detected", 50 * MIN + 31_000)], "fall_detected", 1, 0, 31.0),
    ],
)
def test_detection_false_alerts_and_delay(
    alerts: list[RaisedAlert], kind: str, detected: int, false: int, delay_s: float
) -> None:
    report = score_alerts([AF, FALL, EXERCISE, CANCELLED], alerts, user_hours=10.0)
    row = next(t for t in report.types if t.alert_type == kind)
    assert (row.detected, row.false_alerts) == (detected, false)
    assert row.events == 1
    assert row.sensitivity == detected
    assert row.false_per_hour == pytest.approx(false / 10.0)
    if math.isnan(delay_s):
        assert math.isnan(row.delay_median_s)
    else:
        assert row.delay_median_s == pytest.approx(delay_s)


def test_false_alerts_during_confounders_are_attributed() -> None:
    alerts = [
        RaisedAlert(3, "high_heart_rate", 15 * MIN),  # during exercise
        RaisedAlert(2, "fall_detected", 80 * MIN + 40_000),  # a fall that was cancelled
        RaisedAlert(5, "high_heart_rate", 15 * MIN),  # no label at all
    ]
    report = score_alerts([AF, FALL, EXERCISE, CANCELLED], alerts, user_hours=4.0)
    assert report.confounders["exercise"] == (1, {"high_heart_rate": 1})
    assert report.confounders["cancelled_fall"] == (1, {"fall_detected": 1})
    tachy = next(t for t in report.types if t.alert_type == "high_heart_rate")
    assert (tachy.events, tachy.false_alerts, tachy.false_per_hour) == (0, 2, 0.5)
    assert math.isnan(tachy.sensitivity)


def test_delay_percentiles_over_many_events() -> None:
    labels = [Label(u, "sos", u * MIN, u * MIN) for u in range(1, 21)]
    alerts = [RaisedAlert(u, "sos", u * MIN + u * 1000) for u in range(1, 21)]
    row = next(t for t in score_alerts(labels, alerts).types if t.alert_type == "sos")
    assert row.sensitivity == 1.0
    assert row.delay_median_s == pytest.approx(10.5)
    assert row.delay_p95_s == pytest.approx(19.05)
    assert math.isnan(row.false_per_hour)  # no user-hours given


def test_report_formats_as_markdown_and_json() -> None:
    report = score_alerts([AF], [RaisedAlert(1, "arrhythmia", 17 * MIN)], user_hours=2.0)
    table = format_report(report)
    assert "| arrhythmia | 1 | 1 | 1.00 | 1 | 0 | 0.0000 | 420 | 420 |" in table
    data = report.to_json()
    assert data["types"][0]["alert_type"] == "arrhythmia"
    assert data["types"][1]["delay_median_s"] is None


def _at(minutes: float) -> datetime:
    return datetime.fromtimestamp(minutes * 60, tz=UTC)


def test_alerts_from_db_reads_types_sos_and_maps_open_ids(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        u1 = add_user(s, open_id="vitals-sim-1").id
        u2 = add_user(s, open_id="someone-else").id
        af = HealthAlert(userId=u1, alertType="arrhythmia", severity="high", createdAt=_at(17))
        sos = HealthAlert(userId=u2, alertType=None, severity="critical", createdAt=_at(3))
        s.add_all([af, sos])
        s.flush()
        s.add(AlertState(alertId=sos.id, userId=u2, kind="sos", onsetAt=_at(3), lastSeenAt=_at(3)))
    alerts = alerts_from_db(engine, {"vitals-sim-1": 101})
    assert alerts == [
        StoredAlert(u2, "sos", 3 * MIN),
        StoredAlert(101, "arrhythmia", 17 * MIN),
    ]
