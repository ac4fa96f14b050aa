"""Rhythm: AF flagged, sinus and sinus + ectopy not flagged, no verdict without clean beats."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from detectors.artifacts import clean_intervals
from detectors.beats import beats_from_ecg, beats_from_ppg
from detectors.config import DEFAULT
from detectors.fit.fit_rhythm import operating_shift
from detectors.fit.synthetic import (
    add_ectopy,
    af_rr,
    bigeminy,
    ecg_from_rr,
    ppg_from_rr,
    sinus_rr,
)
from detectors.rhythm import RHYTHM_FEATURES, atrial_probability, features_from_rr
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


def test_atrial_features_see_p_waves_in_sinus_and_f_waves_in_af() -> None:
    rng = np.random.default_rng(106)
    features = {}
    for af in (False, True):
        rr = (af_rr(rng, 1, 40, cv=(0.05, 0.05)) if af else sinus_rr(rng, 1, 40))[0]
        sig, _ = ecg_from_rr(rr, 250.0, af=af, rng=rng)
        features[af] = beats_from_ecg(sig + rng.normal(0, 0.02, sig.size), 250.0, 0).atrial
    assert features[False][0] > 0.9  # the same P wave before every QRS
    assert features[True][2] > features[False][2] + 0.2  # 4-9 Hz f-waves left after QRST
    short = beats_from_ecg(ecg_from_rr(sinus_rr(rng, 1, 6)[0], 250.0)[0], 250.0, 0)
    assert np.isnan(short.atrial).all()  # too few beats: the RR-only model judges
    ppg, _ = ppg_from_rr(sinus_rr(rng, 1, 40)[0], 64.0)
    assert np.isnan(beats_from_ppg(ppg, 64.0, 0).atrial).all()


def test_atrial_model_only_where_the_window_has_atrial_features() -> None:
    rng = np.random.default_rng(107)
    rows = list(af_rr(rng, 3, 30, cv=(0.05, 0.05)))
    rr_only = analyze_windows(WindowBatch.from_lists(rows), frequency=False)
    atrial = np.array([[np.nan] * 4, [0.3, -3.0, 0.5, -1.5], [0.95, -1.5, 0.1, -2.5]])
    mixed = analyze_windows(WindowBatch.from_lists(rows, atrial=atrial), frequency=False)
    # a window without atrial features keeps the RR-only model's probability exactly
    assert mixed.irregular_probability[0] == rr_only.irregular_probability[0]
    expected = atrial_probability(features_from_rr(np.vstack(rows[1:])), atrial[1:])
    np.testing.assert_allclose(mixed.irregular_probability[1:], expected, rtol=1e-12)
    # absent P waves and f-waves raise the probability, a clear P wave lowers it
    assert mixed.irregular_probability[1] > mixed.irregular_probability[2]


def test_atrial_model_inputs_are_checked() -> None:
    rows = [np.full(20, 800.0)]
    with pytest.raises(ValueError, match=r"WindowBatch.atrial has shape \(1, 3\)"):
        analyze_windows(WindowBatch.from_lists(rows, atrial=[[0.0, 0.0, 0.0]]))
    bad = replace(DEFAULT, rhythm_atrial_weights=(1.0,) * 10)
    with pytest.raises(ValueError, match="rhythm_atrial_weights has 10 values, expected 13"):
        atrial_probability(np.zeros((1, 8)), np.zeros((1, 4)), bad)


def test_lag2_irregularity_equals_a_loop_and_discounts_ectopy() -> None:
    rng = np.random.default_rng(108)
    rr = np.vstack([sinus_rr(rng, 20, 40), af_rr(rng, 20, 40)])
    rr[3, 30:] = np.nan  # a short row
    rr[5, 7] = 120.0  # an implausible interval
    feats = features_from_rr(rr)
    column = RHYTHM_FEATURES.index("ln_lag2_mad")
    clean = clean_intervals(rr)
    for i in range(rr.shape[0]):
        x, ok = clean.rr_filled_ms[i], clean.plausible[i]
        d = [abs(x[j + 2] - x[j]) for j in range(x.size - 2) if ok[j] and ok[j + 2]]
        mean_nn = x[clean.nn[i]].mean()
        expected = np.log(max(float(np.median(d)) / mean_nn, 1e-3))
        assert feats[i, column] == pytest.approx(expected, rel=1e-6)
    # isolated premature beats barely move the median; bigeminy lowers it; AF stays high
    sinus = sinus_rr(rng, 200, 60)
    with_pvcs = add_ectopy(rng, sinus.copy(), burden=(0.05, 0.10))
    medians = {
        name: float(np.median(features_from_rr(x)[:, column]))
        for name, x in {
            "sinus": sinus,
            "pvcs": with_pvcs,
            "bigeminy": bigeminy(rng, sinus.copy()),
            "af": af_rr(rng, 200, 60, cv=(0.10, 0.15)),
        }.items()
    }
    assert medians["pvcs"] < medians["sinus"] + 0.4  # measured +0.26
    assert medians["bigeminy"] < medians["sinus"] + 0.1  # measured -0.18: lag 2 skips it
    assert medians["af"] > medians["pvcs"] + 0.3  # measured +0.46 at RR CV 0.10-0.15


def test_operating_point_flags_at_most_the_allowed_shares() -> None:
    rng = np.random.default_rng(109)
    labels = np.array(["N"] * 400 + ["O"] * 300 + ["A"] * 300)
    logit = np.r_[rng.normal(-4, 1, 400), rng.normal(-2, 1.5, 300), rng.normal(1, 1.5, 300)]
    shift = operating_shift(logit, labels, other_max=0.08, normal_max=0.015)
    flagged = logit > shift
    assert flagged[labels == "O"].mean() <= 0.08
    assert flagged[labels == "N"].mean() <= 0.015
    assert flagged[labels == "O"].mean() >= 0.07  # the limit binds: no sensitivity wasted
    assert operating_shift(logit[labels == "A"], labels[labels == "A"]) == 0.0  # no negatives
