"""``vitals plot``: one user's trace as a picture.

Panels share a UTC time axis: heart rate (every beat as 60000/RR, and the 60 s mean),
HRV (RMSSD per 60 s window computed from the trace; the pipeline's ``hrv`` and stress
level when a database is given), and accelerometer magnitude (per-second min/max
envelope). Ground-truth labels are shaded in every panel; raised alerts are red lines
with their type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from simulators.scoring import AlertLike
from simulators.trace_arrays import UserSignals
from simulators.trace_io import Label


class SummaryReading(Protocol):
    """What a plot needs of one stored summary window (``healthReadings`` row)."""

    @property
    def end_ms(self) -> int: ...
    @property
    def heart_rate_bpm(self) -> float | None: ...
    @property
    def rmssd_ms(self) -> float | None: ...
    @property
    def stress_level(self) -> int | None: ...


LABEL_COLOURS = {
    "arrhythmia": "tab:purple",
    "high_heart_rate": "tab:red",
    "low_heart_rate": "tab:blue",
    "high_stress": "tab:orange",
    "fall_detected": "black",
    "sos": "tab:brown",
    "exercise": "tab:green",
    "ectopy": "tab:pink",
    "fall_like": "tab:gray",
    "cancelled_fall": "tab:olive",
}
WINDOW_MS = 60_000


def _dates(ms: np.ndarray) -> np.ndarray:
    return np.asarray(ms, dtype="datetime64[ms]")


def rmssd_per_window(beat_ms: np.ndarray, rr_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window end ms, RMSSD ms) per 60 s window of reading time, windows with ≥ 30 beats
    (successive differences only between beats of the same window)."""
    if beat_ms.size < 2:
        return np.empty(0), np.empty(0)
    window = beat_ms // WINDOW_MS
    same = window[1:] == window[:-1]
    diff2 = np.diff(rr_ms) ** 2
    ends, inverse = np.unique(window[1:][same], return_inverse=True)
    sums = np.bincount(inverse, weights=diff2[same])
    counts = np.bincount(inverse)
    keep = counts >= 30
    return (ends[keep] + 1) * WINDOW_MS, np.sqrt(sums[keep] / counts[keep])


def _at(ms: int) -> Any:
    return np.datetime64(int(ms), "ms")


def _draw_beats(ax_hr: Any, ax_hrv: Any, signals: UserSignals) -> None:
    if not signals.beat_ms.size:
        return
    t = _dates(signals.beat_ms)
    ax_hr.plot(t, 60_000 / signals.rr_ms, ".", ms=1.2, color="0.55", label="beat (60000/RR)")
    w = signals.beat_ms // WINDOW_MS
    ends, inv = np.unique(w, return_inverse=True)
    mean_rr = np.bincount(inv, weights=signals.rr_ms) / np.bincount(inv)
    ax_hr.plot(
        _dates((ends + 1) * WINDOW_MS),
        60_000 / mean_rr,
        "-",
        color="tab:blue",
        lw=1.4,
        label="60 s mean",
    )
    ends_ms, rmssd = rmssd_per_window(signals.beat_ms, signals.rr_ms)
    ax_hrv.plot(_dates(ends_ms), rmssd, "-", color="tab:green", lw=1.2, label="RMSSD from trace")


def _draw_readings(ax_hr: Any, ax_hrv: Any, readings: Sequence[SummaryReading]) -> None:
    r_t = _dates(np.array([r.end_ms for r in readings]))
    hr = np.array([np.nan if r.heart_rate_bpm is None else r.heart_rate_bpm for r in readings])
    hrv = np.array([np.nan if r.rmssd_ms is None else r.rmssd_ms for r in readings])
    stress = np.array([np.nan if r.stress_level is None else r.stress_level for r in readings])
    ax_hr.plot(r_t, hr, "s", ms=2.5, color="tab:orange", label="healthReadings HR")
    ax_hrv.plot(r_t, hrv, "s", ms=2.5, color="tab:olive", label="healthReadings hrv")
    ax_stress = ax_hrv.twinx()
    ax_stress.step(r_t, stress, where="post", color="tab:red", lw=1.0, label="stress level")
    ax_stress.set_ylim(0, 10.5)
    ax_stress.set_ylabel("stress level (1-10)")
    ax_stress.legend(loc="upper right", fontsize=8)


def _draw_accel(ax_acc: Any, signals: UserSignals) -> None:
    if not signals.accel_ms.size:
        return
    mag = np.sqrt((signals.accel_g**2).sum(axis=0))
    sec = (signals.accel_ms // 1000).astype(np.int64)
    ends, inv = np.unique(sec, return_inverse=True)
    lo = np.full(ends.size, np.inf)
    hi = np.full(ends.size, -np.inf)
    np.minimum.at(lo, inv, mag)
    np.maximum.at(hi, inv, mag)
    ax_acc.fill_between(
        _dates(ends * 1000),
        lo,
        hi,
        step="post",
        color="tab:blue",
        lw=0.5,
        label="|a| min-max per s",
    )


def plot_user(
    signals: UserSignals,
    out: Path,
    *,
    user: int,
    labels: Sequence[Label] = (),
    alerts: Sequence[AlertLike] = (),
    readings: Sequence[SummaryReading] = (),
) -> None:
    """Draw the panels into ``out`` (PNG, SVG or PDF by extension)."""
    import matplotlib  # noqa: PLC0415 (optional, heavy)

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    fig, (ax_hr, ax_hrv, ax_acc) = plt.subplots(
        3, 1, figsize=(13, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]}
    )
    _draw_beats(ax_hr, ax_hrv, signals)
    if readings:
        _draw_readings(ax_hr, ax_hrv, readings)
    _draw_accel(ax_acc, signals)
    for ax in (ax_hr, ax_hrv, ax_acc):
        for label in labels:
            colour = LABEL_COLOURS.get(label.type, "tab:gray")
            end = max(label.end_ms, label.start_ms + 20_000)  # point events stay visible
            ax.axvspan(_at(label.start_ms), _at(end), color=colour, alpha=0.18, lw=0)
        for alert in alerts:
            ax.axvline(_at(alert.created_ms), color="red", lw=1.2, ls="--")
    for alert in alerts:
        ax_hr.text(
            _at(alert.created_ms),
            0.98,
            alert.type,
            transform=ax_hr.get_xaxis_transform(),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="red",
        )
    ax_hr.set_ylabel("heart rate (bpm)")
    ax_hrv.set_ylabel("RMSSD (ms)")
    ax_acc.set_ylabel("accel magnitude (g)")
    ax_acc.set_xlabel("time (UTC)")
    ax_acc.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax_hr.legend(loc="upper left", fontsize=8, markerscale=4)
    ax_hrv.legend(loc="upper left", fontsize=8)
    ax_acc.legend(loc="upper left", fontsize=8)
    shown = sorted({lb.type for lb in labels})
    if shown or alerts:
        handles = [Patch(color=LABEL_COLOURS.get(n, "tab:gray"), alpha=0.3, label=n) for n in shown]
        if alerts:
            handles.append(Patch(color="red", label="alert raised (dashed line)"))
        fig.legend(
            handles=handles,
            loc="upper center",
            ncol=min(6, len(handles)),
            fontsize=8,
            frameon=False,
            bbox_to_anchor=(0.5, 0.995),
        )
    fig.suptitle(f"user {user}", x=0.01, ha="left", y=0.995, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out, dpi=110)
    plt.close(fig)
