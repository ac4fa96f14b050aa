"""Detector throughput: HRV + rhythm on 100 000 windows of 64 beats vs NeuroKit2.

Data: seeded synthetic windows (``detectors.fit.synthetic``), 45 % sinus with RSA, 30 %
sinus with 2-15 % PVC/PAC ectopy, 25 % AF; intervals rounded to whole ms so NeuroKit2 gets
exact integer peaks at 1000 Hz.

Measured in the same run:

- ``analyze_windows`` (artefact/ectopic cleaning, time-domain HRV, Baevsky SI, rhythm
  features and classification, HR/rest flags) on all windows, best of ``REPEATS`` runs,
  with LF/HF off (NeuroKit2's ``hrv_time`` has none) and, separately, on;
- ``hrv_time_batch`` alone on the raw intervals;
- NeuroKit2 ``hrv_time`` called per window on ``NK_SAMPLE`` windows, best of ``REPEATS``
  passes like ours; its per-window cost is *extrapolated* to all windows (timing 100 000
  windows would take 6-20 minutes).

The target (README, "Performance") is ``analyze_windows`` >= 2000x NeuroKit2 with deviation <= 1e-9.

Deviation: max relative difference of ``hrv_time_batch`` (all of its metrics) and of
``analyze_windows`` (MeanNN, SDNN, RMSSD, pNN50 on windows where nothing was removed)
from NeuroKit2 on the sampled windows.

Run: ``python -m bench detectors`` (or ``python -m bench.bench_detectors``).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import neurokit2 as nk
import numpy as np

from detectors.fit.synthetic import add_ectopy, af_rr, sinus_rr
from detectors.hrv import hrv_time_batch
from detectors.windows import WindowBatch, analyze_windows

N_WINDOWS = 100_000
N_BEATS = 64
NK_SAMPLE = 300
REPEATS = 3
SEED = 20240603
TARGET_RATIO = 2000
TARGET_DEVIATION = 1e-9
KEYS = ("MeanNN", "SDNN", "RMSSD", "SDSD", "CVNN", "CVSD", "pNN50", "pNN20", "MinNN", "MaxNN")


def make_windows(n: int, k: int, seed: int) -> np.ndarray:
    """Seeded (n, k) matrix of intervals: sinus, sinus + ectopy, AF.

    Whole ms, then passed through NeuroKit2's own conversion (samples / 1000 * 1000), so
    both sides see bit-identical intervals (the conversion moves e.g. 917 ms by 1e-13,
    which can flip NeuroKit2's strict "> 50 ms" in pNN50 when a difference is exactly 50).
    """
    rng = np.random.default_rng(seed)
    n_sinus, n_ect = int(n * 0.45), int(n * 0.30)
    rr = np.vstack(
        [
            sinus_rr(rng, n_sinus, k),
            add_ectopy(rng, sinus_rr(rng, n_ect, k)),
            af_rr(rng, n - n_sinus - n_ect, k),
        ]
    )
    return np.round(rr[rng.permutation(n)]) / 1000 * 1000


def _best(fn: Any, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _nk_hrv_time(rr: np.ndarray) -> dict[str, float]:
    peaks = np.round(np.concatenate([[0], np.cumsum(rr)])).astype(np.int64)
    df = nk.hrv_time(peaks, sampling_rate=1000)
    return {k: float(df[f"HRV_{k}"].iloc[0]) for k in KEYS}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b != 0 else abs(a)


def main() -> dict[str, Any]:
    """Generate, time, compare, print and return the figures."""
    rr = make_windows(N_WINDOWS, N_BEATS, SEED)
    batch = WindowBatch(
        user_ids=np.arange(N_WINDOWS, dtype=np.int64),
        end_ms=np.full(N_WINDOWS, 1_763_900_000_000, dtype=np.int64),
        rr_ms=rr.ravel(),
        rr_offsets=np.arange(N_WINDOWS + 1, dtype=np.int64) * N_BEATS,
        hr_bpm=np.zeros(0),
        hr_offsets=np.zeros(N_WINDOWS + 1, dtype=np.int64),
        activity_g=np.full(N_WINDOWS, 0.01),
        rhythm_trusted=np.ones(N_WINDOWS, dtype=bool),
    )
    analyze_windows(batch, frequency=False)  # warm-up (imports, page faults)
    t_ours = _best(lambda: analyze_windows(batch, frequency=False))
    t_freq = _best(lambda: analyze_windows(batch, frequency=True), repeats=1)
    t_hrv = _best(lambda: hrv_time_batch(rr))

    sample = np.random.default_rng(SEED + 1).choice(N_WINDOWS, NK_SAMPLE, replace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _nk_hrv_time(rr[sample[0]])  # warm-up
        refs = [_nk_hrv_time(rr[i]) for i in sample]
        nk_per_window = _best(lambda: [_nk_hrv_time(rr[i]) for i in sample]) / NK_SAMPLE
    nk_total = nk_per_window * N_WINDOWS

    ours = hrv_time_batch(rr[sample])
    dev_batch = max(_rel(float(ours[k][j]), ref[k]) for j, ref in enumerate(refs) for k in KEYS)
    feats = analyze_windows(batch, frequency=False)
    mapping = {
        "MeanNN": feats.mean_nn_ms,
        "SDNN": feats.sdnn_ms,
        "RMSSD": feats.rmssd_ms,
        "pNN50": feats.pnn50_pct,
    }
    untouched = [j for j, i in enumerate(sample) if feats.n_nn[i] == N_BEATS]
    dev_windows = max(
        _rel(float(mapping[k][sample[j]]), refs[j][k]) for j in untouched for k in mapping
    )

    results: dict[str, Any] = {
        "windows": N_WINDOWS,
        "beats_per_window": N_BEATS,
        "analyze_windows_s": round(t_ours, 4),
        "analyze_windows_with_lf_hf_s": round(t_freq, 4),
        "hrv_time_batch_s": round(t_hrv, 4),
        "windows_per_s": round(N_WINDOWS / t_ours),
        "beats_per_s": round(N_WINDOWS * N_BEATS / t_ours),
        "windows_per_s_with_lf_hf": round(N_WINDOWS / t_freq),
        "neurokit_sample_windows": NK_SAMPLE,
        "neurokit_ms_per_window": round(nk_per_window * 1e3, 4),
        "neurokit_extrapolated_s": round(nk_total, 1),
        "speed_ratio_analyze_windows": round(nk_total / t_ours),
        "speed_ratio_hrv_time_batch": round(nk_total / t_hrv),
        "max_rel_deviation_hrv_time_batch": dev_batch,
        "max_rel_deviation_analyze_windows": dev_windows,
        "windows_compared_analyze": len(untouched),
        "irregular_share": round(float(feats.irregular.mean()), 4),
        "target_met": bool(
            nk_total / t_ours >= TARGET_RATIO and max(dev_batch, dev_windows) <= TARGET_DEVIATION
        ),
    }
    print(
        f"{N_WINDOWS:,} windows x {N_BEATS} beats\n"
        f"  analyze_windows (HRV + rhythm, no LF/HF): {t_ours:.3f} s  "
        f"= {N_WINDOWS / t_ours:,.0f} windows/s, {N_WINDOWS * N_BEATS / t_ours:,.0f} beats/s\n"
        f"  analyze_windows with LF/HF:               {t_freq:.3f} s\n"
        f"  hrv_time_batch only:                      {t_hrv:.3f} s\n"
        f"  NeuroKit2 hrv_time: {nk_per_window * 1e3:.3f} ms/window measured on {NK_SAMPLE} "
        f"windows, extrapolated to {N_WINDOWS:,}: {nk_total:.1f} s\n"
        f"  speed ratio (analyze_windows vs NeuroKit2): {nk_total / t_ours:,.0f}x\n"
        f"  speed ratio (hrv_time_batch vs NeuroKit2):  {nk_total / t_hrv:,.0f}x\n"
        f"  max relative deviation from NeuroKit2: hrv_time_batch {dev_batch:.2e}, "
        f"analyze_windows {dev_windows:.2e} ({len(untouched)} windows with no beat removed)\n"
        f"  target >= {TARGET_RATIO:,}x with deviation <= {TARGET_DEVIATION:g}: "
        f"{'met' if results['target_met'] else 'MISSED'}"
    )
    return results


if __name__ == "__main__":
    main()
