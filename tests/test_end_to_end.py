"""simulate -> replay -> score on the embedded default: every event type of a simulated
trace is found by the default detectors, confounders raise nothing, and replaying the
same trace twice gives an identical alert history."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from simulators.generate import Options, simulate
from simulators.plan import scenario_plan
from simulators.scoring import score_alerts
from simulators.trace_io import read_labels, read_manifest
from storage import create_engine_from_url
from storage.models import AlertState, HealthAlert
from storage.repositories.outcomes import alerts_from_db
from vitals.cli import main

SCENARIO = Path(__file__).with_name("scenarios") / "every_event.json"


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trace") / "every.jsonl.gz"
    simulate(scenario_plan(SCENARIO), out, Options(accel_batch_ms=5000))
    return out


def _replay(trace: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", db_url)
    monkeypatch.setenv("VITALS_SMS_OUTBOX_PATH", str(tmp / "outbox.jsonl"))
    if db_url.startswith("mysql"):
        assert main(["db", "upgrade"]) == 0
    assert main(["replay", str(trace), "--register", "--quiet"]) == 0


def _history(db_url: str) -> list[tuple[object, ...]]:
    engine = create_engine_from_url(db_url)
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                HealthAlert.userId,
                HealthAlert.alertType,
                HealthAlert.severity,
                HealthAlert.createdAt,
                HealthAlert.message,
                AlertState.kind,
                AlertState.onsetAt,
            )
            .join(AlertState, AlertState.alertId == HealthAlert.id)
            .order_by(HealthAlert.createdAt, HealthAlert.userId)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.mark.slow
def test_every_event_type_is_found_and_confounders_are_quiet(
    trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite:///{tmp_path}/scored.db"
    _replay(trace, db_url, monkeypatch, tmp_path)
    labels_path = trace.with_name("every.labels.jsonl")
    manifest = read_manifest(trace.with_name("every.users.json"))
    open_ids = {entry.open_id: entry.user for entry in manifest.users}
    engine = create_engine_from_url(db_url)
    report = score_alerts(
        read_labels(labels_path), alerts_from_db(engine, open_ids), user_hours=manifest.user_hours
    )
    by_type = {score.alert_type: score for score in report.types}
    for alert_type in (
        "arrhythmia",
        "high_heart_rate",
        "low_heart_rate",
        "high_stress",
        "fall_detected",
        "sos",
    ):
        assert by_type[alert_type].events >= 1, alert_type
        assert by_type[alert_type].sensitivity == 1.0, alert_type
        assert by_type[alert_type].false_alerts == 0, alert_type
    for confounder, (count, false_alerts) in report.confounders.items():
        assert count >= 1, confounder
        assert sum(false_alerts.values()) == 0, confounder


@pytest.mark.slow
@pytest.mark.mariadb
def test_replaying_twice_gives_identical_alert_history(
    trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mysql_url: str
) -> None:
    first = f"sqlite:///{tmp_path}/first.db"
    _replay(trace, first, monkeypatch, tmp_path)
    once = _history(first)
    _replay(trace, first, monkeypatch, tmp_path)  # again into the same database: no effect
    assert _history(first) == once
    _replay(trace, mysql_url, monkeypatch, tmp_path)  # and into MariaDB: the same history
    assert _history(mysql_url) == once
    assert len(once) >= 6
