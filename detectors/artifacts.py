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

__all__ = ["CleanIntervals", "clean_intervals"]

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]
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
    """

    rr_filled_ms: FloatArray
    plausible: BoolArray
    nn: BoolArray
    unexplained: BoolArray
    reference_ms: Float32Array


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
    if plausible.all():
        x = rr
    else:
        n_ok = plausible.sum(axis=1)
        row_sum = np.where(plausible, rr, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            row_mean = np.where(n_ok > 0, row_sum / np.maximum(n_ok, 1), 1000.0)
        x = np.where(plausible, rr, row_mean[:, None])
        # NaN padding repeats the row's last interval, exactly as the reference treats the
        # edge of an unpadded row: a window's result must not depend on how wide the
        # other windows of its batch are
        present = ~np.isnan(rr)
        if not present.all():
            last = np.maximum(present.sum(axis=1) - 1, 0)
            x = np.where(present, x, x[np.arange(x.shape[0]), last][:, None])

    reference = _trimmed_reference(x)
    x32 = x.astype(np.float32)

    thr = config.ectopic_rel_threshold
    tol = config.ectopic_pair_tolerance
    short = x32 < np.float32(1.0 - thr) * reference
    long_ = x32 > np.float32(1.0 + thr) * reference
    outlier = (short | long_) & plausible
    explained = np.zeros_like(outlier)
    if outlier.any():
        _mark_explained(x32, reference, short, long_, tol=tol, explained=explained)
    nn = plausible & ~outlier
    unexplained = outlier & ~explained
    return CleanIntervals(
        rr_filled_ms=x,
        plausible=plausible,
        nn=nn,
        unexplained=unexplained,
        reference_ms=reference,
    )


def _trimmed_reference(x: FloatArray) -> Float32Array:
    """Mean of the 5 intervals centred on each one without its largest and smallest.

    Edges repeat the first/last interval. Computed in float32 (a 20 % threshold needs no
    more) on one flat, row-padded array so every step is a contiguous 1-D SIMD loop.
    """
    n, k = x.shape
    half = _REFERENCE_WIDTH // 2
    if k == 0:  # only windows without beats (HR samples alone)
        return np.empty((n, 0), dtype=np.float32)
    if k < _REFERENCE_WIDTH:
        med = np.median(x, axis=1, keepdims=True).astype(np.float32)
        return np.broadcast_to(med, x.shape).copy()
    width = k + 2 * half
    xp = np.empty((n, width), dtype=np.float32)
    xp[:, half : half + k] = x
    xp[:, :half] = x[:, :1]
    xp[:, half + k :] = x[:, -1:]
    flat = xp.ravel()
    length = flat.size - 2 * half
    views = [flat[i : i + length] for i in range(_REFERENCE_WIDTH)]
    total = views[0] + views[1]
    hi = np.maximum(views[0], views[1])
    lo = np.minimum(views[0], views[1])
    for v in views[2:]:
        total += v
        np.maximum(hi, v, out=hi)
        np.minimum(lo, v, out=lo)
    total -= hi
    total -= lo
    total *= np.float32(1.0 / (_REFERENCE_WIDTH - 2))
    out = np.empty(n * width, dtype=np.float32)
    out[half : half + length] = total
    result: Float32Array = out.reshape(n, width)[:, half : half + k]
    return result


def _mark_explained(
    x: Float32Array,
    reference: Float32Array,
    short: BoolArray,
    long_: BoolArray,
    *,
    tol: float,
    explained: BoolArray,
) -> None:
    """Set ``explained`` where outliers form ectopic or detection-error patterns.

    Works on the flat indices of the outliers only, so its cost scales with the number of
    outliers rather than with the batch size.
    """
    k = x.shape[1]
    xf, rf, sf, lf = x.ravel(), reference.ravel(), short.ravel(), long_.ravel()
    ef = explained.reshape(-1)  # a view: writes land in ``explained``
    idx = np.flatnonzero(sf)
    idx = idx[idx % k != k - 1]  # a pair needs a next interval in the same window
    if idx.size:
        nxt = idx + 1
        pair = xf[idx] + xf[nxt]
        ref = rf[idx]
        nxt_short = sf[nxt]
        compensatory = ~nxt_short & (np.abs(pair - 2.0 * ref) <= tol * 2.0 * ref)
        split = nxt_short & (np.abs(pair - ref) <= tol * ref)
        hit = compensatory | split
        ef[idx[hit]] = True
        second = hit & (lf[nxt] | nxt_short)
        ef[nxt[second]] = True
    idx = np.flatnonzero(lf)
    if idx.size:
        missed = np.abs(xf[idx] - 2.0 * rf[idx]) <= tol * rf[idx]
        ef[idx[missed]] = True
