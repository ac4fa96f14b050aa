"""Device batching: beat times and sample streams cut into contract payloads.

A device sends what it has measured every ``batch_ms``: beats whose time falls in one
batch period form one ``rr`` payload, ``fs``-Hz samples of one period form one ``accel``
(``ecg``, ``ppg``) payload. Payloads are returned unsequenced (``seq`` is given by
:class:`simulators.trace_io.TraceWriter` in publish order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulators.errors import SimulatorError
from simulators.trace_io import make_payload

#: Physiologically possible RR range of the payload contract (docs/architecture.md).
RR_MIN_MS = 250
RR_MAX_MS = 2500


def rr_payloads(
    user: int, device: str, beat_ms: np.ndarray, batch_ms: int = 5000, origin_ms: int = 0
) -> list[dict[str, Any]]:
    """``rr`` payloads from increasing integer beat times (epoch ms).

    Interval ``k`` is ``beat_ms[k] - beat_ms[k-1]`` and belongs to the batch period of the
    beat that ends it; a payload's ``ts`` is that first ending beat, so later beats sit at
    ``ts + cumsum(rr_ms[1:])`` as the contract says. Intervals outside 250–2500 ms (a
    missed beat, a gap in a recording) are dropped, and a payload never spans them.
    """
    beats = np.asarray(beat_ms, dtype=np.int64)
    if beats.size < 2:
        return []
    if np.any(np.diff(beats) <= 0):
        raise SimulatorError(f"beat times of user {user} are not strictly increasing")
    rr = np.diff(beats)
    end = beats[1:]
    period = (end - origin_ms) // batch_ms
    valid = (rr >= RR_MIN_MS) & (rr <= RR_MAX_MS)
    # a new payload starts at a new batch period or after an invalid interval
    run_id = np.cumsum(np.r_[True, (period[1:] != period[:-1]) | ~valid[:-1]])
    out = []
    keep = np.flatnonzero(valid)
    if keep.size == 0:
        return []
    splits = np.flatnonzero(np.diff(run_id[keep])) + 1
    for idx in np.split(keep, splits):
        out.append(make_payload(user, device, int(end[idx[0]]), "rr", rr_ms=rr[idx]))
    return out


def sample_payloads(
    user: int,
    device: str,
    kind: str,
    *,
    start_ms: int,
    fs_hz: float,
    channels: dict[str, np.ndarray],
    batch_ms: int = 1000,
    decimals: int = 3,
) -> list[dict[str, Any]]:
    """Fixed-rate samples (one or more equally long channels) cut into payloads of
    ``batch_ms``; ``ts`` is each payload's first sample. ``channels`` is ``{"x": .., "y":
    .., "z": ..}`` for accel or ``{"values": ..}`` for ecg/ppg; values are rounded to
    ``decimals`` places (1 mg for accel in g, 1 µV for ECG in mV)."""
    if fs_hz <= 0:
        raise SimulatorError(f"sampling rate {fs_hz} Hz is not positive")
    arrays = {k: np.round(np.asarray(v, dtype=np.float64), decimals) for k, v in channels.items()}
    lengths = {a.size for a in arrays.values()}
    if len(lengths) != 1:
        raise SimulatorError(f"{kind} channels of user {user} differ in length: {lengths}")
    n = lengths.pop()
    per = max(1, round(fs_hz * batch_ms / 1000))
    fs_field: float | int = int(fs_hz) if float(fs_hz).is_integer() else fs_hz
    out = []
    for first in range(0, n, per):
        ts = start_ms + round(first * 1000 / fs_hz)
        fields: dict[str, Any] = {"fs": fs_field}
        for name, arr in arrays.items():
            fields[name] = np.ascontiguousarray(arr[first : first + per])
        out.append(make_payload(user, device, ts, kind, **fields))
    return out
