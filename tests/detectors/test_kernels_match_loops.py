"""The vectorised kernels equal plain per-window loops of the same rules.

The hot path works on flat buffers (shifted views, edge columns recomputed, pairs taken
across the flat array with the row ends masked); these loops state each rule once, in the
obvious way, so an off-by-one at a row edge shows up as a mismatch.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import detectors.rowops as rowops_module
from detectors import WindowBatch, analyze_windows
from detectors.artifacts import clean_intervals
from detectors.config import DEFAULT, DetectorConfig
from detectors.fit.synthetic import add_ectopy, af_rr, sinus_rr
from detectors.hrv import baevsky_stress_index_batch, hrv_time_batch, time_domain_masked
from detectors.rowops import count_per_row, next_in_row, with_next


def loop_reference(row: np.ndarray) -> np.ndarray:
    """Trimmed mean of the 5 intervals centred on each one, edges repeated (float32)."""
    k = row.size
    out = np.empty(k, dtype=np.float32)
    r32 = row.astype(np.float32)
    for c in range(k):
        window = [r32[min(max(j, 0), k - 1)] for j in range(c - 2, c + 3)]
        total = np.float32(0)
        for v in window:
            total = np.float32(total + v)
        total = np.float32(total - max(window))
        total = np.float32(total - min(window))
        out[c] = np.float32(total * np.float32(1.0 / 3.0))
    return out


def loop_explained(x32: np.ndarray, ref: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """Premature + pause, split and missed-beat patterns, one interval at a time."""
    k = x32.size
    thr, tol = cfg.ectopic_rel_threshold, cfg.ectopic_pair_tolerance
    short = x32 < np.float32(1 - thr) * ref
    long_ = x32 > np.float32(1 + thr) * ref
    out = np.zeros(k, dtype=bool)
    for j in range(k):
        if short[j] and j + 1 < k:
            pair = np.float32(x32[j] + x32[j + 1])
            two_ref = np.float32(2.0 * ref[j])
            if short[j + 1]:
                hit = abs(np.float32(pair - ref[j])) <= np.float32(tol * ref[j])
            else:
                hit = abs(np.float32(pair - two_ref)) <= np.float32(tol * 2.0 * ref[j])
            if hit:
                out[j] = True
                if long_[j + 1] or short[j + 1]:
                    out[j + 1] = True
        if long_[j] and abs(np.float32(x32[j] - 2.0 * ref[j])) <= np.float32(tol * ref[j]):
            out[j] = True
    return out


def mixed_rows(seed: int, n: int, k: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    third = n // 3
    rr = np.vstack(
        [
            sinus_rr(rng, third, k),
            add_ectopy(rng, sinus_rr(rng, third, k)),
            af_rr(rng, n - 2 * third, k),
        ]
    )
    rr[rng.random(rr.shape) < 0.01] = 3000.0  # implausible
    return rr


@pytest.mark.parametrize("k", [5, 6, 7, 12, 64])
def test_reference_and_explained_equal_the_loops(k: int) -> None:
    rr = mixed_rows(k, 60, k)
    clean = clean_intervals(rr)
    for i in range(rr.shape[0]):
        x = clean.rr_filled_ms[i]
        ref = loop_reference(x)
        np.testing.assert_array_equal(clean.reference_ms[i], ref, err_msg=f"row {i}")
        explained = loop_explained(x.astype(np.float32), ref, DEFAULT)
        plausible = clean.plausible[i]
        outlier = ~clean.nn[i] & plausible
        np.testing.assert_array_equal(clean.unexplained[i], outlier & ~explained, f"row {i}")


def loop_time_domain(x: np.ndarray, nn: np.ndarray) -> tuple[float, float, float, float]:
    vals = x[nn]
    diffs = [x[j + 1] - x[j] for j in range(x.size - 1) if nn[j] and nn[j + 1]]
    d = np.array(diffs)
    return (
        float(np.mean(vals)),
        float(np.std(vals, ddof=1)),
        float(np.sqrt(np.mean(d**2))),
        float(np.sum(np.abs(d) > 50) / (d.size + 1) * 100),
    )


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(3, 70)),
           elements=st.floats(300, 2000)),
    st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_time_domain_and_stress_index_equal_the_loops(x: np.ndarray, seed: int) -> None:
    nn = np.random.default_rng(seed).random(x.shape) < 0.8
    nn[:, :3] = True
    td = time_domain_masked(x, nn)
    si = baevsky_stress_index_batch(x, nn)
    for i in range(x.shape[0]):
        want = loop_time_domain(x[i], nn[i])
        got = (td.mean_nn_ms[i], td.sdnn_ms[i], td.rmssd_ms[i], td.pnn50_pct[i])
        if np.isnan(want[2]):  # no adjacent NN pair
            assert np.isnan(got[2])
            continue
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        vals = x[i][nn[i]]
        counts = np.bincount((vals.astype(np.float32) * np.float32(0.02)).astype(int))
        mode = int(np.argmax(counts))
        range_s = (vals.max() - vals.min()) / 1000
        if range_s > 0:
            want_si = counts[mode] / vals.size * 100 / (2 * (mode + 0.5) * 0.05 * range_s)
            assert si[i] == pytest.approx(want_si, rel=1e-12)
        else:
            assert np.isnan(si[i])


def test_row_helpers_handle_empty_and_single_columns() -> None:
    for k in (0, 1):
        a = np.ones((3, k))
        assert with_next(a, np.subtract, 0.0).shape == (3, k)
        assert next_in_row(a > 0, False).shape == (3, k)
        assert count_per_row(a > 0).tolist() == [k] * 3
    assert with_next(np.array([[5.0]]), np.subtract, 0.0).tolist() == [[0.0]]


def test_results_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    rr = mixed_rows(3, 500, 64)
    rr[::7, 50:] = np.nan  # ragged rows
    rows = [r[~np.isnan(r)] for r in rr]
    batch = WindowBatch.from_lists(rows, activity_g=[0.01] * len(rows))
    whole = analyze_windows(batch)
    whole_hrv = hrv_time_batch(rr)
    monkeypatch.setattr(rowops_module, "BLOCK_ELEMENTS", 64 * 37)  # 37-row blocks
    blocked = analyze_windows(batch)
    for key, values in hrv_time_batch(rr).items():
        np.testing.assert_allclose(values, whole_hrv[key], rtol=1e-12, equal_nan=True)
    for field in dataclasses.fields(whole):
        np.testing.assert_allclose(
            np.asarray(getattr(blocked, field.name), dtype=float),
            np.asarray(getattr(whole, field.name), dtype=float),
            rtol=1e-9,
            equal_nan=True,
            err_msg=field.name,
        )


def test_rr_range_the_kernels_cannot_use_is_refused() -> None:
    with pytest.raises(ValueError, match="rr_min_ms"):
        DetectorConfig(rr_min_ms=20.0)
    with pytest.raises(ValueError, match="rr_min_ms"):
        DetectorConfig(rr_min_ms=900.0, rr_max_ms=800.0)
