"""Beat times from raw ECG or PPG with a signal-quality gate (NeuroKit2).

A window whose waveform is too noisy to trust gets ``quality_ok=False``; the caller then
passes ``rhythm_trusted=False`` so no rhythm verdict is given (rather than a false one).

Quality index (0..1) = min(bSQI, tSQI) × share of plausible intervals, where

- bSQI is the agreement (matched / union, 150 ms tolerance) between independent beat
  detectors: for PPG Elgendi et al. (2013) and Charlton et al. (2022, MSPTDfast; Bishop &
  Ercole's MSPTD is ~100x slower); for ECG the share of the beats held by the longest run
  of Kalidas & Tamil (2017) beats that Pan & Tompkins (1985) confirm, NeuroKit2's default
  detector also confirming when Pan-Tompkins alone falls short, and a run of 12 clean
  intervals standing on its own (see ``_RUN_MIN_SHARE``) (Li, Clifford & Moody 2008,
  Physiol Meas 29:15-32); a strip that still falls short is tried once more with its
  artefacts (beyond 4x the typical QRS amplitude) blanked and the detectors run on
  overlapping 8 s chunks (see ``_ARTEFACT_X``);
- tSQI is the share of beats whose waveform correlates > 0.8 with the median beat
  template (±50 ms around R for ECG, ±250 ms around the systolic peak for PPG;
  template matching after Orphanidou et al. 2015, IEEE J Biomed Health Inform
  19:832-838). Both are rhythm-agnostic, so an irregular (AF) but clean signal passes;
- plausible share: intervals within 250-2500 ms, the physiologically possible RR range
  of ``DetectorConfig.rr_min_ms``/``rr_max_ms`` (``docs/architecture.md``, "Payload
  contract", plausibility bounds).

``quality_ok`` requires quality ≥ ``QUALITY_MIN`` (0.8, calibrated on seeded synthetic
windows, see ``tests/detectors/test_beats.py``: clean ≈ 1.0, noise of 1/3 the R-wave or
pulse amplitude < 0.8) and at least ``MIN_BEATS`` beats. Peak positions are refined to
sub-sample precision by parabolic interpolation, which matters at wrist PPG rates
(64 Hz = 15.6 ms per sample).

For ECG, :func:`atrial_features` also describes the atrial activity of the clean run
(P-wave consistency and amplitude, fibrillatory-wave power), which the rhythm model of a
window of one ECG segment uses (:func:`detectors.rhythm.atrial_probability`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import neurokit2 as nk
import numpy as np
from numpy.typing import NDArray
from scipy.signal import welch

from detectors.config import DEFAULT, DetectorConfig
from detectors.rhythm import ATRIAL_FEATURES

__all__ = [
    "ATRIAL_FEATURES",
    "MIN_BEATS",
    "MIN_SEGMENT_S",
    "QUALITY_MIN",
    "BeatExtraction",
    "atrial_features",
    "beats_from_ecg",
    "beats_from_ppg",
]

QUALITY_MIN = 0.8
_NO_ATRIAL = np.full(len(ATRIAL_FEATURES), np.nan)
_MATCH_TOLERANCE_S = 0.15
_TEMPLATE_R = 0.8
MIN_BEATS = 5
#: R-peak detectors for ECG, chosen on the 1,700 real CinC 2017 strips (see the module
#: docstring): Kalidas & Tamil 2017 finds beats with the highest agreement with the
#: other detectors' majority; Pan & Tompkins 1985 is the fastest independent second.
ECG_PRIMARY = "kalidas2017"
ECG_SECOND = "pantompkins1985"
#: A third detector that may also confirm a beat (NeuroKit2's default, an independent
#: gradient-based QRS finder): on the real strips Pan-Tompkins alone sometimes loses the
#: beats of a whole stretch (a low-amplitude or inverted lead), leaving clean strips
#: unconfirmed. It is asked only when Pan-Tompkins alone leaves the strip below the
#: quality bar, so the beats of a strip that already passes are unchanged.
ECG_THIRD = "neurokit"
#: shortest ECG/PPG segment the detectors take (s); shorter raises ValueError
MIN_SEGMENT_S = 3.0
#: ECG second pass, tried only when a strip fails the quality bar as it is. NeuroKit2's
#: Pan-Tompkins-style thresholding (used by Kalidas and Pan-Tompkins) lifts its signal
#: level with every peak it accepts and lowers it only with the next accepted one, so a
#: spike of 3-20x the QRS (fingers settling on a handheld device, a noise burst) keeps
#: the threshold above every later beat: on the CinC 2017 strips A01259 and A07423
#: Kalidas found 1 and 3 beats in 30 s, on A01161 none in the last 20 clean seconds.
#: The second pass (1) blanks artefacts: samples beyond 4x the typical QRS amplitude
#: (the median over 2 s blocks of the largest deflection: every block of a heart beating
#: above 30 bpm holds an R wave), with 0.3 s either side, no run crossing them; and
#: (2) runs each detector on overlapping 8 s chunks (6 s steps, each chunk keeping the
#: beats of its middle), so the threshold starts afresh every 6 s. Only strips that
#: fail as they are take it, so every other strip keeps its beats: soft-limiting the
#: whole signal instead (tanh at 2x) turned 116 more beats of the judged N strips into
#: beats no majority of five other detectors found (PPV 0.995 -> 0.990); the second
#: pass adds 29 such beats among 119 on 5 more judged N strips (PPV 0.9947 -> 0.9936),
#: where the majority's detectors lose the beats after the artefact too (see
#: docs/readme/detectors.md, "Beats").
_AMP_WINDOW_S = 2.0
_ARTEFACT_X = 4.0
_ARTEFACT_PAD_S = 0.3
_CHUNK_S, _CHUNK_STEP_S = 8.0, 6.0
_APEX_HALF_S = 0.05
_APEX_MIN_SHARE = 0.3
#: ECG: the clean run must hold at least half of the beats found (coverage 0.5 maps to
#: the 0.8 quality bar), so a strip that is mostly noise is not judged on a lucky stretch,
#: unless the run alone holds more than 12 intervals (``_RUN_ALONE_INTERVALS``) and
#: 80 % of its beats match the template (Orphanidou et al.'s own 0.8 bar, stricter than
#: the 0.6 below): then it is judged on its own, whatever noise surrounds it. Twelve
#: confirmed, template-matching beats in a row: the 12-beat segments of Lake & Moorman
#: (2011), kept at 12 when the rhythm minimum went down to 8 (a stretch of a noisy strip
#: needs more evidence than a whole clean short strip). Requiring half the strip as well
#: turned away real strips with noise at one end or in the middle (1,700 CinC 2017
#: strips, whole-strip gate: 9 more AF and 16 more normal strips judged); the stricter
#: template share keeps a lucky 13-beat stretch of noise out (with 0.6, 19 instead of 9
#: more of the 100 noisy strips were judged, and a seeded noisy synthetic strip of
#: ``tests/detectors/test_beats.py`` passed).
_RUN_MIN_SHARE = 0.5
_RUN_ALONE_INTERVALS = 12
_RUN_ALONE_TEMPLATE_MIN = 0.8
_COVERAGE_SCALE = QUALITY_MIN / _RUN_MIN_SHARE
#: ECG: at least 60 % of the run's beats must match the median template (0.6 maps to the
#: 0.8 bar); on the real handheld strips 80 % turned away 8 % of clean AF strips, whose
#: fibrillatory waves and baseline wander distort the ±50 ms QRS window.
_ECG_TEMPLATE_MIN = 0.6
_ECG_TEMPLATE_SCALE = QUALITY_MIN / _ECG_TEMPLATE_MIN
#: pre-R segment holding the P wave (s before R): from 250 ms to 80 ms before the R apex
_P_START_S, _P_END_S = 0.25, 0.08
#: average-beat (QRST) window for cancellation (s around R), and the QRS half-width left
#: out of the residual's size
_QRST_BEFORE_S, _QRST_AFTER_S = 0.25, 0.45
_QRS_HALF_S = 0.06
#: fibrillatory-wave band and the reference band of the residual (Hz)
_F_BAND_HZ, _REF_BAND_HZ = (4.0, 9.0), (1.0, 40.0)
_MIN_ATRIAL_BEATS = 8


@dataclass(frozen=True)
class BeatExtraction:
    """Beats found in one waveform segment.

    Attributes
    ----------
    beat_ms : ndarray of int64
        Epoch ms of each detected beat.
    rr_ms : ndarray of float64
        Intervals between consecutive beats (sub-sample precision), len(beat_ms) - 1.
    quality_ok : bool
        False: too noisy to trust, the caller must give no rhythm verdict.
    quality : float
        Signal-quality index 0..1.
    atrial : ndarray of float64, shape (4,)
        Atrial-activity features of the clean run, in the order of ``ATRIAL_FEATURES``
        (ECG only; all NaN for PPG or when the run is too short), see
        :func:`atrial_features`.
    """

    beat_ms: NDArray[np.int64]
    rr_ms: NDArray[np.float64]
    quality_ok: bool
    quality: float
    atrial: NDArray[np.float64] = field(default_factory=_NO_ATRIAL.copy)


def beats_from_ecg(
    ecg_mv: NDArray[np.float64], fs_hz: float, start_ms: int, config: DetectorConfig = DEFAULT
) -> BeatExtraction:
    """Detect R peaks (NeuroKit2 ``ecg_peaks``) in an ECG segment and grade its quality.

    Parameters
    ----------
    ecg_mv : ndarray of float64
        ECG samples in mV.
    fs_hz : float
        Sampling rate (Hz).
    start_ms : int
        Epoch ms of the first sample.
    config : DetectorConfig
        ``rr_min_ms``/``rr_max_ms`` for the plausible share.

    Returns
    -------
    BeatExtraction

    Examples
    --------
    >>> import neurokit2 as nk
    >>> ecg = nk.ecg_simulate(duration=20, sampling_rate=250, heart_rate=70, random_state=1)
    >>> b = beats_from_ecg(ecg, 250.0, 0)
    >>> b.quality_ok, 20 <= len(b.beat_ms) <= 26
    (True, True)
    """
    sig = _validated(ecg_mv, fs_hz, "ecg_mv")
    fs = float(fs_hz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = np.asarray(nk.ecg_clean(sig, sampling_rate=fs), dtype=np.float64)
        extraction, run = _detected(cleaned, None, fs, start_ms=start_ms, config=config)
        if not extraction.quality_ok:
            blanked, artefact = _blanked(cleaned, fs)
            retry = _detected(blanked, artefact, fs, start_ms=start_ms, config=config, chunked=True)
            extraction, run = retry if retry[0].quality_ok else (extraction, run)
    return replace(extraction, atrial=atrial_features(cleaned, run, fs))


def _detected(
    cleaned: NDArray[np.float64],
    artefact: NDArray[np.bool_] | None,
    fs: float,
    *,
    start_ms: int,
    config: DetectorConfig,
    chunked: bool = False,
) -> tuple[BeatExtraction, NDArray[np.int64]]:
    """R peaks of ``cleaned`` confirmed and graded (see module doc); no run crosses a
    sample of ``artefact``; ``chunked``: each detector runs on overlapping 8 s chunks."""

    def whole(method: str, lo: int = 0, hi: int = cleaned.size) -> Any:
        found = nk.ecg_peaks(cleaned[lo:hi], sampling_rate=fs, method=method)[1]
        return lo + np.asarray(found["ECG_R_Peaks"], dtype=np.int64)

    def r_peaks(method: str) -> Any:
        return _in_chunks(whole, method, cleaned.size, fs) if chunked else whole(method)

    peaks = _r_apex(cleaned, _detect(r_peaks, ECG_PRIMARY), round(_APEX_HALF_S * fs))
    second = _detect(r_peaks, ECG_SECOND)
    graded = _graded(cleaned, peaks, second, fs, artefact, start_ms=start_ms, config=config)
    if not graded[0].quality_ok:  # Pan-Tompkins alone did not confirm enough
        third = _merged(second, _detect(r_peaks, ECG_THIRD), _MATCH_TOLERANCE_S * fs)
        retry = _graded(cleaned, peaks, third, fs, artefact, start_ms=start_ms, config=config)
        graded = retry if retry[0].quality_ok else graded
    return graded


def _in_chunks(detect: Any, method: str, n: int, fs: float) -> NDArray[np.int64]:
    """Peaks of ``detect(method, lo, hi)`` run on overlapping chunks of ``_CHUNK_S``, each
    chunk keeping the peaks of its own part (cut at the middle of each overlap)."""
    size, step = round(_CHUNK_S * fs), round(_CHUNK_STEP_S * fs)
    if n <= size:
        return np.asarray(detect(method), dtype=np.int64)
    starts = [*range(0, n - size, step), n - size]
    cuts = [0, *((s + size + t) // 2 for s, t in itertools.pairwise(starts)), n]
    found = []
    for i, lo in enumerate(starts):
        try:
            peaks = np.asarray(detect(method, lo, lo + size), dtype=np.int64)
        except (ValueError, IndexError, ZeroDivisionError, TypeError):
            continue  # a chunk the detector cannot take gives no beats
        found.append(peaks[(peaks >= cuts[i]) & (peaks < cuts[i + 1])])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _blanked(
    cleaned: NDArray[np.float64], fs: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``cleaned`` with its artefacts set to zero, and where they were (see
    ``_ARTEFACT_X``); no artefact: ``cleaned`` itself and an all-False mask."""
    n = round(_AMP_WINDOW_S * fs)
    m = cleaned.size // n
    none = np.zeros(cleaned.size, dtype=bool)
    if m < 1:
        return cleaned, none
    typical = float(np.median(np.abs(cleaned[: m * n]).reshape(m, n).max(axis=1)))
    over = np.abs(cleaned) > _ARTEFACT_X * typical
    if not typical > 0.0 or not over.any():
        return cleaned, none
    half = round(_ARTEFACT_PAD_S * fs)
    kernel = np.ones(2 * half + 1)
    mask = np.convolve(over.astype(np.float64), kernel, mode="same") > 0.5
    out = np.where(mask, 0.0, cleaned)
    return out, mask


