"""AF-like rhythm irregularity per window from RR features, vectorised over windows.

Features (columns of :func:`rhythm_features`), all computed on the NN series after
artefact/ectopic removal (successive differences only between adjacent kept intervals):

0. ``ln_nrmssd``: ln(RMSSD / MeanNN), normalised successive-difference dispersion
   (Dash et al. 2009; Tateno & Glass 2001 used the analogous CV of ΔRR).
1. ``tpr``: turning-point ratio, the share of interior points that are local extrema;
   2/3 for an i.i.d. (AF-like) series, low for smooth sinus/RSA (Dash et al. 2009).
2. ``sd1_sd2``: Poincaré (Lorenz plot) SD1/SD2; near 1 for uncorrelated AF intervals,
   well below 1 for sinus (Sarkar, Ritscher & Mehra 2008; Park et al. 2009).
3. ``unexplained``: fraction of plausible intervals that are > 20 % outliers matching no
   premature/compensatory, split or missed-beat pattern (see :mod:`detectors.artifacts`).
4. ``excluded``: fraction of plausible intervals excluded from NN.
5. ``lag2_ratio``: | ln(RMS of NN[i+2] - NN[i] / RMSSD) |, capped at 3, computed as
   | ½ ln(2 + 2ρ) | with ρ the lag-1 autocorrelation of the successive differences
   (the products d[i]·d[i+1] are those of the turning-point count, so it costs one
   row sum). Independent
   (AF-like) intervals have equal lag-1 and lag-2 dispersion (ratio 1, feature 0); an
   alternating rhythm that the 20 % rule does not catch (bigeminy with a late coupling,
   2:1/3:2 conduction, RR[i] ~ RR[i-2]) has lag-2 differences far below its successive
   ones, and smooth sinus/RSA far above. A model feature of ours, not a published
   index: on the CinC 2017 dev strips (record-wise 5-fold cross-validation) it lowered
   the share of "other rhythm" strips called AF from 12.9 % to 10.9 % at equal AF
   sensitivity.
6. ``ln_mean_nn``: ln of the mean NN interval (ms). The ventricular rate of AF is mostly
   faster than sinus rhythm at rest (AHA/ACC/HRS 2014 AF guideline, January et al.:
   rapid ventricular response; mean heart rate is a feature of most CinC 2017 entries,
   e.g. Datta et al. 2017, Zabihi et al. 2017). Measured on the CinC 2017 dev strips
   (logistic models fitted on the real strips, record-wise 5-fold cross-validation, the
   folds of :mod:`simulators.evaluate_rhythm`): AUC AF vs other rhythm 0.925 -> 0.939
   with RR features 0-5, 0.945 -> 0.956 beside the atrial features (AF strips flagged 81.6 ->
   84.9 %, other rhythm 9.6 -> 8.0 % at p > 0.5).
7. ``ln_lag2_mad``: ln(median |RR[i+2] - RR[i]| / MeanNN), the differences over all
   plausible intervals (not only NN). A median of interval differences ignores isolated
   premature beats, so this is the irregularity left once the ectopy is discounted, the idea of
   Tateno & Glass's ΔRR density histograms (2001) made robust; at lag 2 it is small
   for bigeminy too (every other interval alike), while AF stays irregular at every lag.
   A feature of ours, measured as 6, with 6 beside it: AUC 0.939 -> 0.943 (RR only),
   0.956 -> 0.958 beside the atrial features (AF flagged 84.9 -> 85.6 %, other rhythm
   8.0 -> 7.1 %).

They are combined by a logistic model, p = 1 / (1 + exp(-(w · f + b))), whose weights
``config.rhythm_weights`` / ``config.rhythm_bias`` ship in :mod:`detectors.config` and are
refitted reproducibly with ``python -m detectors.fit.fit_rhythm`` (seeded synthetic
sinus/RSA, sinus + PVC/PAC ectopy and AF intervals, plus the real CinC 2017 dev strips).
A window is irregular when p > ``config.rhythm_threshold`` (0.5): the fit moves the bias
so that this is the operating point chosen on the training strips (see
:func:`detectors.fit.fit_rhythm.operating_shift`), p is a score, not a calibrated
probability. Left out, measured the same way (beside 0-7 and the atrial features, AF
flagged and other flagged moved by at most 1 point each, within the noise of 450 strips): the
coefficient of sample entropy (COSEn, Lake & Moorman 2011; it also costs O(k²) per
window), Shannon entropy of the RR histogram (Dash et al. 2009), the share of intervals
within 5 % of the median (an RR-cluster count proxy), median |ΔRR| at lags 1 and 3, and,
on the ECG, QRS-morphology variability and beat-to-beat P-wave consistency; a
gradient-boosted tree model over the same inputs separated AF from other rhythms no
better than the logistic one (AUC 0.959 vs 0.961).

References
----------
* Dash, S., Chon, K. H., Lu, S., & Raeder, E. A. (2009). Automatic real time detection of
  atrial fibrillation. Ann Biomed Eng 37:1701-1709.
* Sarkar, S., Ritscher, D., & Mehra, R. (2008). A detector for a chronic implantable
  atrial tachyarrhythmia monitor. IEEE Trans Biomed Eng 55:1219-1224.
* Park, J., Lee, S., & Jeon, M. (2009). Atrial fibrillation detection by heart rate
  variability in Poincaré plot. Biomed Eng Online 8:38.
* Tateno, K., & Glass, L. (2001). Automatic detection of atrial fibrillation using the
  coefficient of variation and density histograms of RR and ΔRR intervals. Med Biol Eng
  Comput 39:664-671.
* Lake, D. E., & Moorman, J. R. (2011). Accurate estimation of entropy in very short
  physiological time series: the problem of atrial fibrillation detection in implanted
  ventricular devices. Am J Physiol Heart Circ Physiol 300:H319-H325.
* January, C. T., et al. (2014). 2014 AHA/ACC/HRS guideline for the management of
  patients with atrial fibrillation. Circulation 130:e199-e267.
* Datta, S., et al. (2017). Identifying normal, AF and other abnormal ECG rhythms using a
  cascaded binary classifier. Computing in Cardiology 44.
* Zabihi, M., et al. (2017). Detection of atrial fibrillation in ECG hand-held devices
  using a random forest classifier. Computing in Cardiology 44.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.artifacts import CleanIntervals, clean_intervals
from detectors.config import DEFAULT, DetectorConfig
from detectors.hrv import TimeDomain, time_domain_masked
from detectors.rowops import count_per_row, sum_per_row, with_next

__all__ = [
    "ATRIAL_FEATURES",
    "ATRIAL_MODEL_INPUTS",
    "RHYTHM_FEATURES",
    "atrial_model_inputs",
    "atrial_probability",
    "features_from_rr",
    "irregular_probability",
    "rhythm_features",
]

FloatArray = NDArray[np.float64]

RHYTHM_FEATURES = (
    "ln_nrmssd",
    "tpr",
    "sd1_sd2",
    "unexplained",
    "excluded",
    "lag2_ratio",
    "ln_mean_nn",
    "ln_lag2_mad",
)
#: atrial-activity features of a raw ECG segment (:func:`detectors.beats.atrial_features`)
ATRIAL_FEATURES = ("p_corr", "ln_p_amp", "f_frac", "ln_resid")
#: inputs of the atrial model (:func:`atrial_model_inputs`)
ATRIAL_MODEL_INPUTS = ("rr_logit", *ATRIAL_FEATURES, *RHYTHM_FEATURES)
_LAG2_CAP = 3.0
_LAG2_MAD_FLOOR = 1e-3
_RR_LOGIT_CAP = 5.0


def rhythm_features(clean: CleanIntervals, td: TimeDomain) -> FloatArray:
    """Rhythm feature matrix, one row per window (see module docstring).

    Parameters
    ----------
    clean : CleanIntervals
        Output of :func:`detectors.artifacts.clean_intervals`.
    td : TimeDomain
        Time-domain HRV of the NN series (:func:`detectors.hrv.time_domain_masked`).

    Returns
    -------
    ndarray of float64, shape (n, 8)
        NaN in rows without enough NN intervals.
    """
    mean_nn_ms, sdnn_ms, rmssd_ms = td.mean_nn_ms, td.sdnn_ms, td.rmssd_ms
    diff_ms, diff_mask = td.diff_ms, td.diff_mask
    n = mean_nn_ms.shape[0]
    feats = np.empty((n, len(RHYTHM_FEATURES)))
    with np.errstate(invalid="ignore", divide="ignore"):
        feats[:, 0] = np.log(np.maximum(rmssd_ms / mean_nn_ms, 1e-4))
        # differences are 0 where not between two NN, so their product is never < 0 there
        products = with_next(diff_ms, np.multiply, 0.0)  # d[i]·d[i+1]
        n_consecutive = count_per_row(with_next(diff_mask, np.logical_and, False))
        feats[:, 1] = count_per_row(products < 0.0) / n_consecutive
        # (NN[i+2] - NN[i])^2 = d[i]^2 + d[i+1]^2 + 2 d[i] d[i+1]: the lag-2 mean square
        # over RMSSD^2 is 2 + 2 rho, rho the lag-1 autocorrelation of the differences
        rho = sum_per_row(products) / (n_consecutive * np.maximum(rmssd_ms**2, 1e-6))
        ratio_sq = np.maximum(2.0 + 2.0 * rho, 1e-6)
        feats[:, 5] = np.minimum(np.abs(0.5 * np.log(ratio_sq)), _LAG2_CAP)
        sd1_sq = 0.5 * rmssd_ms**2
        sd2_sq = np.maximum(2.0 * sdnn_ms**2 - sd1_sq, 1e-6)
        feats[:, 2] = np.sqrt(sd1_sq / sd2_sq)
        n_plausible = clean.n_plausible
        feats[:, 3] = count_per_row(clean.unexplained) / n_plausible
        feats[:, 4] = 1.0 - td.n_nn / n_plausible
        feats[:, 6] = np.log(mean_nn_ms)
        feats[:, 7] = _ln_lag2_mad(clean, mean_nn_ms)
    return feats


def _ln_lag2_mad(clean: CleanIntervals, mean_nn_ms: FloatArray) -> FloatArray:
    """ln(median |RR[i+2] - RR[i]| / MeanNN) over the plausible pairs of each row (feature
    7, see the module docstring); NaN where a row has no such pair.

    The lag-2 differences are taken on the flat buffer in one 1-D pass (the last two of
    each row would pair with the next row and are masked out) and sorted in float32: the
    median only needs ~1e-7 relative precision for a feature on a log scale.
    """
    x, ok = clean.rr_filled_ms, clean.plausible
    n, k = x.shape
    if k < 3:
        return np.full(n, np.nan)
    flat, flat_ok = x.ravel(), ok.ravel()
    lag2 = np.full(n * k, np.inf, dtype=np.float32)
    pair_ok = np.zeros(n * k, dtype=bool)
    np.logical_and(flat_ok[2:], flat_ok[:-2], out=pair_ok[:-2])
    pair = pair_ok.reshape(n, k)
    pair[:, k - 2 :] = False  # pairs across the end of a row
    np.subtract(flat[2:], flat[:-2], out=lag2[:-2], casting="same_kind")
    np.abs(lag2, out=lag2)
    lag2[~pair_ok] = np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = _row_median(lag2.reshape(n, k), count_per_row(pair)) / mean_nn_ms
        return np.log(np.maximum(ratio, _LAG2_MAD_FLOOR))


def _row_median(values: NDArray[np.float32], counts: NDArray[np.int32]) -> FloatArray:
    """Median of the first ``counts[i]`` values of each row once sorted, where every other
    value is +inf (NaN for a row with none): one row-wise sort."""
    s = np.sort(values, axis=1)
    rows = np.arange(s.shape[0])
    lo = s[rows, np.maximum((counts - 1) // 2, 0)]
    hi = s[rows, np.maximum(counts // 2, 0)]
    return np.where(counts > 0, 0.5 * (lo.astype(np.float64) + hi), np.nan)


def irregular_probability(features: FloatArray, config: DetectorConfig = DEFAULT) -> FloatArray:
    """Logistic probability that each window is AF-like irregular.

    Parameters
    ----------
    features : ndarray of float64, shape (n, 8)
        From :func:`rhythm_features`.
    config : DetectorConfig
        ``rhythm_weights`` (8 values, order of ``RHYTHM_FEATURES``) and ``rhythm_bias``.

    Returns
    -------
    ndarray of float64, shape (n,)
        NaN where any feature is NaN.
    """
    w = np.asarray(config.rhythm_weights, dtype=np.float64)
    if w.shape != (features.shape[1],):
        raise ValueError(
            f"rhythm_weights has {w.shape[0]} values, expected {features.shape[1]} "
            f"({', '.join(RHYTHM_FEATURES)})"
        )
    z = features @ w + config.rhythm_bias
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def atrial_probability(
    features: FloatArray, atrial: FloatArray, config: DetectorConfig = DEFAULT
) -> FloatArray:
    """Logistic probability of AF from the RR model's score plus the waveform's atrial
    activity (a second stage, stacked on the RR-only model).

    Used for windows whose beats come from one raw ECG segment, where the P waves (or
    their absence and the fibrillatory waves) are seen: AF with a fairly regular
    ventricular response looks like sinus rhythm with ectopy in its intervals alone
    (P-wave absence and f-waves beside RR irregularity, as in the CinC 2017 entries of
    Datta et al. 2017 and Zabihi et al. 2017, and Ladavich & Ghoraani 2015). The RR
    evidence enters as the RR-only model's logit, capped at ±5 (probability 0.007-0.993),
    so what that model learnt from the synthetic windows (bigeminy is not AF, via the
    lag-2 ratio) carries over; the real strips alone hold too few alternating rhythms.
    The RR features themselves enter too, so that this model, fitted on real strips only,
    weighs them as real recordings do; 300 synthetic bigeminy windows paired with real
    non-AF atrial features join its negatives, because the real strips hold too few
    alternating rhythms to teach it that (:func:`detectors.fit.fit_rhythm.alternating_windows`).
    Through the pipeline (CinC 2017 dev, record-wise 5-fold cross-validation, operating
    points chosen per fold) AF strips flagged went from 81.1 % to 85.1 % and other-rhythm
    strips from 9.8 % to 8.2 % (README "Accuracy"). Without the bigeminy windows it
    flagged 86.4 % of AF but also 35-43 % of synthetic bigeminy windows paired with the
    median atrial features of normal or other-rhythm strips (3-4 % with them).

    Parameters
    ----------
    features : ndarray of float64, shape (n, 8)
        From :func:`rhythm_features`.
    atrial : ndarray of float64, shape (n, 4)
        From :func:`detectors.beats.atrial_features`, order of ``ATRIAL_FEATURES``.
    config : DetectorConfig
        ``rhythm_weights`` / ``rhythm_bias`` (the RR model), ``rhythm_atrial_weights``
        (13 values, order of ``ATRIAL_MODEL_INPUTS``) and ``rhythm_atrial_bias``.

    Returns
    -------
    ndarray of float64, shape (n,)
        NaN where any feature is NaN.
    """
    x = atrial_model_inputs(features, atrial, config)
    w = np.asarray(config.rhythm_atrial_weights, dtype=np.float64)
    if w.shape != (x.shape[1],):
        names = ", ".join(ATRIAL_MODEL_INPUTS)
        raise ValueError(
            f"rhythm_atrial_weights has {w.shape[0]} values, expected {x.shape[1]} ({names})"
        )
    z = x @ w + config.rhythm_atrial_bias
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def atrial_model_inputs(
    features: FloatArray, atrial: FloatArray, config: DetectorConfig = DEFAULT
) -> FloatArray:
    """Inputs of the atrial model (``ATRIAL_MODEL_INPUTS``): the RR model's logit capped at
    ±5, the atrial features, then the RR features; shape (n, 13)."""
    w = np.asarray(config.rhythm_weights, dtype=np.float64)
    if w.shape != (features.shape[1],):
        raise ValueError(f"rhythm_weights has {w.shape[0]} values, expected {features.shape[1]}")
    rr_logit = np.clip(features @ w + config.rhythm_bias, -_RR_LOGIT_CAP, _RR_LOGIT_CAP)
    return np.column_stack([rr_logit, atrial, features])


def features_from_rr(rr_ms_2d: FloatArray, config: DetectorConfig = DEFAULT) -> FloatArray:
    """Rhythm feature matrix straight from NaN-padded raw RR (for fitting and analysis).

    Parameters
    ----------
    rr_ms_2d : ndarray of float64, shape (n, k)
    config : DetectorConfig

    Returns
    -------
    ndarray of float64, shape (n, 8)
    """
    clean = clean_intervals(rr_ms_2d, config)
    return rhythm_features(clean, time_domain_masked(clean.rr_filled_ms, clean.nn))
