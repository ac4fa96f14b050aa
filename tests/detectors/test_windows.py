"""analyze_windows: ragged batches, HR fallback, rest flag, validity, and JSON state helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from detectors.config import DetectorConfig
from detectors.fit.synthetic import sinus_rr
from detectors.hrv import hrv_time_batch
from detectors.serialize import state_from_json, state_to_json
from detectors.windows import WindowBatch, analyze_windows, ragged_to_padded


def test_ragged_batch_equals_per_window_hrv_on_clean_sinus() -> None:
    rng = np.random.default_rng(21)
    rr = sinus_rr(rng, 6, 90)
    lengths = [90, 35, 60, 31, 75, 50]
    rows = [rr[i, :n] for i, n in enumerate(lengths)]
    f = analyze_windows(WindowBatch.from_lists(rows))
    assert f.n_beats.tolist() == lengths
    assert (f.n_nn == f.n_beats).all()  # nothing removed from clean sinus
    ref = hrv_time_batch(ragged_to_padded(np.concatenate(rows), np.cumsum([0, *lengths])))
    np.testing.assert_allclose(f.rmssd_ms, ref["RMSSD"], rtol=1e-12)
    np.testing.assert_allclose(f.sdnn_ms, ref["SDNN"], rtol=1e-12)
    np.testing.assert_allclose(f.mean_hr_bpm, 60000.0 / ref["MeanNN"], rtol=1e-12)
    span_s = np.array([r[1:].sum() for r in rows]) / 1000.0  # first to last NN beat
    long_enough = span_s >= DetectorConfig().min_duration_lf_s
    assert long_enough.any() and not long_enough.all()
    np.testing.assert_array_equal(np.isfinite(f.lf_hf), long_enough)


def test_hrv_validity_threshold_and_heart_rate_fallbacks() -> None:
    cfg = DetectorConfig()
    b = WindowBatch.from_lists(
        [[800.0] * (cfg.min_beats_hrv - 1), [], []],
        hr_bpm=[[], [70.0, 72.0, 74.0, 300.0], []],
    )
    f = analyze_windows(b)
    assert not f.hrv_valid.any()
    assert np.isnan(f.rmssd_ms).all()
    assert f.heart_rate_bpm[0] == pytest.approx(75.0)  # from the 29 beats
    assert f.heart_rate_bpm[1] == pytest.approx(72.0)  # HR samples, 300 bpm dropped
    assert np.isnan(f.heart_rate_bpm[2])
    # a rhythm verdict needs fewer intervals than HRV (min_beats_rhythm < min_beats_hrv)
    assert f.rhythm_valid.tolist() == [True, False, False]


def test_at_rest_uses_the_activity_threshold_and_unknown_is_not_rest() -> None:
    cfg = DetectorConfig()
    rr = [[800.0] * 40] * 3
    act = [cfg.rest_activity_g / 2, cfg.rest_activity_g * 3, np.nan]
    f = analyze_windows(WindowBatch.from_lists(rr, activity_g=act))
    assert f.at_rest.tolist() == [True, False, False]


def test_artefacts_and_ectopy_do_not_change_hrv_much() -> None:
    rng = np.random.default_rng(22)
    clean = sinus_rr(rng, 1, 80)[0]
    dirty = clean.copy()
    dirty[10] = 3000.0  # impossible
    dirty[30], dirty[31] = dirty[30] * 0.6, dirty[31] * 1.4  # PVC + compensatory pause
    f = analyze_windows(WindowBatch.from_lists([clean, dirty]))
    assert f.n_nn[1] <= 77
    assert f.rmssd_ms[1] == pytest.approx(f.rmssd_ms[0], rel=0.15)
    assert f.mean_nn_ms[1] == pytest.approx(f.mean_nn_ms[0], rel=0.01)


def test_mismatched_batch_is_rejected_by_name() -> None:
    b = WindowBatch.from_lists([[800.0] * 40, [800.0] * 40])
    bad = WindowBatch(
        b.user_ids,
        b.end_ms[:1],
        b.rr_ms,
        b.rr_offsets,
        b.hr_bpm,
        b.hr_offsets,
        b.activity_g,
        b.rhythm_trusted,
    )
    with pytest.raises(ValueError, match="end_ms"):
        analyze_windows(bad)


@dataclass(frozen=True)
class _Inner:
    onset_ms: int | None = None
    history: tuple[bool, ...] = ()


@dataclass(frozen=True)
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    by_type: dict[str, _Inner] = field(default_factory=dict)
    level: float = float("nan")


def test_state_json_round_trips_nested_dataclasses() -> None:
    s = _Outer(_Inner(5, (True, False)), {"arrhythmia": _Inner(None, (True,))}, 2.5)
    assert state_from_json(_Outer, state_to_json(s)) == s
    with pytest.raises(ValueError, match="unknown"):
        state_from_json(_Inner, {"bogus": 1})
    with pytest.raises(TypeError):
        state_to_json({"not": "a dataclass"})
