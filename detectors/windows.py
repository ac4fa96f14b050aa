"""Per-window detector features for many users' windows in one vectorised call.

:func:`analyze_windows` turns a :class:`WindowBatch` (ragged RR and HR samples, laid out
flat with offsets) into :class:`WindowFeatures` (one value per window per field). The
hot path is NumPy over a ``(n_windows, max_beats)`` matrix, taken in blocks of rows sized
to stay in the CPU cache; there is no Python loop per window (the LF/HF step loops over a
handful of duration groups only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.artifacts import clean_intervals
from detectors.config import DEFAULT, DetectorConfig
from detectors.hrv import baevsky_stress_index_batch, hrv_frequency_batch, time_domain_masked
from detectors.rhythm import (
    ATRIAL_FEATURES,
    atrial_probability,
    irregular_probability,
    rhythm_features,
)
from detectors.rowops import row_blocks

__all__ = ["WindowBatch", "WindowFeatures", "analyze_windows", "ragged_to_padded"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class WindowBatch:
    """Many windows (any mix of users) in flat ragged arrays.

    Attributes
    ----------
    user_ids : ndarray of int64, shape (n,)
    end_ms : ndarray of int64, shape (n,)
        Window end, epoch ms of reading time.
    rr_ms : ndarray of float64
        Raw RR intervals of every window concatenated.
    rr_offsets : ndarray of int64, shape (n + 1,)
        Window i is ``rr_ms[rr_offsets[i]:rr_offsets[i + 1]]``.
    hr_bpm : ndarray of float64
        HR samples of every window concatenated (fallback when there are no beats).
    hr_offsets : ndarray of int64, shape (n + 1,)
    activity_g : ndarray of float64, shape (n,)
        Standard deviation of the accelerometer magnitude over the window (g); NaN if
        there was no accelerometer data.
    rhythm_trusted : ndarray of bool, shape (n,)
        False when the beats came from a low-quality waveform.
    atrial : ndarray of float64, shape (n, 4), optional
        Atrial-activity features of the raw ECG segment the window's beats came from
        (:func:`detectors.beats.atrial_features`); rows with a NaN (beats from RR, PPG or
        several segments) and ``None`` (no row has them) use the RR-only rhythm model.
    """

    user_ids: IntArray
    end_ms: IntArray
    rr_ms: FloatArray
    rr_offsets: IntArray
    hr_bpm: FloatArray
    hr_offsets: IntArray
    activity_g: FloatArray
    rhythm_trusted: BoolArray
    atrial: FloatArray | None = None

    @classmethod
    def from_lists(
        cls,
        rr_ms: list[list[float]] | list[FloatArray],
        *,
        user_ids: list[int] | None = None,
        end_ms: list[int] | None = None,
        hr_bpm: list[list[float]] | None = None,
        activity_g: list[float] | None = None,
        rhythm_trusted: list[bool] | None = None,
        atrial: list[list[float]] | FloatArray | None = None,
    ) -> WindowBatch:
        """Build a batch from per-window lists (convenience for tests and callers).

        Examples
        --------
        >>> b = WindowBatch.from_lists([[800.0, 810.0], [600.0]])
        >>> b.rr_offsets.tolist()
        [0, 2, 3]
        """
        n = len(rr_ms)
        rr_counts = np.array([len(r) for r in rr_ms], dtype=np.int64)
        hr_lists = hr_bpm if hr_bpm is not None else [[] for _ in range(n)]
        hr_counts = np.array([len(h) for h in hr_lists], dtype=np.int64)
        return cls(
            user_ids=np.asarray(user_ids if user_ids is not None else np.zeros(n), np.int64),
            end_ms=np.asarray(end_ms if end_ms is not None else np.zeros(n), np.int64),
            rr_ms=np.concatenate([np.asarray(r, np.float64) for r in rr_ms]) if n else np.zeros(0),
            rr_offsets=np.concatenate([[0], np.cumsum(rr_counts)]).astype(np.int64),
            hr_bpm=(
                np.concatenate([np.asarray(h, np.float64) for h in hr_lists]) if n else np.zeros(0)
            ),
            hr_offsets=np.concatenate([[0], np.cumsum(hr_counts)]).astype(np.int64),
            activity_g=np.asarray(
                activity_g if activity_g is not None else np.full(n, np.nan), np.float64
            ),
            rhythm_trusted=np.asarray(
                rhythm_trusted if rhythm_trusted is not None else np.ones(n, bool), np.bool_
            ),
            atrial=None if atrial is None else np.asarray(atrial, np.float64).reshape(n, -1),
        )


@dataclass(frozen=True)
class WindowFeatures:
    """Per-window results; every field has shape (n,), NaN where not computable.

    Attributes
    ----------
    n_beats, n_nn : ndarray of int64
        Raw intervals; NN intervals left after artefact/ectopic removal.
    mean_nn_ms, sdnn_ms, rmssd_ms, pnn50_pct, mean_hr_bpm : ndarray of float64
        Time-domain HRV (NeuroKit2 definitions; mean HR = 60000 / MeanNN). NaN unless
        ``hrv_valid``.
    stress_index : ndarray of float64
        Baevsky stress index (original, not square-rooted). NaN unless ``hrv_valid``.
    lf_ms2, hf_ms2, lf_hf : ndarray of float64
        Welch LF/HF power; NaN when the window is shorter than ``min_duration_lf_s`` or
        frequency analysis is disabled.
    heart_rate_bpm : ndarray of float64
        60000 / MeanNN when ≥ ``min_nn_heart_rate`` NN, else the mean of plausible
        ``hr_bpm`` samples, else NaN.
    hrv_valid : ndarray of bool
        ``n_nn >= min_beats_hrv``.
    irregular : ndarray of bool
        AF-like irregular rhythm; always False where ``rhythm_valid`` is False.
    irregular_probability : ndarray of float64
        Model probability behind ``irregular`` (NaN where not valid).
    rhythm_valid : ndarray of bool
        Enough clean beats and ``rhythm_trusted``; otherwise no rhythm verdict.
    at_rest : ndarray of bool
        ``activity_g < rest_activity_g``; False when activity is unknown (NaN), so
        at-rest alerts need accelerometer evidence.
    """

    n_beats: IntArray
    n_nn: IntArray
    mean_nn_ms: FloatArray
    sdnn_ms: FloatArray
    rmssd_ms: FloatArray
    pnn50_pct: FloatArray
    mean_hr_bpm: FloatArray
    stress_index: FloatArray
    lf_ms2: FloatArray
    hf_ms2: FloatArray
    lf_hf: FloatArray
    heart_rate_bpm: FloatArray
    hrv_valid: BoolArray
    irregular: BoolArray
    irregular_probability: FloatArray
    rhythm_valid: BoolArray
    at_rest: BoolArray


def ragged_to_padded(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Lay a flat ragged array out as a NaN-padded ``(n, max_len)`` matrix.

    Examples
    --------
    >>> ragged_to_padded(np.array([1.0, 2, 3]), np.array([0, 2, 2, 3])).tolist()
    [[1.0, 2.0], [nan, nan], [3.0, nan]]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or offsets.size < 1 or np.any(np.diff(offsets) < 0):
        raise ValueError(f"offsets must be a non-decreasing 1-D array, got {offsets[:10]!r}")
    if offsets[-1] > values.size:
        raise ValueError(f"offsets end at {offsets[-1]} beyond {values.size} values")
    counts = np.diff(offsets)
    n = counts.size
    k = int(counts.max(initial=0))
    if n and counts.min() == k and offsets[0] == 0 and offsets[-1] == values.size:
        return np.asarray(values, dtype=np.float64).reshape(n, k)  # equal lengths: free
    out = np.full((n, max(k, 1)), np.nan)
    rows = np.repeat(np.arange(n), counts)
    cols = np.arange(int(counts.sum())) - np.repeat(offsets[:-1] - offsets[0], counts)
    out[rows, cols] = values[offsets[0] : offsets[-1]]
    return out


def analyze_windows(
    batch: WindowBatch, config: DetectorConfig = DEFAULT, frequency: bool = True
) -> WindowFeatures:
    """Compute HRV, heart rate, rhythm and rest flags for every window of ``batch``.

    Parameters
    ----------
    batch : WindowBatch
    config : DetectorConfig
    frequency : bool, default True
        Compute LF/HF (the only step with a per-group loop); False leaves them NaN.

    Returns
    -------
    WindowFeatures

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rr = [list(800 + 40 * np.sin(np.arange(70) / 2) + rng.normal(0, 5, 70)),
    ...       list(rng.normal(600, 120, 90))]
    >>> f = analyze_windows(WindowBatch.from_lists(rr, activity_g=[0.01, np.nan]))
    >>> f.irregular.tolist(), f.rhythm_valid.tolist(), f.at_rest.tolist()
    ([False, True], [True, True], [True, False])
    """
    n = batch.user_ids.shape[0]
    _check_batch(batch, n)
    rr = ragged_to_padded(batch.rr_ms, batch.rr_offsets)
    blocks = [
        _analyze_block(
            rr[rows],
            batch.rhythm_trusted[rows],
            None if batch.atrial is None else batch.atrial[rows],
            config,
            frequency,
        )
        for rows in row_blocks(n, rr.shape[1])
    ]
    f = {key: np.concatenate([b[key] for b in blocks] or [np.zeros(0)]) for key in _BLOCK_FIELDS}
    n_nn = f["n_nn"].astype(np.int64)
    hrv_valid = n_nn >= config.min_beats_hrv
    rhythm_valid = f["rhythm_valid"].astype(bool)
    prob = f["probability"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_hr = 60000.0 / f["mean_nn"]
    heart_rate = np.where(
        n_nn >= config.min_nn_heart_rate, mean_hr, _mean_hr_samples(batch, config)
    )
    invalid = ~hrv_valid

    def nan_if(a: FloatArray) -> FloatArray:
        return np.where(invalid, np.nan, a)

    return WindowFeatures(
        n_beats=np.diff(batch.rr_offsets).astype(np.int64),
        n_nn=n_nn,
        mean_nn_ms=nan_if(f["mean_nn"]),
        sdnn_ms=nan_if(f["sdnn"]),
        rmssd_ms=nan_if(f["rmssd"]),
        pnn50_pct=nan_if(f["pnn50"]),
        mean_hr_bpm=nan_if(mean_hr),
        stress_index=nan_if(f["stress_index"]),
        lf_ms2=nan_if(f["lf"]),
        hf_ms2=nan_if(f["hf"]),
        lf_hf=nan_if(f["lf_hf"]),
        heart_rate_bpm=heart_rate,
        hrv_valid=hrv_valid,
        irregular=rhythm_valid & (prob > config.rhythm_threshold),
        irregular_probability=np.where(rhythm_valid, prob, np.nan),
        rhythm_valid=rhythm_valid,
        at_rest=batch.activity_g < config.rest_activity_g,  # NaN -> False
    )


_BLOCK_FIELDS = (
    "n_nn", "mean_nn", "sdnn", "rmssd", "pnn50", "stress_index",
    "lf", "hf", "lf_hf", "probability", "rhythm_valid",
)  # fmt: skip


def _analyze_block(
    rr: FloatArray,
    trusted: BoolArray,
    atrial: FloatArray | None,
    config: DetectorConfig,
    frequency: bool,
) -> dict[str, NDArray[np.generic]]:
    """Per-window values of one block of rows of the padded RR matrix."""
    clean = clean_intervals(rr, config)
    x, nn = clean.rr_filled_ms, clean.nn
    td = time_domain_masked(x, nn)
    features = rhythm_features(clean, td)
    prob = irregular_probability(features, config)
    if atrial is not None:
        seen = np.all(np.isfinite(atrial), axis=1)
        if seen.any():
            prob[seen] = atrial_probability(features[seen], atrial[seen], config)
    rhythm_valid = (
        trusted
        & (clean.n_plausible >= config.min_beats_rhythm)
        & (td.n_nn >= config.min_beats_rhythm // 2)
        & np.isfinite(prob)
    )
    if frequency:
        rr_time = np.where(np.isnan(rr), 0.0, rr)
        lf, hf, lf_hf = hrv_frequency_batch(x, nn, rr_time, config)
    else:
        lf = hf = lf_hf = np.full(rr.shape[0], np.nan)
    return {
        "n_nn": td.n_nn,
        "mean_nn": td.mean_nn_ms,
        "sdnn": td.sdnn_ms,
        "rmssd": td.rmssd_ms,
        "pnn50": td.pnn50_pct,
        "stress_index": baevsky_stress_index_batch(x, nn, td=td),
        "lf": lf,
        "hf": hf,
        "lf_hf": lf_hf,
        "probability": prob,
        "rhythm_valid": rhythm_valid,
    }


def _mean_hr_samples(batch: WindowBatch, config: DetectorConfig) -> FloatArray:
    """Mean of the plausible HR samples of each window (NaN where none)."""
    hr = np.asarray(batch.hr_bpm, dtype=np.float64)
    ok = (hr >= config.hr_plausible_min_bpm) & (hr <= config.hr_plausible_max_bpm)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, hr, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    off = batch.hr_offsets
    count = ccount[off[1:]] - ccount[off[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[off[1:]] - csum[off[:-1]]) / count, np.nan)


def _check_batch(batch: WindowBatch, n: int) -> None:
    """Raise ValueError naming the first field whose shape disagrees with ``n`` windows."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
        "end_ms": (batch.end_ms.shape, (n,)),
        "rr_offsets": (batch.rr_offsets.shape, (n + 1,)),
        "hr_offsets": (batch.hr_offsets.shape, (n + 1,)),
        "activity_g": (batch.activity_g.shape, (n,)),
        "rhythm_trusted": (batch.rhythm_trusted.shape, (n,)),
    }
    if batch.atrial is not None:
        shapes["atrial"] = (batch.atrial.shape, (n, len(ATRIAL_FEATURES)))
    for name, (got, want) in shapes.items():
        if got != want:
            raise ValueError(f"WindowBatch.{name} has shape {got}, expected {want} for {n} windows")
