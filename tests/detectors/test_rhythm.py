"""Rhythm: AF flagged, sinus and sinus + ectopy not flagged, no verdict without clean beats."""

from __future__ import annotations

import numpy as np

from detectors.beats import beats_from_ecg, beats_from_ppg
from detectors.config import DEFAULT
from detectors.fit.synthetic import add_ectopy, af_rr, ecg_from_rr, ppg_from_rr, sinus_rr
from detectors.windows import WindowBatch, WindowFeatures, analyze_windows


def _analyze(rr_2d: np.ndarray, trusted: bool = True) -> WindowFeatures:
    rows = [r[np.isfinite(r)] for r in rr_2d]
    return analyze_windows(
        WindowBatch.from_lists(rows, rhythm_trusted=[trusted] * len(rows)), frequency=False
    )


def test_af_windows_are_flagged() -> None:
    rng = np.random.default_rng(101)
    f = _analyze(af_rr(rng, 300, 90, hr_bpm=(80, 150), cv=(0.2, 0.2)))
    assert f.rhythm_valid.all()
    assert f.irregular.mean() >= 0.97


def test_sinus_with_rsa_is_not_flagged() -> None:
    rng = np.random.default_rng(102)
    f = _analyze(sinus_rr(rng, 300, 70, rsa_frac=(0.02, 0.10)))
    assert f.rhythm_valid.all()
    assert f.irregular.mean() <= 0.01


def test_sinus_with_ectopy_is_not_flagged() -> None:
    rng = np.random.default_rng(103)
    f = _analyze(add_ectopy(rng, sinus_rr(rng, 300, 70), burden=(0.05, 0.15)))
    assert f.rhythm_valid.all()
    assert f.irregular.mean() <= 0.03


def test_no_verdict_without_enough_clean_beats_or_trust() -> None:
    rng = np.random.default_rng(104)
    af = af_rr(rng, 2, 90)
    minimum = DEFAULT.min_beats_rhythm
    short = _analyze(af[:, : minimum - 1])
    assert not short.rhythm_valid.any() and not short.irregular.any()
    assert _analyze(af[:, :minimum]).rhythm_valid.all()
    untrusted = _analyze(af, trusted=False)
    assert not untrusted.rhythm_valid.any() and not untrusted.irregular.any()
    assert np.isnan(untrusted.irregular_probability).all()


def _waveform_verdict(rr: np.ndarray, af: bool, kind: str, rng: np.random.Generator) -> bool:
    if kind == "ecg":
        sig, _ = ecg_from_rr(rr, 250.0, af=af, rng=rng)
        b = beats_from_ecg(sig + rng.normal(0, 0.02, sig.size), 250.0, 0)
    else:
        sig, _ = ppg_from_rr(rr, 64.0)
        b = beats_from_ppg(sig + rng.normal(0, 0.02, sig.size), 64.0, 0)
    assert b.quality_ok
    f = analyze_windows(WindowBatch.from_lists([b.rr_ms], rhythm_trusted=[b.quality_ok]))
    assert f.rhythm_valid[0]
    return bool(f.irregular[0])


def test_af_and_sinus_from_ecg_and_ppg_waveforms() -> None:
    rng = np.random.default_rng(105)
    for kind in ("ecg", "ppg"):
        assert _waveform_verdict(af_rr(rng, 1, 90, cv=(0.2, 0.2))[0], True, kind, rng)
        sinus = add_ectopy(rng, sinus_rr(rng, 1, 70), burden=(0.08, 0.08))[0]
        assert not _waveform_verdict(sinus, False, kind, rng)
