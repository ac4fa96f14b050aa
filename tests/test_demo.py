"""The embedded demo path: in-process broker, SQLite, SMS outbox — no services."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from notifier.message import segments
from vitals.cli import main


@pytest.mark.slow
def test_demo_raises_the_scripted_alerts_and_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir), "--speed", "400"]) == 0
    out = capsys.readouterr().out
    assert "Alerts raised (4)" in out
    # the next commands point at the demo's own database, not ./vitals.db
    assert f"vitals keys create --role admin --name demo --db sqlite:///{workdir}/vitals.db" in out
    with sqlite3.connect(workdir / "vitals.db") as db:
        kinds = sorted(k for (k,) in db.execute("SELECT kind FROM alertStates"))
        dead = db.execute("SELECT COUNT(*) FROM deadLetters").fetchone()[0]
        readings = db.execute("SELECT COUNT(*) FROM healthReadings").fetchone()[0]
    # the cancelled fall and the jumps of user 5 must not alert
    assert kinds == ["arrhythmia", "fall_detected", "high_heart_rate", "sos"]
    assert dead == 0
    assert 290 <= readings <= 305  # 5 wearers x 60 one-minute windows
    lines = [orjson.loads(line) for line in (workdir / "outbox.jsonl").read_text().splitlines()]
    texts = [line for line in lines if "body" in line]
    assert len(texts) >= 4
    assert all(segments(t["body"]) <= 2 for t in texts)  # GSM-7, two segments at most
    assert "+1555" not in out  # numbers masked on the console