def _graded(
    cleaned: NDArray[np.float64],
    peaks: NDArray[np.int64],
    confirming: NDArray[np.int64],
    fs: float,
    artefact: NDArray[np.bool_] | None = None,
    *,
    start_ms: int,
    config: DetectorConfig,
) -> tuple[BeatExtraction, NDArray[np.int64]]:
    """The clean run of ``peaks`` that ``confirming`` confirms, graded (see module doc)."""
    run, coverage = _clean_run(peaks, confirming, _MATCH_TOLERANCE_S * fs, artefact)
    template = _template_share(cleaned, run, round(0.05 * fs))
    if run.size > _RUN_ALONE_INTERVALS and template >= _RUN_ALONE_TEMPLATE_MIN:
        coverage = max(coverage, 1.0 / _COVERAGE_SCALE)  # the run stands on its own
    sqi = min(1.0, template * _ECG_TEMPLATE_SCALE, coverage * _COVERAGE_SCALE)
    return _extraction(cleaned, run, fs, start_ms=start_ms, sqi=sqi, config=config), run


def atrial_features(
    cleaned: NDArray[np.float64], r_peaks: NDArray[np.int64], fs_hz: float
) -> NDArray[np.float64]:
    """Atrial-activity features of an ECG stretch from its R peaks (order of
    ``ATRIAL_FEATURES``; all NaN with fewer than 8 usable beats).

    0. ``p_corr``: median correlation of each beat's pre-R segment (250-80 ms before R)
       with the median pre-R template. Sinus rhythm repeats the same P wave before every
       QRS; in AF there is none, and the segment holds uncorrelated f-waves (P-wave
       absence as an AF marker: Ladavich & Ghoraani 2015, Biomed Signal Process Control
       18:274-281; template correlation of the P region as in Datta et al. 2017, CinC
       44, and Zabihi et al. 2017, CinC 44, challenge entries).
    1. ``ln_p_amp``: ln of the pre-R template's peak-to-peak amplitude over the median
       R amplitude: a P wave is ~0.1-0.25 of the R wave; averaging uncorrelated f-waves
       leaves a flat template (Clifford et al. 2017, CinC 44, on P-wave features of the
       challenge entries).
    2. ``f_frac``: share of the power 1-40 Hz of the residual after average-beat (QRST)
       cancellation that lies in 4-9 Hz, the fibrillatory-wave band (Stridh & Sörnmo
       2001, IEEE Trans Biomed Eng 48:105-111, QRST cancellation; f-wave dominant
       frequency 4-9 Hz: Bollmann et al. 1998 and Stridh et al. 2004).
    3. ``ln_resid``: ln of the RMS of that residual (outside ±60 ms of each R) over the
       median R amplitude: f-waves leave atrial activity that the average beat does not
       cancel, sinus rhythm leaves noise only.

    Parameters
    ----------
    cleaned : ndarray of float64
        The cleaned ECG (``nk.ecg_clean``).
    r_peaks : ndarray of int64
        R-apex sample indices (increasing), e.g. the clean run of :func:`beats_from_ecg`.
    fs_hz : float

    Returns
    -------
    ndarray of float64, shape (4,)
    """
    out = np.full(len(ATRIAL_FEATURES), np.nan)
    before, after = round(_QRST_BEFORE_S * fs_hz), round(_QRST_AFTER_S * fs_hz)
    p = r_peaks[(r_peaks >= before) & (r_peaks < cleaned.size - after)]
    if p.size < _MIN_ATRIAL_BEATS:
        return out
    r_amp = float(np.median(np.abs(cleaned[p])))
    if not r_amp > 0.0:
        return out
    # P-wave consistency on the pre-R segment
    p_off = np.arange(-round(_P_START_S * fs_hz), -round(_P_END_S * fs_hz) + 1)
    seg = cleaned[p[:, None] + p_off]
    seg = seg - seg.mean(axis=1, keepdims=True)
    template = np.median(seg, axis=0)
    norm = np.sqrt((seg**2).sum(axis=1) * float(template @ template))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (seg @ template) / norm
    out[0] = float(np.nanmedian(corr)) if np.isfinite(corr).any() else 0.0
    out[1] = float(np.log(max(float(np.ptp(template)) / r_amp, 1e-3)))
    # average-beat cancellation: each beat's window ends where the next one starts
    offsets = np.arange(-before, after + 1)
    beat = cleaned[p[:, None] + offsets]
    qrst = np.median(beat, axis=0)
    stop = np.r_[p[1:] - before, p[-1] + after + 1]
    idx = p[:, None] + offsets
    inside = idx < stop[:, None]
    span = slice(int(p[0] - before), int(p[-1] + after + 1))
    residual = cleaned.copy()
    residual[idx[inside]] -= np.broadcast_to(qrst, idx.shape)[inside]
    residual = residual[span]
    freqs, power = welch(residual, fs=fs_hz, nperseg=min(residual.size, round(2 * fs_hz)))
    in_f = (freqs >= _F_BAND_HZ[0]) & (freqs <= _F_BAND_HZ[1])
    in_ref = (freqs >= _REF_BAND_HZ[0]) & (freqs <= _REF_BAND_HZ[1])
    total = float(power[in_ref].sum())
    out[2] = float(power[in_f].sum()) / total if total > 0.0 else 0.0
    qrs = np.zeros(cleaned.size, dtype=bool)
    half = round(_QRS_HALF_S * fs_hz)
    qrs[np.clip(p[:, None] + np.arange(-half, half + 1), 0, cleaned.size - 1)] = True
    outside = residual[~qrs[span]]
    rms = float(np.sqrt(np.mean(outside**2))) if outside.size else 0.0
    out[3] = float(np.log(max(rms / r_amp, 1e-3)))
    return out


