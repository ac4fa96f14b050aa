"""The detectors on real recordings (pyhrv's sample data, one adult in sinus rhythm).

These pin what ``python -m simulators.evaluate_real`` reports in the README: agreement
with NeuroKit2 on real intervals, no AF alert on a real hour of sinus rhythm (2 of 60
single windows are called irregular, never 5 of 6), and beats from a real ECG that pass
the quality gate and agree with NeuroKit2's R peaks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from simulators.evaluate_real import evaluate_ecg, evaluate_nni
from simulators.importers import import_csv
from simulators.real_recordings import NNI_CSV, load_nni_ms


def test_hrv_on_real_windows_equals_neurokit_and_no_alert_would_fire() -> None:
    result = evaluate_nni()
    assert result.windows == 60 and result.valid == 60
    assert result.max_rel_deviation <= 1e-9
    assert result.irregular <= 3  # measured: 2 (high-RMSSD minutes); README reports it
    assert result.most_irregular_in_6 < 5
    assert 65 < result.hr_bpm[0] < result.hr_bpm[1] < 90


def test_real_ecg_beats_pass_the_gate_and_match_neurokit_peaks() -> None:
    result = evaluate_ecg()
    assert result.quality_ok == result.segments == 1  # the whole 22 s, as the engine buffers
    assert result.matched == result.beats == result.reference_beats > 20
    assert result.max_rr_difference_ms < 3.0


def test_a_real_hour_replays_without_any_heart_alert(
    tmp_path: Path, replay_to_sqlite: Callable[[Path], Path]
) -> None:
    trace = tmp_path / "real.jsonl.gz"
    import_csv(NNI_CSV, trace, user=7, device="pyhrv-01")
    db = replay_to_sqlite(trace)
    with sqlite3.connect(db) as connection:
        readings = connection.execute(
            "SELECT COUNT(*), MIN(heartRate), MAX(heartRate) FROM healthReadings"
        ).fetchone()
        alerts = connection.execute("SELECT alertType FROM healthAlerts").fetchall()
        dead = connection.execute("SELECT COUNT(*) FROM deadLetters").fetchone()[0]
    minutes = float(load_nni_ms().sum()) / 60_000
    assert dead == 0
    assert minutes - 1 <= readings[0] <= minutes + 2
    assert 65 < readings[1] <= readings[2] < 90
    assert alerts == []
