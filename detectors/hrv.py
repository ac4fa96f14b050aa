"""Heart-rate variability over many windows at once (time and frequency domain).

The time-domain definitions are NeuroKit2's ``hrv_time`` (v0.2.x) exactly, so that on
identical NN intervals the values agree to floating-point rounding:

- ``MeanNN`` mean NN (ms); ``SDNN`` standard deviation with ddof=1 (ms);
- ``RMSSD`` root mean square of successive differences (ms); ``SDSD`` their standard
  deviation, ddof=1 (ms); ``CVNN`` = SDNN/MeanNN; ``CVSD`` = RMSSD/MeanNN;
- ``pNN50``/``pNN20``: successive differences strictly greater than 50/20 ms, divided by
  the number of differences + 1 (NeuroKit2 divides by the number of intervals), in %;
- ``MinNN``, ``MaxNN`` (ms).

Successive differences are only taken between intervals that are both present, so a NaN
hole (a removed beat) never produces a spurious difference (as NeuroKit2 does for
missing intervals).

References
----------
* Task Force of the ESC and NASPE (1996). Heart rate variability: standards of
  measurement, physiological interpretation and clinical use. Circulation 93:1043-1065.
* Pham, T., Lau, Z. J., Chen, S. H. A., & Makowski, D. (2021). Heart Rate Variability in
  Psychology: A Review of HRV Indices and an Analysis Tutorial. Sensors 21(12):3998.
* Baevsky, R. M., & Chernikova, A. G. (2017). Heart rate variability analysis: physiological
  foundations and main methods. Cardiometry 10:66-76.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.signal import welch

from detectors.config import DEFAULT, DetectorConfig
from detectors.rowops import count_per_row, row_blocks, sum_per_row, with_next

__all__ = [
    "TimeDomain",
    "baevsky_stress_index_batch",
    "hrv_frequency_batch",
    "hrv_time_batch",
    "time_domain_masked",
]

FloatArray = NDArray[np.float64]
Int32Array = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

_BAEVSKY_BIN_MS = 50.0  # Baevsky & Chernikova 2017: 50 ms histogram bins
_MAX_BIN = 64  # 64 * 50 ms = 3200 ms > rr_max_ms


def hrv_time_batch(nn_ms_2d: FloatArray) -> dict[str, FloatArray]:
    """Time-domain HRV of every row of a NaN-padded NN matrix, equal to ``nk.hrv_time``.

    Parameters
    ----------
    nn_ms_2d : ndarray of float64, shape (n_windows, k)
        NN intervals in ms, one window per row, NaN where absent (padding or removed).

    Returns
    -------
    dict of str to ndarray of float64, each shape (n_windows,)
        ``MeanNN``, ``SDNN``, ``RMSSD``, ``SDSD``, ``CVNN``, ``CVSD``, ``pNN50``,
        ``pNN20``, ``MinNN``, ``MaxNN`` (ms or %, see module docstring); NaN where a row
        has too few intervals.

    Examples
    --------
    >>> import numpy as np
    >>> out = hrv_time_batch(np.array([[800.0, 860, 790, np.nan], [600, 600, 600, 600]]))
    >>> [round(float(v), 3) for v in out["RMSSD"]]
    [65.192, 0.0]
    >>> [float(v) for v in out["pNN50"]]
    [66.66666666666666, 0.0]
    """
    nn = np.asarray(nn_ms_2d, dtype=np.float64)
    if nn.ndim != 2:
        raise ValueError(f"nn_ms_2d must be 2-D (n_windows, k), got shape {nn.shape}")
    blocks = [_hrv_time_block(nn[rows]) for rows in row_blocks(nn.shape[0], nn.shape[1])]
    keys = ("MeanNN", "SDNN", "RMSSD", "SDSD", "CVNN", "CVSD", "pNN50", "pNN20", "MinNN", "MaxNN")
    return {key: np.concatenate([b[key] for b in blocks] or [np.zeros(0)]) for key in keys}


def _hrv_time_block(nn: FloatArray) -> dict[str, FloatArray]:
    """:func:`hrv_time_batch` of one block of rows."""
    mask = np.isfinite(nn)
    x = np.where(mask, nn, 0.0)
    td = time_domain_masked(x, mask, extended=True)
    out = {
        "MeanNN": td.mean_nn_ms,
        "SDNN": td.sdnn_ms,
        "RMSSD": td.rmssd_ms,
        "pNN50": td.pnn50_pct,
        **td.extra,
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        out["CVNN"] = out["SDNN"] / out["MeanNN"]
        out["CVSD"] = out["RMSSD"] / out["MeanNN"]
    return out


@dataclass(frozen=True)
class TimeDomain:
    """Core time-domain HRV of a batch plus intermediates reused by later steps.

    Attributes
    ----------
    mean_nn_ms, sdnn_ms, rmssd_ms, pnn50_pct : ndarray of float64, shape (n,)
    n_nn : ndarray of int32, shape (n,)
        NN intervals per row.
    nn_ms : ndarray of float64, shape (n, k)
        The NN intervals in place, 0 where an interval is not NN.
    nn_weight : ndarray of float64, shape (n, k)
        1.0 where an interval is NN, else 0.0.
    diff_ms : ndarray of float64, shape (n, k)
        Column j is the successive difference ``x[j + 1] - x[j]`` when both intervals are
        NN, else 0; the last column is always 0 (full width keeps later steps contiguous).
    diff_mask : ndarray of bool, shape (n, k)
        Where both intervals of a difference are NN (last column False).
    extra : dict
        ``SDSD``, ``pNN20``, ``MinNN``, ``MaxNN`` when requested.
    """

    mean_nn_ms: FloatArray
    sdnn_ms: FloatArray
    rmssd_ms: FloatArray
    pnn50_pct: FloatArray
    n_nn: Int32Array
    nn_ms: FloatArray
    nn_weight: FloatArray
    diff_ms: FloatArray
    diff_mask: BoolArray
    extra: dict[str, FloatArray] = field(default_factory=dict)


def time_domain_masked(x: FloatArray, mask: BoolArray, extended: bool = False) -> TimeDomain:
    """Time-domain HRV where ``mask`` selects the NN intervals of the finite matrix ``x``.

    The hot-path core of :func:`hrv_time_batch` and :func:`~detectors.windows.analyze_windows`
    (no NaN handling: ``x`` must be finite everywhere). Masking is done by multiplying with
    the 0/1 mask (``x`` is finite, so this equals ``np.where`` at a third of the cost), and
    row sums use :mod:`detectors.rowops`. Also returns the intermediates the rhythm
    features and the stress index reuse. ``extended`` adds SDSD, pNN20, MinNN and MaxNN.
    """
    n_nn = count_per_row(mask)
    weight = mask.astype(np.float64)
    nn_ms = x * weight
    dmask = with_next(mask, np.logical_and, False)
    n_d = count_per_row(dmask)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sum_per_row(nn_ms) / n_nn
        dev = x - mean[:, None]
        dev *= weight
        sdnn = np.sqrt(np.einsum("ij,ij->i", dev, dev) / (n_nn - 1))
        sdnn[n_nn < 2] = np.nan
        dd = with_next(x, np.subtract, 0.0)
        dd *= dmask
        rmssd = np.sqrt(np.einsum("ij,ij->i", dd, dd) / n_d)
        pnn50 = _count_beyond(dd, 50.0) / (n_d + 1) * 100.0
        pnn50[n_d < 1] = np.nan
        extra: dict[str, FloatArray] = {}
        if extended:
            mean_d = sum_per_row(dd) / n_d
            ddev = dd - mean_d[:, None]
            ddev *= dmask
            sdsd = np.sqrt(np.einsum("ij,ij->i", ddev, ddev) / (n_d - 1))
            sdsd[n_d < 2] = np.nan
            pnn20 = _count_beyond(dd, 20.0) / (n_d + 1) * 100.0
            pnn20[n_d < 1] = np.nan
            extra["SDSD"] = sdsd
            extra["pNN20"] = pnn20
            extra["MinNN"] = np.where(n_nn > 0, np.where(mask, x, np.inf).min(axis=1), np.nan)
            extra["MaxNN"] = np.where(n_nn > 0, np.where(mask, x, -np.inf).max(axis=1), np.nan)
    return TimeDomain(mean, sdnn, rmssd, pnn50, n_nn, nn_ms, weight, dd, dmask, extra)


def _count_beyond(diff_ms: FloatArray, limit_ms: float) -> Int32Array:
    """Per row, how many differences exceed ``limit_ms`` in absolute value (strictly)."""
    return count_per_row((diff_ms > limit_ms) | (diff_ms < -limit_ms))


def baevsky_stress_index_batch(
    x: FloatArray, mask: BoolArray, *, td: TimeDomain | None = None
) -> FloatArray:
    """Baevsky's stress index SI = AMo / (2 · Mo · MxDMn) of every row.

    Mo is the centre of the modal 50 ms bin of the NN histogram (s), AMo the share of
    intervals in that bin (%), MxDMn the NN range max - min (s) (Baevsky & Chernikova
    2017). This is the original index; Kubios HRV reports its square root. Rows with fewer
    than 2 NN or zero range give NaN. Ties between modal bins go to the shorter bin.

    Parameters
    ----------
    x : ndarray of float64, shape (n, k)
        Finite interval matrix (ms).
    mask : ndarray of bool, shape (n, k)
        NN intervals to use; they must be >= 50 ms (every physiological RR is; the
        histogram keeps bin 0 for "not NN").
    td : TimeDomain, optional
        :func:`time_domain_masked` of the same ``x`` and ``mask``, to reuse its work.

    Returns
    -------
    ndarray of float64, shape (n,)

    Examples
    --------
    >>> x = np.array([[800.0, 810, 790, 805, 900]])
    >>> round(float(baevsky_stress_index_batch(x, np.ones_like(x, dtype=bool))[0]), 1)
    330.6
    """
    if td is None:
        td = time_domain_masked(x, mask)
    nn_ms, n_nn = td.nn_ms, td.n_nn
    n, width = nn_ms.shape[0], _MAX_BIN
    if nn_ms.shape[1] == 0:  # windows with HR samples only
        return np.full(n, np.nan)
    # NN intervals are >= rr_min_ms (bin >= 1), so bin 0 holds exactly the non-NN zeros
    scaled = nn_ms.astype(np.float32)
    scaled *= np.float32(1.0 / _BAEVSKY_BIN_MS)
    np.minimum(scaled, np.float32(_MAX_BIN - 1), out=scaled)
    if n * width < 1 << 24:  # row offsets stay exact integers in float32: add them there
        np.floor(scaled, out=scaled)
        scaled += (np.arange(n, dtype=np.float32) * np.float32(width))[:, None]
        bins = scaled.astype(np.intp)
    else:
        bins = scaled.astype(np.intp)
        bins += (np.arange(n, dtype=np.intp) * width)[:, None]
    counts = np.bincount(bins.ravel(), minlength=n * width).reshape(n, width)
    counts[:, 0] = 0
    mode_bin = counts.argmax(axis=1)
    amo_pct = counts[np.arange(n), mode_bin] / np.maximum(n_nn, 1) * 100.0
    mo_s = (mode_bin + 0.5) * _BAEVSKY_BIN_MS / 1000.0
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = nn_ms.max(axis=1)  # intervals are positive, non-NN are 0
        lo = (x / td.nn_weight).min(axis=1)  # non-NN become +inf
        range_s = (hi - lo) / 1000.0
        si: FloatArray = amo_pct / (2.0 * mo_s * range_s)
    si[(n_nn < 2) | ~(range_s > 0)] = np.nan
    return si


def hrv_frequency_batch(
    x: FloatArray,
    mask: BoolArray,
    rr_for_time_ms: FloatArray,
    config: DetectorConfig = DEFAULT,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """LF and HF power (ms²) and LF/HF of every row long enough, else NaN.

    The NN series (beat times from the cumulative *raw* intervals, so removed beats leave
    gaps rather than shifting time) is linearly interpolated at
    ``config.spectrum_resample_hz`` (4 Hz) and its power spectral density estimated by
    Welch's method (Hann window, linear detrend; Task Force 1996). Rows are grouped by
    duration in 8 s buckets so each group is one vectorised ``scipy.signal.welch`` call.
    Only rows spanning at least ``config.min_duration_lf_s`` with ≥ ``min_beats_hrv`` NN
    get values; in 60 s windows LF (≥ 0.04 Hz, 2.4 cycles) is indicative only.

    Parameters
    ----------
    x, mask : ndarray, shape (n, k)
        Finite intervals (ms) and the NN mask.
    rr_for_time_ms : ndarray of float64, shape (n, k)
        Intervals used to build beat times: the raw intervals with padding set to 0.
    config : DetectorConfig

    Returns
    -------
    lf_ms2, hf_ms2, lf_hf : ndarray of float64, each shape (n,)
    """
    n = x.shape[0]
    lf = np.full(n, np.nan)
    hf = np.full(n, np.nan)
    t_ms = np.cumsum(rr_for_time_ms, axis=1)
    t_first = np.where(mask, t_ms, np.inf).min(axis=1, initial=np.inf)
    t_last = np.where(mask, t_ms, -np.inf).max(axis=1, initial=-np.inf)
    duration_s = (t_last - t_first) / 1000.0
    ok = (duration_s >= config.min_duration_lf_s) & (mask.sum(axis=1) >= config.min_beats_hrv)
    if not ok.any():
        return lf, hf, lf / hf
    fs = config.spectrum_resample_hz
    bucket_s = 8.0
    buckets = np.floor(duration_s / bucket_s)
    for b in np.unique(buckets[ok]):  # a handful of duration groups, not one per window
        rows = np.nonzero(ok & (buckets == b))[0]
        n_samples = int(b * bucket_s * fs)
        grid = t_first[rows, None] + np.arange(n_samples) * (1000.0 / fs)
        y = _interp_rows(t_ms[rows], x[rows], mask[rows], grid)
        freqs, psd = welch(
            y, fs=fs, window="hann", nperseg=min(n_samples, 256), detrend="linear", axis=1
        )
        lf[rows] = _band_power(freqs, psd, config.lf_band_hz)
        hf[rows] = _band_power(freqs, psd, config.hf_band_hz)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = lf / hf
    return lf, hf, ratio


def _interp_rows(t: FloatArray, v: FloatArray, mask: BoolArray, grid: FloatArray) -> FloatArray:
    """Row-wise linear interpolation of masked points (t, v) at ``grid``, vectorised.

    Rows are laid end to end on one axis (row offset larger than any time), so a single
    ``searchsorted`` serves all rows.
    """
    n = t.shape[0]
    span = float(max(np.nanmax(np.where(mask, t, 0.0)), np.max(grid))) + 1.0
    offset = (np.arange(n, dtype=np.float64) * span)[:, None]
    keys = (t + offset)[mask]
    vals = v[mask]
    q = (grid + offset).ravel()
    hi = np.clip(np.searchsorted(keys, q), 1, keys.size - 1)
    lo = hi - 1
    w = np.clip((q - keys[lo]) / (keys[hi] - keys[lo]), 0.0, 1.0)
    return (vals[lo] + w * (vals[hi] - vals[lo])).reshape(grid.shape)


def _band_power(freqs: FloatArray, psd: FloatArray, band: tuple[float, float]) -> FloatArray:
    """Integrate PSD rows over ``band`` (Hz) with the trapezoid rule -> ms²."""
    sel = (freqs >= band[0]) & (freqs < band[1])
    if sel.sum() < 2:
        return np.full(psd.shape[0], np.nan)
    power: FloatArray = np.asarray(np.trapezoid(psd[:, sel], freqs[sel], axis=1), np.float64)
    return power
