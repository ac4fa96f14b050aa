"""WFDB and CSV import: round trips through the JSONL contract."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest
import wfdb

from simulators.errors import SimulatorError
from simulators.importers import import_csv, import_wfdb
from simulators.trace_arrays import check_trace, load_user
from simulators.trace_io import companion_paths, read_labels, read_manifest, read_trace

FS = 250
START_MS = 1_736_900_000_000


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 60 s WFDB record written with wfdb.wrsamp/wrann from a NeuroKit2 ECG (the wfdb
    wheel ships no sample records), R peaks annotated as beats, an AF rhythm segment."""
    folder = tmp_path_factory.mktemp("wfdb")
    ecg = nk.ecg_simulate(duration=60, sampling_rate=FS, heart_rate=70, random_state=3)
    _, info = nk.ecg_peaks(ecg, sampling_rate=FS)
    peaks = np.asarray(info["ECG_R_Peaks"])
    wfdb.wrsamp(
        "rec",
        fs=FS,
        units=["mV"],
        sig_name=["ECG"],
        p_signal=np.asarray(ecg).reshape(-1, 1),
        fmt=["16"],
        write_dir=str(folder),
    )
    symbols = ["N"] * peaks.size
    samples = list(peaks)
    notes = [""] * peaks.size
    # rhythm annotations: normal from 0, AF from 20 s to 40 s, normal again
    for at, note in ((1, "(N"), (20 * FS, "(AFIB"), (40 * FS, "(N")):
        samples.append(at)
        symbols.append("+")
        notes.append(note)
    order = np.argsort(samples, kind="stable")
    wfdb.wrann(
        "rec",
        "atr",
        np.asarray(samples)[order],
        symbol=list(np.asarray(symbols)[order]),
        aux_note=list(np.asarray(notes)[order]),
        write_dir=str(folder),
    )
    return folder / "rec", peaks


def test_wfdb_round_trip_keeps_every_beat(record: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, peaks = record
    out = tmp_path / "rec.jsonl"
    result = import_wfdb(path, out, user=1, device="chest-01", start_ms=START_MS, ecg=True)
    payloads = list(read_trace(out))
    assert check_trace(payloads) == []
    sig = load_user(out, 1, waveforms=True)
    expected = START_MS + np.round(peaks * 1000 / FS)
    np.testing.assert_array_equal(sig.beat_ms, expected[1:])
    np.testing.assert_array_equal(sig.rr_ms, np.diff(expected))
    t, values = sig.waveforms["ecg"]
    assert values.size == 60 * FS and t[0] == START_MS
    assert result.labels[0].type == "arrhythmia"
    assert (result.labels[0].start_ms, result.labels[0].end_ms) == (
        START_MS + 20_000,
        START_MS + 40_000,
    )
    labels_path, manifest_path = companion_paths(out)
    assert read_labels(labels_path) == list(result.labels)
    assert read_manifest(manifest_path).users[0].devices == ("chest-01",)


def test_wfdb_without_annotations_detects_beats(
    record: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, peaks = record
    copy = tmp_path / "bare"
    for suffix in (".hea", ".dat"):
        data = path.with_suffix(suffix).read_bytes()
        if suffix == ".hea":
            data = data.replace(b"rec", b"bare")
        copy.with_suffix(suffix).write_bytes(data)
    out = tmp_path / "bare.jsonl.gz"
    import_wfdb(copy, out, user=2, device="chest-02", start_ms=START_MS)
    sig = load_user(out, 2)
    assert abs(sig.beat_ms.size - (peaks.size - 1)) <= 2
    assert np.median(sig.rr_ms) == pytest.approx(np.median(np.diff(peaks)) * 1000 / FS, abs=8)


def test_csv_rr_and_accel_import(tmp_path: Path) -> None:
    rr = tmp_path / "rr.csv"
    rr.write_text("time_s,rr_ms\n" + "".join(f"{0.8 * (k + 1):.3f},800\n" for k in range(30)))
    out = tmp_path / "rr.jsonl"
    import_csv(rr, out, user=3, device="strap", start_ms=START_MS)
    sig = load_user(out, 3)
    assert check_trace(read_trace(out)) == []
    assert sig.rr_ms.size == 30 and set(sig.rr_ms) == {800.0}
    assert sig.beat_ms[0] == START_MS + 800

    acc = tmp_path / "acc.csv"
    acc.write_text(
        "ts_ms,x,y,z\n"
        + "".join(f"{START_MS + k * 40},0.0,0.0,{1 + 0.001 * k:.3f}\n" for k in range(100))
    )
    out = tmp_path / "acc.jsonl"
    import_csv(acc, out, user=3, device="watch")
    payloads = list(read_trace(out))
    assert [p["fs"] for p in payloads] == [25] * 4
    assert payloads[1]["ts"] == START_MS + 1000 and len(payloads[1]["z"]) == 25


def test_csv_without_known_columns_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(SimulatorError, match="neither rr_ms nor x,y,z"):
        import_csv(bad, tmp_path / "o.jsonl", user=1, device="d")


def test_imported_wfdb_record_replays_through_the_pipeline(
    record: tuple[Path, np.ndarray], tmp_path: Path, replay_to_sqlite: Callable[[Path], Path]
) -> None:
    """A recorded trace replays like a simulated one: its beats and raw ECG become one
    healthReadings row per minute with the recording's heart rate."""
    path, peaks = record
    out = tmp_path / "rec.jsonl.gz"
    import_wfdb(path, out, user=1, device="chest-01", start_ms=START_MS, ecg=True)
    db = replay_to_sqlite(out)
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT heartRate, readingType FROM healthReadings ORDER BY createdAt"
        ).fetchall()
        dead = connection.execute("SELECT COUNT(*) FROM deadLetters").fetchone()[0]
    assert dead == 0
    assert 1 <= len(rows) <= 2  # 60 s from a minute boundary + 40 s: one or two windows
    expected_bpm = 60 * FS / float(np.mean(np.diff(peaks)))
    assert all(abs(hr - expected_bpm) <= 3 for hr, _ in rows)
    assert {kind for _, kind in rows} == {"automatic"}
