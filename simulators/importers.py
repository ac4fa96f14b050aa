"""Recorded traces into the JSONL contract: WFDB records and CSV files.

WFDB (PhysioNet's format, read with the ``wfdb`` package): R peaks come from the beat
annotations (``atr`` by default; every beat symbol of the WFDB annotation standard
counts) or, without annotations, from ``neurokit2.ecg_peaks``; they become ``rr``
payloads. Rhythm annotations (``+`` with aux note ``(AFIB``/``(AFL``) become
``arrhythmia`` labels, so an AF database record scores like a simulated trace. With
``ecg=True`` the first channel is also written as ``ecg`` payloads (mV).

CSV: a header row, one row per beat (``rr_ms``) or per sample (``x,y,z`` in g); the
time column is ``ts_ms`` (epoch ms), ``time_s`` (seconds since ``start_ms``) or ``time``
(ISO 8601 or seconds). Without a time column, beat times are the cumulative sum of
``rr_ms``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulators.errors import SimulatorError
from simulators.payloads import rr_payloads, sample_payloads
from simulators.plan import parse_time
from simulators.trace_io import (
    Label,
    Manifest,
    TraceWriter,
    UserEntry,
    companion_paths,
    sort_payloads,
    write_labels,
    write_manifest,
)

#: Beat annotation symbols of the WFDB standard (normal, bundle branch blocks, atrial and
#: ventricular premature, fusion, escape, paced, unclassified).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
AF_RHYTHMS = ("(AFIB", "(AFL")


@dataclass(frozen=True)
class ImportResult:
    trace: Path
    lines: int
    beats: int
    labels: tuple[Label, ...]


def _write(
    out: Path,
    payloads: list[dict[str, Any]],
    *,
    labels: list[Label],
    user: int,
    device: str,
    span_ms: tuple[int, int],
    source: str,
) -> int:
    with TraceWriter(out) as writer:
        writer.write(sort_payloads(payloads))
        lines = writer.lines
    labels_path, manifest_path = companion_paths(out)
    write_labels(labels_path, labels)
    entry = UserEntry(user, f"vitals-import-{user}", f"Imported user {user}", (device,))
    write_manifest(manifest_path, Manifest(span_ms[0], span_ms[1], (entry,), None, source))
    return lines


def import_wfdb(
    record: Path,
    out: Path,
    *,
    user: int,
    device: str,
    start_ms: int | None = None,
    annotator: str = "atr",
    channel: int = 0,
    ecg: bool = False,
    batch_ms: int = 5000,
) -> ImportResult:
    """Convert WFDB ``record`` (path without extension) to a trace at ``out``."""
    import wfdb  # noqa: PLC0415 (optional at import time of the package)

    try:
        rec = wfdb.rdrecord(str(record))
    except (FileNotFoundError, ValueError) as error:
        raise SimulatorError(f"WFDB record {str(record)!r} cannot be read: {error}") from error
    fs = float(rec.fs)
    signal = np.asarray(rec.p_signal[:, channel], dtype=np.float64)
    if start_ms is None:
        base = getattr(rec, "base_datetime", None)
        start_ms = (
            int(base.timestamp() * 1000) if base is not None else parse_time("2025-01-15T00:00:00Z")
        )
    ann_path = Path(f"{record}.{annotator}")
    labels: list[Label] = []
    if ann_path.exists():
        ann = wfdb.rdann(str(record), annotator)
        samples = np.asarray(ann.sample)
        symbols = np.asarray(ann.symbol)
        peaks = samples[np.isin(symbols, list(BEAT_SYMBOLS))]
        labels = _rhythm_labels(ann, fs, start_ms, len(signal), user)
    else:
        import neurokit2 as nk  # noqa: PLC0415

        _, info = nk.ecg_peaks(np.nan_to_num(signal), sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"])
    beat_ms = start_ms + np.round(np.asarray(peaks, dtype=np.float64) * 1000 / fs)
    beat_ms = np.unique(beat_ms.astype(np.int64))
    payloads = rr_payloads(user, device, beat_ms, batch_ms, start_ms)
    if ecg:
        payloads += sample_payloads(
            user,
            device,
            "ecg",
            start_ms=start_ms,
            fs_hz=fs,
            channels={"values": np.nan_to_num(signal)},
            batch_ms=1000,
        )
    end_ms = start_ms + int(len(signal) * 1000 / fs)
    lines = _write(
        out,
        payloads,
        labels=labels,
        user=user,
        device=device,
        span_ms=(start_ms, end_ms),
        source=f"wfdb:{record.name}",
    )
    return ImportResult(out, lines, int(beat_ms.size), tuple(labels))


def _rhythm_labels(ann: Any, fs: float, start_ms: int, n: int, user: int) -> list[Label]:
    labels = []
    current: tuple[str, int] | None = None
    notes = list(getattr(ann, "aux_note", None) or [""] * len(ann.sample))
    for sample, symbol, note in zip(ann.sample, ann.symbol, notes, strict=True):
        if symbol != "+":
            continue
        rhythm = str(note).strip("\x00 ")
        if current and current[0].startswith(AF_RHYTHMS):
            labels.append(
                Label(
                    user, "arrhythmia", current[1], start_ms + int(sample * 1000 / fs), current[0]
                )
            )
        current = (rhythm, start_ms + int(sample * 1000 / fs))
    if current and current[0].startswith(AF_RHYTHMS):
        labels.append(
            Label(user, "arrhythmia", current[1], start_ms + int(n * 1000 / fs), current[0])
        )
    return labels


def _times_ms(rows: list[dict[str, str]], start_ms: int, path: Path) -> np.ndarray | None:
    header = rows[0].keys() if rows else ()
    try:
        if "ts_ms" in header:
            return np.array([float(r["ts_ms"]) for r in rows])
        if "time_s" in header:
            return start_ms + np.array([float(r["time_s"]) for r in rows]) * 1000
        if "time" in header:
            values = [r["time"] for r in rows]
            try:
                return start_ms + np.array([float(v) for v in values]) * 1000
            except ValueError:
                return np.array([parse_time(v) for v in values], dtype=np.float64)
    except (KeyError, ValueError) as error:
        raise SimulatorError(f"{path}: bad time value: {error}") from error
    return None


def import_csv(
    path: Path,
    out: Path,
    *,
    user: int,
    device: str,
    start_ms: int | None = None,
    rr_batch_ms: int = 5000,
    accel_batch_ms: int = 1000,
) -> ImportResult:
    """Convert a CSV of beats (``rr_ms``) or accelerometer samples (``x,y,z``) to a trace."""
    if not path.exists():
        raise SimulatorError(f"CSV {str(path)!r} does not exist")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SimulatorError(f"CSV {str(path)!r} has no data rows")
    start = parse_time("2025-01-15T00:00:00Z") if start_ms is None else start_ms
    times = _times_ms(rows, start, path)
    header = set(rows[0])
    try:
        if "rr_ms" in header:
            rr = np.array([float(r["rr_ms"]) for r in rows])
            beats = np.round(times if times is not None else start + np.cumsum(rr))
            # the first row's interval ends at its beat: prepend the beat that began it
            beat_ms = np.r_[beats[0] - rr[0], beats].astype(np.int64)
            payloads = rr_payloads(user, device, beat_ms, rr_batch_ms, int(beat_ms[0]))
            span = (int(beat_ms[0]), int(beat_ms[-1]))
            n_beats = int(beat_ms.size)
        elif {"x", "y", "z"} <= header:
            if times is None or times.size < 2:
                raise SimulatorError(f"{path}: accelerometer CSV needs a time column")
            fs = round(1000.0 / float(np.median(np.diff(times))), 3)
            xyz = {a: np.array([float(r[a]) for r in rows]) for a in "xyz"}
            payloads = sample_payloads(
                user,
                device,
                "accel",
                start_ms=int(times[0]),
                fs_hz=fs,
                channels=xyz,
                batch_ms=accel_batch_ms,
            )
            span = (int(times[0]), int(times[-1]))
            n_beats = 0
        else:
            raise SimulatorError(f"{path}: columns {sorted(header)} have neither rr_ms nor x,y,z")
    except ValueError as error:
        raise SimulatorError(f"{path}: bad number: {error}") from error
    lines = _write(
        out, payloads, labels=[], user=user, device=device, span_ms=span, source=f"csv:{path.name}"
    )
    return ImportResult(out, lines, n_beats, ())
