"""Artefact and ectopic-beat removal on NaN-padded batches of RR intervals.

Vectorised over windows: the input is a 2-D array ``(n_windows, k)`` of RR intervals in
ms, NaN-padded at the end of short rows. No Python loop runs per window.

Rules (all thresholds in :class:`~detectors.config.DetectorConfig`):

1. *Implausible*: RR outside ``rr_min_ms``..``rr_max_ms`` (250-2500 ms) is an artefact.
2. *Local reference*: the trimmed mean of the 5 intervals centred on each interval
   (drop the largest and the smallest), robust to one premature/compensatory pair.
3. *Outlier* (Kamath & Fallen 1995 / Malik et al. 1993 "20 % rule"): an interval more
   than ``ectopic_rel_threshold`` (20 %) away from its local reference.
4. *Explained* outliers, the patterns ectopy and beat-detection errors leave
   (Lipponen & Tarvainen 2019, J Med Eng Technol 43:173-181, classify the same shapes):

   - premature beat + pause: a short interval followed by a non-short one, the pair
     summing to ~2 references (PVC: full compensatory pause; PAC: a reset pause that
     may be within 20 % of normal; Lown & Wolf 1971);
   - interpolated ectopic or extra detection: two shorts summing to ~1 reference;
   - missed beat: one long interval of ~2 references (within ``tol`` references).

   Any other outlier is *unexplained* irregularity, the signature of AF.

Every outlier (explained or not) and every implausible interval is excluded from the
NN series used for HRV. The unexplained fraction feeds the rhythm classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.config import DEFAULT, DetectorConfig
from detectors.rowops import count_per_row, next_in_row, with_next

__all__ = ["CleanIntervals", "clean_intervals"]

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]
Int32Array = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

_REFERENCE_WIDTH = 5  # beats in the trimmed-mean reference (centre +- 2)


@dataclass(frozen=True)
class CleanIntervals:
    """Result of :func:`clean_intervals`; every array has the input's 2-D shape.

    Attributes
    ----------
    rr_filled_ms : ndarray of float64
        The RR intervals with implausible values replaced by the row's mean plausible
        interval and padding by the row's last interval (finite everywhere, so filters
        and differences are safe).
    plausible : ndarray of bool
        Present and within the physiological range.
    nn : ndarray of bool
        Plausible and not an outlier: the NN intervals.
    unexplained : ndarray of bool
        Outliers that match no ectopic/detection-error pattern.
    reference_ms : ndarray of float32
        Local trimmed-mean reference interval (float32: only compared at 20 %).
    n_plausible : ndarray of int32, shape (n_windows,)
        Plausible intervals per window.
    """

    rr_filled_ms: FloatArray
    plausible: BoolArray
    nn: BoolArray
    unexplained: BoolArray
    reference_ms: Float32Array
    n_plausible: Int32Array


def clean_intervals(rr_ms_2d: FloatArray, config: DetectorConfig = DEFAULT) -> CleanIntervals:
    """Classify every interval of a NaN-padded batch as NN, artefact or ectopic.

    Parameters
    ----------
    rr_ms_2d : ndarray of float64, shape (n_windows, k)
        Raw RR intervals in ms, NaN-padded.
    config : DetectorConfig
        Thresholds (``rr_min_ms``, ``rr_max_ms``, ``ectopic_rel_threshold``,
        ``ectopic_pair_tolerance``).

    Returns
    -------
    CleanIntervals

    Examples
    --------
    >>> import numpy as np
    >>> rr = np.array([[800.0, 810, 790, 560, 1040, 800, 805, 3000.0]])
    >>> c = clean_intervals(rr)
    >>> c.nn.astype(int).tolist()
    [[1, 1, 1, 0, 0, 1, 1, 0]]
    >>> bool(c.unexplained.any())
    False
    """
    rr = np.asarray(rr_ms_2d, dtype=np.float64)
    if rr.ndim != 2:
        raise ValueError(f"rr_ms_2d must be 2-D (n_windows, k), got shape {rr.shape}")
    plausible = (rr >= config.rr_min_ms) & (rr <= config.rr_max_ms)  # NaN compares False
    n_plausible = count_per_row(plausible)
    x = _fill_implausible(rr, plausible, n_plausible)

    x32, reference = _trimmed_reference(x)
    thr = config.ectopic_rel_threshold
    short = x32 < np.float32(1.0 - thr) * reference
    long_ = x32 > np.float32(1.0 + thr) * reference
    outlier = short | long_
    outlier &= plausible
    explained = _explained(x32, reference, short, long_, tol=config.ectopic_pair_tolerance)
    nn = plausible & ~outlier
    unexplained = outlier & ~explained
    return CleanIntervals(
        rr_filled_ms=x,
        plausible=plausible,
        nn=nn,
        unexplained=unexplained,
        reference_ms=reference,
        n_plausible=n_plausible,
    )


def _fill_implausible(rr: FloatArray, plausible: BoolArray, n_plausible: Int32Array) -> FloatArray:
    """The intervals with implausible values set to the row's mean plausible interval
    (1000 ms if none) and NaN padding to the row's last interval.

    Padding repeats the last interval exactly as the reference treats the edge of an
    unpadded row: a window's result must not depend on how wide the other windows of its
    batch are. Only rows that need it are touched (most rows are complete and plausible).
    """
    rows = np.flatnonzero(n_plausible < rr.shape[1])
    if rows.size == 0:
        return rr
    sub = rr[rows]
    ok = plausible[rows]
    row_sum = np.where(ok, sub, 0.0).sum(axis=1)
    n_ok = n_plausible[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        row_mean = np.where(n_ok > 0, row_sum / np.maximum(n_ok, 1), 1000.0)
    fixed = np.where(ok, sub, row_mean[:, None])
    present = ~np.isnan(sub)
    if not present.all():
        last = np.maximum(present.sum(axis=1) - 1, 0)
        fixed = np.where(present, fixed, fixed[np.arange(rows.size), last][:, None])
    x = rr.copy()
    x[rows] = fixed
    return x


def _trimmed_reference(x: FloatArray) -> tuple[Float32Array, Float32Array]:
    """``x`` as float32 and the mean of the 5 intervals centred on each one without
    their largest and smallest.

    Edges repeat the first/last interval. Computed in float32 (a 20 % threshold needs no
    more) with the 5 shifted views of the flat matrix, so every step is one contiguous
    1-D SIMD loop; the two columns at each row edge, whose flat neighbours belong to the
    adjacent rows, are then recomputed from edge-repeated windows.
    """
    n, k = x.shape
    half = _REFERENCE_WIDTH // 2
    x32 = x.astype(np.float32)
    if k < _REFERENCE_WIDTH:  # also k == 0: only windows without beats (HR samples alone)
        med = np.median(x, axis=1, keepdims=True) if k else np.zeros((n, 1))
        return x32, np.broadcast_to(med.astype(np.float32), x.shape).copy()
    flat = x32.reshape(-1)
    length = flat.size - 2 * half
    reference = np.empty_like(x32)
    centred = reference.reshape(-1)[half : half + length]  # flat[j : j + 5] is centred on j + 2
    _trimmed_mean([flat[i : i + length] for i in range(_REFERENCE_WIDTH)], out=centred)
    edges = np.array([0, 1, k - 2, k - 1])
    window_cols = np.clip(edges[None, :] + np.arange(-half, half + 1)[:, None], 0, k - 1)
    reference[:, edges] = _trimmed_mean([x32[:, cols] for cols in window_cols])
    return x32, reference


def _trimmed_mean(views: list[Float32Array], out: Float32Array | None = None) -> Float32Array:
    """Elementwise (sum - max - min) / (len - 2) over equally shaped arrays, in float32."""
    total = np.add(views[0], views[1], out=out)
    hi = np.maximum(views[0], views[1])
    lo = np.minimum(views[0], views[1])
    for v in views[2:]:
        total += v
        np.maximum(hi, v, out=hi)
        np.minimum(lo, v, out=lo)
    total -= hi
    total -= lo
    total *= np.float32(1.0 / (len(views) - 2))
    return total


def _explained(
    x32: Float32Array,
    reference: Float32Array,
    short: BoolArray,
    long_: BoolArray,
    *,
    tol: float,
) -> BoolArray:
    """Where short/long intervals form ectopic or detection-error patterns.

    Dense over the batch: each interval is paired with the next one of its row on the
    flat buffer (:func:`~detectors.rowops.with_next`), so every step is one contiguous
    pass and no index lists are built.
    """
    pair = with_next(x32, np.add, 0.0)  # x[j] + x[j + 1]
    next_short = next_in_row(short, False)  # short[j + 1]; False in the last column
    next_long = next_in_row(long_, False)
    first_short = short.copy()
    first_short[:, -1:] = False  # a pair needs a next interval in the same window
    # premature beat + (compensatory or reset) pause: the pair spans ~2 references
    compensatory = np.abs(pair - 2.0 * reference) <= tol * 2.0 * reference
    compensatory &= ~next_short
    # interpolated ectopic or extra detection: two shorts spanning ~1 reference
    split = np.abs(pair - reference) <= tol * reference
    split &= next_short
    hit = compensatory | split
    hit &= first_short
    explained: BoolArray = hit.copy()
    explained[:, 1:] |= (hit & (next_long | next_short))[:, :-1]
    # missed beat: one long interval of ~2 references
    explained |= long_ & (np.abs(x32 - 2.0 * reference) <= tol * reference)
    return explained