def beats_from_ppg(
    ppg: NDArray[np.float64], fs_hz: float, start_ms: int, config: DetectorConfig = DEFAULT
) -> BeatExtraction:
    """Detect pulse peaks (NeuroKit2 ``ppg_findpeaks``, Elgendi) and grade quality.

    Parameters
    ----------
    ppg : ndarray of float64
        PPG samples (arbitrary units).
    fs_hz : float
        Sampling rate (Hz), e.g. 64 for a watch.
    start_ms : int
        Epoch ms of the first sample.
    config : DetectorConfig

    Returns
    -------
    BeatExtraction

    Examples
    --------
    >>> import neurokit2 as nk
    >>> ppg = nk.ppg_simulate(duration=30, sampling_rate=64, heart_rate=70, random_state=2)
    >>> b = beats_from_ppg(ppg, 64.0, 0)
    >>> b.quality_ok, 30 <= len(b.beat_ms) <= 40
    (True, True)
    """
    sig = _validated(ppg, fs_hz, "ppg")
    fs = float(fs_hz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = np.asarray(nk.ppg_clean(sig, sampling_rate=fs), dtype=np.float64)
        peaks = _detect(
            lambda m: nk.ppg_findpeaks(cleaned, sampling_rate=fs, method=m)["PPG_Peaks"], "elgendi"
        )
        # MSPTDfast needs an integer rate; its peaks only feed the agreement index
        second = _detect(
            lambda m: nk.ppg_findpeaks(cleaned, sampling_rate=round(fs), method=m)["PPG_Peaks"],
            "charlton",
        )
    sqi = min(
        _agreement(peaks, second, _MATCH_TOLERANCE_S * fs),
        _template_share(cleaned, peaks, round(0.25 * fs)),
    )
    return _extraction(cleaned, peaks, fs, start_ms=start_ms, sqi=sqi, config=config)


def _validated(signal: NDArray[np.float64], fs_hz: float, name: str) -> NDArray[np.float64]:
    """Return ``signal`` as 1-D float64 or raise ValueError naming what is wrong."""
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {sig.shape}")
    if not np.isfinite(fs_hz) or fs_hz <= 0:
        raise ValueError(f"fs_hz must be a positive number, got {fs_hz!r}")
    if not np.all(np.isfinite(sig)):
        raise ValueError(f"{name} contains NaN or infinite samples")
    if sig.size < MIN_SEGMENT_S * fs_hz:
        raise ValueError(
            f"{name} has {sig.size} samples = {sig.size / fs_hz:.2f} s at {fs_hz} Hz; "
            f"need at least {MIN_SEGMENT_S} s"
        )
    return sig


def _detect(run: Any, method: str) -> NDArray[np.int64]:
    """Run one NeuroKit2 detector; a detector failure on a bad signal means no beats."""
    try:
        return np.unique(np.asarray(run(method), dtype=np.int64))
    except (ValueError, IndexError, ZeroDivisionError, TypeError):
        return np.zeros(0, dtype=np.int64)


def _agreement(a: NDArray[np.int64], b: NDArray[np.int64], tol_samples: float) -> float:
    """bSQI: beats matched within ``tol_samples`` / beats found by either detector."""
    if a.size == 0 or b.size == 0:
        return 0.0
    i = np.clip(np.searchsorted(b, a), 1, max(b.size - 1, 1))
    lo = np.abs(b[np.minimum(i - 1, b.size - 1)] - a)
    hi = np.abs(b[np.minimum(i, b.size - 1)] - a)
    matched = int(np.sum(np.minimum(lo, hi) <= tol_samples))
    return matched / (a.size + b.size - matched)


def _r_apex(y: NDArray[np.float64], peaks: NDArray[np.int64], half: int) -> NDArray[np.int64]:
    """Each detected beat moved to the largest deflection within ``half`` samples, in the
    segment's dominant polarity (the R apex, or the nadir of an inverted lead), and
    beats below 30 % of the median apex height dropped.

    Kalidas & Tamil's detector marks a point a few samples down the R slope, which would
    cost the intervals their sample precision, and it can mark a flat stretch at a
    strip's start; a real R wave stands out of the cleaned signal.
    """
    if peaks.size == 0 or half < 1:
        return peaks
    offsets = np.arange(-half, half + 1)
    idx = np.clip(peaks[:, None] + offsets, 0, y.size - 1)
    around = y[idx]
    # one polarity for the whole segment: the larger of the median R and S deflections
    sign = 1.0 if np.median(around.max(axis=1)) >= np.median(-around.min(axis=1)) else -1.0
    apex = idx[np.arange(peaks.size), np.argmax(sign * around, axis=1)]
    height = sign * y[apex]
    kept = np.unique(apex[height >= _APEX_MIN_SHARE * np.median(height)])
    return kept.astype(np.int64)


def _clean_run(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    tol_samples: float,
    artefact: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], float]:
    """The longest run of consecutive beats of ``a`` that ``b`` confirms, and its share of
    the beats either detector found.

    A beat is confirmed when ``b`` has one within ``tol_samples``; an interval is clean
    when both its beats are confirmed. Noise at the start or end of a handheld strip
    (fingers settling, let go) then costs those seconds, not the whole strip. Beats only
    ``b`` found do not break a run: the second detector (Pan-Tompkins) adds beats where
    ``a`` (Kalidas, the more precise) is right, and a beat ``a`` missed shows as a ~2x
    interval that the artefact step explains (:mod:`detectors.artifacts`).
    """
    if a.size < 2 or b.size == 0:
        return a[:0], 0.0
    confirmed = _matched(a, b, tol_samples)
    clean = confirmed[:-1] & confirmed[1:]
    if artefact is not None:  # an interval across a blanked artefact is not clean
        blanked = np.concatenate(([0], np.cumsum(artefact)))
        clean &= blanked[a[1:]] == blanked[a[:-1]]
    if not clean.any():
        return a[:0], 0.0
    edges = np.diff(np.concatenate(([0], clean.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(stops - starts))
    run = a[starts[longest] : stops[longest] + 1]
    union = a.size + b.size - int(confirmed.sum())
    return run, run.size / union


def _merged(b: NDArray[np.int64], c: NDArray[np.int64], tol_samples: float) -> NDArray[np.int64]:
    """Beats of ``b`` plus those of ``c`` that no beat of ``b`` lies within ``tol_samples`` of."""
    if b.size == 0:
        return c
    if c.size == 0:
        return b
    return np.unique(np.concatenate((b, c[~_matched(c, b, tol_samples)])))


def _matched(a: NDArray[np.int64], b: NDArray[np.int64], tol_samples: float) -> NDArray[np.bool_]:
    """For each beat of ``a``: is there a beat of ``b`` within ``tol_samples``?"""
    i = np.clip(np.searchsorted(b, a), 1, max(b.size - 1, 1))
    lo = np.abs(b[np.minimum(i - 1, b.size - 1)] - a)
    hi = np.abs(b[np.minimum(i, b.size - 1)] - a)
    matched: NDArray[np.bool_] = np.minimum(lo, hi) <= tol_samples
    return matched


def _template_share(y: NDArray[np.float64], peaks: NDArray[np.int64], half: int) -> float:
    """tSQI: share of beats correlating > 0.8 with the median beat template."""
    p = peaks[(peaks >= half) & (peaks < y.size - half)]
    if p.size < MIN_BEATS or half < 1:
        return 0.0
    seg = y[p[:, None] + np.arange(-half, half + 1)]
    seg = seg - seg.mean(axis=1, keepdims=True)
    template = np.median(seg, axis=0)
    norm = np.sqrt((seg**2).sum(axis=1) * float(template @ template))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (seg @ template) / norm
    return float(np.mean(r > _TEMPLATE_R))


def _extraction(
    cleaned: NDArray[np.float64],
    peaks: NDArray[np.int64],
    fs: float,
    *,
    start_ms: int,
    sqi: float,
    config: DetectorConfig,
) -> BeatExtraction:
    """Refine peaks, build beat times/intervals and the quality verdict."""
    pos = _parabolic(cleaned, peaks)
    t_ms = pos * (1000.0 / fs)
    rr = np.diff(t_ms)
    ok_rr = (rr >= config.rr_min_ms) & (rr <= config.rr_max_ms)
    plausible = float(np.mean(ok_rr)) if rr.size else 0.0
    quality = sqi * plausible
    ok = bool(quality >= QUALITY_MIN and peaks.size >= MIN_BEATS)
    beat_ms = (int(start_ms) + np.round(t_ms)).astype(np.int64)
    return BeatExtraction(
        beat_ms=beat_ms, rr_ms=rr.astype(np.float64), quality_ok=ok, quality=float(quality)
    )


def _parabolic(y: NDArray[np.float64], peaks: NDArray[np.int64]) -> NDArray[np.float64]:
    """Sub-sample peak positions from a parabola through each peak and its neighbours."""
    p = peaks[(peaks > 0) & (peaks < y.size - 1)]
    if p.size == 0:
        return peaks.astype(np.float64)
    a, b, c = y[p - 1], y[p], y[p + 1]
    denom = a - 2.0 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / denom, 0.0)
    refined: NDArray[np.float64] = p + np.clip(shift, -0.5, 0.5)
    return refined
