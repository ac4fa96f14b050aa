"""Time-domain HRV equals NeuroKit2's hrv_time; Baevsky SI and LF/HF behave physiologically."""

from __future__ import annotations

import warnings

import neurokit2 as nk
import numpy as np
import pytest

from detectors.fit.synthetic import af_rr, sinus_rr
from detectors.hrv import baevsky_stress_index_batch, hrv_frequency_batch, hrv_time_batch

KEYS = ("MeanNN", "SDNN", "RMSSD", "SDSD", "CVNN", "CVSD", "pNN50", "pNN20", "MinNN", "MaxNN")


def _nk_time(nn_ms: np.ndarray) -> dict[str, float]:
    """NeuroKit2 on peaks built from integer-ms NN at 1000 Hz (intervals exact)."""
    peaks = np.round(np.concatenate([[0], np.cumsum(nn_ms)])).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = nk.hrv_time(peaks, sampling_rate=1000)
    return {k: float(df[f"HRV_{k}"].iloc[0]) for k in KEYS}


def test_equals_neurokit_hrv_time_to_1e9() -> None:
    rng = np.random.default_rng(11)
    # whole ms through NeuroKit2's own samples -> ms conversion: bit-identical intervals
    rows = [*np.round(sinus_rr(rng, 20, 64)), *np.round(af_rr(rng, 20, 64))]
    rows = [r / 1000 * 1000 for r in rows]
    lengths = rng.integers(20, 65, len(rows))
    nn = np.full((len(rows), 64), np.nan)
    for i, (r, n) in enumerate(zip(rows, lengths, strict=True)):
        nn[i, :n] = r[:n]
    ours = hrv_time_batch(nn)
    worst = 0.0
    for i in range(len(rows)):
        ref = _nk_time(nn[i, : lengths[i]])
        for k in KEYS:
            a, b = float(ours[k][i]), ref[k]
            assert np.isfinite(a), (k, i)
            worst = max(worst, abs(a - b) / abs(b) if b else abs(a))
    assert worst <= 1e-9


def test_pnn50_counts_strictly_greater_than_50_ms() -> None:
    nn = np.array([[800.0, 850.0, 800.0, 851.0, 800.0]])  # diffs 50, 50, 51, 51
    out = hrv_time_batch(nn)
    assert out["pNN50"][0] == pytest.approx(2 / 5 * 100)
    assert out["pNN50"][0] == pytest.approx(_nk_time(nn[0])["pNN50"], rel=1e-12)


def test_removed_beat_does_not_create_a_difference() -> None:
    nn = np.array([[800.0, 810.0, np.nan, 1000.0, 1010.0]])
    out = hrv_time_batch(nn)
    assert out["RMSSD"][0] == pytest.approx(10.0)  # only 800->810 and 1000->1010
    assert out["MeanNN"][0] == pytest.approx(905.0)


def test_too_few_intervals_give_nan_not_errors() -> None:
    out = hrv_time_batch(np.array([[800.0, np.nan], [np.nan, np.nan]]))
    assert np.isnan(out["SDNN"]).all()
    assert np.isnan(out["RMSSD"]).all()
    with pytest.raises(ValueError, match="2-D"):
        hrv_time_batch(np.array([800.0, 810.0]))


def test_baevsky_index_definition_and_direction() -> None:
    # 10 NN: 6 in the 800-850 bin, range 700..900 ms
    x = np.array([[700.0, 810, 820, 830, 805, 815, 825, 760, 880, 900]])
    si = baevsky_stress_index_batch(x, np.ones_like(x, dtype=bool))
    assert si[0] == pytest.approx(60.0 / (2 * 0.825 * 0.2))
    rng = np.random.default_rng(3)
    calm = sinus_rr(rng, 50, 64, hr_bpm=(60, 60), rsa_frac=(0.08, 0.08))
    tense = sinus_rr(rng, 50, 64, hr_bpm=(60, 60), rsa_frac=(0.01, 0.01))
    mask = np.ones_like(calm, dtype=bool)
    assert np.median(baevsky_stress_index_batch(tense, mask)) > 3 * np.median(
        baevsky_stress_index_batch(calm, mask)
    )


def test_lf_hf_follow_the_modulation_frequency() -> None:
    beats = np.arange(80)
    rr_hf = 900 + 40 * np.sin(2 * np.pi * 0.25 * beats * 0.9)  # 0.25 Hz breathing
    rr_lf = 900 + 40 * np.sin(2 * np.pi * 0.09 * beats * 0.9)  # 0.09 Hz Mayer waves
    x = np.vstack([rr_hf, rr_lf, np.r_[rr_hf[:40], np.zeros(40)]])
    mask = np.ones_like(x, dtype=bool)
    mask[2, 40:] = False
    lf, hf, ratio = hrv_frequency_batch(x, mask, np.where(mask, x, 0.0))
    assert hf[0] > 5 * lf[0]
    assert lf[1] > 5 * hf[1]
    assert ratio[1] > 1 > ratio[0]
    assert np.isnan(lf[2]) and np.isnan(hf[2])  # 36 s: too short for LF
