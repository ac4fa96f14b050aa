"""Measure the detectors on the real recordings of :mod:`simulators.real_recordings`.

Run ``python -m simulators.evaluate_real``. Prints, for the 60-minute NN series, the
per-minute rhythm verdicts (and whether the 5-of-6 alert rule would fire), the HR and
HRV ranges and the largest deviation of ``hrv_time_batch`` from NeuroKit2's
``hrv_time`` on each real window; for the 22 s ECG, the beat-detection quality of each
segment of up to 60 s (as the engine buffers raw ECG) and its agreement with NeuroKit2's
own R peaks on the whole record. With ``--data ../shared/data`` it also runs
:mod:`simulators.evaluate_rhythm` on the CinC 2017 strips. Figures go into the README
"Accuracy" section.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neurokit2 as nk
import numpy as np

from detectors import WindowBatch, analyze_windows
from detectors.beats import beats_from_ecg
from detectors.config import DEFAULT
from detectors.hrv import hrv_time_batch
from detectors.windows import ragged_to_padded
from simulators import evaluate_rhythm
from simulators.real_recordings import ECG_FS_HZ, load_ecg_adc, load_nni_ms, minute_windows

SEGMENT_S = 60  # the engine buffers raw ECG in segments of up to 60 s (EngineConfig)
MATCH_MS = 10.0
_KEYS = ("MeanNN", "SDNN", "RMSSD", "pNN50")


@dataclass(frozen=True)
class NniResult:
    windows: int
    valid: int
    irregular: int
    most_irregular_in_6: int
    hr_bpm: tuple[float, float]
    rmssd_ms: tuple[float, float]
    max_rel_deviation: float


@dataclass(frozen=True)
class EcgResult:
    segments: int
    quality_ok: int
    quality: tuple[float, ...]
    beats: int
    matched: int
    reference_beats: int
    max_rr_difference_ms: float


def evaluate_nni() -> NniResult:
    """Per-minute verdicts on the real NN series and the deviation from NeuroKit2."""
    windows = minute_windows(load_nni_ms())
    f = analyze_windows(WindowBatch.from_lists(windows, activity_g=[0.01] * len(windows)))
    irregular = f.irregular.astype(int)
    per_six = np.convolve(irregular, np.ones(DEFAULT.arrhythmia_of_windows, int), "valid")
    lengths = np.array([w.size for w in windows])
    ours = hrv_time_batch(ragged_to_padded(np.concatenate(windows), np.r_[0, np.cumsum(lengths)]))
    deviation = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, rr in enumerate(windows):
            peaks = np.concatenate([[0], np.cumsum(rr)]).astype(np.int64)
            ref = nk.hrv_time(peaks, sampling_rate=1000)
            for key in _KEYS:
                want = float(ref[f"HRV_{key}"].iloc[0])
                deviation = max(deviation, abs(float(ours[key][i]) - want) / abs(want))
    return NniResult(
        windows=len(windows),
        valid=int(f.rhythm_valid.sum()),
        irregular=int(irregular.sum()),
        most_irregular_in_6=int(per_six.max(initial=0)),
        hr_bpm=(float(np.nanmin(f.heart_rate_bpm)), float(np.nanmax(f.heart_rate_bpm))),
        rmssd_ms=(float(np.nanmin(f.rmssd_ms)), float(np.nanmax(f.rmssd_ms))),
        max_rel_deviation=deviation,
    )


def evaluate_ecg() -> EcgResult:
    """Beat detection on up-to-60 s segments of the real ECG vs NeuroKit2's R peaks.

    NeuroKit2's peaks on the whole record are a cross-check, not ground truth (there are
    no annotations). A beat matches a peak within ``MATCH_MS``; RR intervals are compared
    where both of their beats matched consecutive peaks.
    """
    ecg = load_ecg_adc()
    step = min(int(SEGMENT_S * ECG_FS_HZ), ecg.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=ECG_FS_HZ), sampling_rate=ECG_FS_HZ)
    ref_ms = np.asarray(info["ECG_R_Peaks"], dtype=np.float64) * 1000.0 / ECG_FS_HZ
    quality: list[float] = []
    ok = beats = matched = reference = 0
    rr_differences: list[float] = []
    for start in range(0, ecg.size - step + 1, step):
        b = beats_from_ecg(ecg[start : start + step], ECG_FS_HZ, start)
        quality.append(round(float(b.quality), 3))
        ok += int(b.quality_ok)
        in_segment = ref_ms[(ref_ms >= start) & (ref_ms < start + step)]
        reference += in_segment.size
        beats += b.beat_ms.size
        if b.beat_ms.size == 0 or in_segment.size == 0:
            continue
        distance = np.abs(b.beat_ms[:, None] - in_segment[None, :])
        nearest = distance.argmin(axis=1)
        hit = distance[np.arange(b.beat_ms.size), nearest] <= MATCH_MS
        matched += int(hit.sum())
        for i, rr in enumerate(b.rr_ms):  # rr_ms[i] spans beat i -> beat i + 1
            if hit[i] and hit[i + 1] and nearest[i + 1] == nearest[i] + 1:
                ref_rr = in_segment[nearest[i + 1]] - in_segment[nearest[i]]
                rr_differences.append(abs(float(rr) - ref_rr))
    return EcgResult(
        segments=len(quality),
        quality_ok=ok,
        quality=tuple(quality),
        beats=beats,
        matched=matched,
        reference_beats=reference,
        max_rr_difference_ms=max(rr_differences, default=float("nan")),
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Evaluate both recordings, print and return the figures; with ``--data DIR`` also
    the rhythm verdicts on DIR/cinc2017-dev (:mod:`simulators.evaluate_rhythm`)."""
    parser = argparse.ArgumentParser(prog="python -m simulators.evaluate_real")
    parser.add_argument("--data", type=Path, help="the shared real data (../shared/data)")
    parser.add_argument("--per-class", type=int, help="CinC strips per class (quick subset)")
    args = parser.parse_args(argv)
    nni, ecg = evaluate_nni(), evaluate_ecg()
    print(
        f"NN series, {nni.windows} one-minute windows (pyhrv SampleNNISeriesLong, sinus):\n"
        f"  rhythm verdicts: {nni.valid} valid, {nni.irregular} called irregular "
        f"({nni.irregular / max(nni.valid, 1):.1%}); most irregular in any 6 consecutive: "
        f"{nni.most_irregular_in_6} (alert needs {DEFAULT.arrhythmia_irregular_windows})\n"
        f"  heart rate {nni.hr_bpm[0]:.1f}-{nni.hr_bpm[1]:.1f} bpm, "
        f"RMSSD {nni.rmssd_ms[0]:.1f}-{nni.rmssd_ms[1]:.1f} ms\n"
        f"  max relative deviation from nk.hrv_time (MeanNN, SDNN, RMSSD, pNN50): "
        f"{nni.max_rel_deviation:.2e}\n"
        f"ECG, {ecg.segments} segment(s) of up to {SEGMENT_S} s at {ECG_FS_HZ:.0f} Hz "
        f"(pyhrv SampleECG):\n"
        f"  quality gate passed {ecg.quality_ok}/{ecg.segments} (quality {ecg.quality})\n"
        f"  beats {ecg.beats}; NeuroKit2 R peaks in the same span {ecg.reference_beats}, "
        f"matched within {MATCH_MS:.0f} ms {ecg.matched}; "
        f"max RR difference {ecg.max_rr_difference_ms:.1f} ms"
    )
    results: dict[str, Any] = {"nni": nni, "ecg": ecg}
    if args.data is not None:
        quick = [] if args.per_class is None else ["--per-class", str(args.per_class)]
        results["rhythm"] = evaluate_rhythm.main(["--data", str(args.data), *quick])
    return results


if __name__ == "__main__":
    main()
    from simulators.evaluate_falls import main_from_evaluate_real

    main_from_evaluate_real()  # with --data DIR: the SisFall falls (simulators.evaluate_falls)
