"""One frozen settings object holding every detector threshold.

Every field has a default taken from ``DESIGN.md`` (Alerts table) or the literature and
its source is cited in the docstring of :class:`DetectorConfig`. Helpers that add
fields (rules, falls) keep the same convention: default + cited source.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "DetectorConfig"]


@dataclass(frozen=True)
class DetectorConfig:
    """Every detector threshold, with its default and its source.

    Windows and beats
    -----------------
    window_s : int, default 60
        Window length in seconds, aligned to whole minutes of reading time
        (DESIGN.md, "What is stored"). Short-term HRV in 1-5 min segments follows the
        Task Force of the ESC/NASPE (1996), Circulation 93:1043-1065.
    min_beats_hrv : int, default 30
        Minimum NN intervals for HRV to be reported (issue 4; 30 beats ~ the minimum
        for stable RMSSD, Munoz et al. 2015, PLoS One 10:e0138921 "ultra-short" HRV).
    rr_min_ms, rr_max_ms : float, default 250, 2500
        Physiologically possible RR range (240-24 bpm); outside is an artefact
        (DESIGN.md contracts; cf. Kubios HRV user guide, artefact correction).
    ectopic_rel_threshold : float, default 0.20
        An interval deviating more than 20 % from the local median of its neighbours is
        ectopic/artefact (Kamath & Fallen 1995, "Correction of the heart rate variability
        signal for ectopics and missing beats", in Malik & Camm, Heart Rate Variability,
        pp. 75-85; the "20 % rule" also used by Malik et al. 1993).
    ectopic_median_half_width : int, default 5
        Half width (beats) of the running median the 20 % rule compares against
        (11-beat window; Lipponen & Tarvainen 2019, J Med Eng Technol 43:173-181, use a
        91-beat median on dRR; a shorter window tracks HR changes within 60 s windows).
    ectopic_pair_tolerance : float, default 0.25
        A premature interval (< median*(1-threshold)) followed by a long one whose sum is
        within this relative tolerance of two median intervals is a premature beat with a
        compensatory pause (full compensation after a PVC: RR_pre + RR_post = 2*RR; Lown &
        Wolf 1971; Lipponen & Tarvainen 2019 detect exactly this short-long pattern).
    min_beats_rhythm : int, default 30
        Minimum clean intervals for a rhythm verdict: below this irregularity features
        are unstable (Lake & Moorman 2011, Am J Physiol Heart 300:H319-H325, COSEn on
        12-beat segments but validated at >= 30 for specificity; Dash et al. 2009 used
        64/128-beat segments).
    max_excluded_fraction_rhythm : float, default 0.40
        If more than this fraction of raw intervals is removed as artefact/ectopic, the
        ectopy is so frequent it could be AF; no sinus+ectopy shortcut then; the rhythm
        classifier runs on all plausible intervals instead (see ``detectors.rhythm``).
    lf_band_hz, hf_band_hz : tuple[float, float], default (0.04, 0.15), (0.15, 0.40)
        LF/HF bands (Task Force 1996).
    min_duration_lf_s : float, default 50.0
        LF is only estimated when the NN series spans >= 50 s, i.e. two cycles of the
        lowest LF frequency would need 50 s (Task Force 1996 recommends >= 10 cycles;
        in 60 s windows LF is indicative only, documented as such).
    spectrum_resample_hz : float, default 4.0
        Resampling frequency of the NN tachogram before Welch (Task Force 1996; Kubios).

    Rhythm
    ------
    rhythm_weights, rhythm_bias : tuple[float, ...], float
        Logistic model over rhythm features, fitted by ``scripts/fit_rhythm.py`` (seed
        20240601) on synthetic sinus/RSA, sinus+ectopy and AF intervals; see
        :mod:`detectors.rhythm` for the feature list and references.
    rhythm_threshold : float, default 0.5
        Probability above which a window is called irregular.

    Stress
    ------
    stress_ewma_alpha : float, default 0.05
        EWMA weight of the per-user baseline of ln RMSSD and HR (time constant ~20
        windows = 20 min; cf. Plews et al. 2012, Eur J Appl Physiol 112:3729, rolling
        ln RMSSD baselines).
    stress_warmup_windows : int, default 10
        Windows needed before a stress level is emitted (no baseline yet -> None).
    stress_min_sd_ln_rmssd, stress_min_sd_hr_bpm : float, default 0.15, 3.0
        Floors on the baseline standard deviations so a very stable baseline does not
        blow up z-scores (typical within-subject CV of ln RMSSD ~ 3-10 %,
        Plews et al. 2012; resting HR day-to-day SD ~ 3 bpm).
    stress_hr_weight : float, default 0.5
        Weight of the HR z-score relative to the ln RMSSD z-score (vagal withdrawal
        dominates acute stress, Kim et al. 2018, Psychiatry Investig 15:235-245; HR rise
        is the sympathetic part, Baevsky & Chernikova 2017).
    stress_z_per_level : float, default 0.75
        Stress score change per level; level = 1 + round((z + 1) / z_per_level)
        clipped to 1..10, so baseline (z = 0) maps to ~2-3 and z >= 5.0 maps to 10.

    Activity
    --------
    rest_activity_g : float, default 0.05
        Standard deviation of accelerometer magnitude (g) below which the wearer is at
        rest. Sedentary wrist activity stays below ~0.05 g ENMO-like variation
        (cf. Hildebrand et al. 2014, Med Sci Sports Exerc 46:1816-1824: sedentary
        < 0.0448 g ENMO at the wrist). Unknown activity (NaN) counts as *not* at rest,
        so a tachycardia-at-rest alert never fires without accelerometer evidence.
    """

    # windows and beats
    window_s: int = 60
    min_beats_hrv: int = 30
    rr_min_ms: float = 250.0
    rr_max_ms: float = 2500.0
    ectopic_rel_threshold: float = 0.20
    ectopic_median_half_width: int = 5
    ectopic_pair_tolerance: float = 0.25
    min_beats_rhythm: int = 30
    max_excluded_fraction_rhythm: float = 0.40
    lf_band_hz: tuple[float, float] = (0.04, 0.15)
    hf_band_hz: tuple[float, float] = (0.15, 0.40)
    min_duration_lf_s: float = 50.0
    spectrum_resample_hz: float = 4.0

    # rhythm (logistic model; fitted by scripts/fit_rhythm.py)
    rhythm_weights: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    rhythm_bias: float = 0.0
    rhythm_threshold: float = 0.5

    # stress
    stress_ewma_alpha: float = 0.05
    stress_warmup_windows: int = 10
    stress_min_sd_ln_rmssd: float = 0.15
    stress_min_sd_hr_bpm: float = 3.0
    stress_hr_weight: float = 0.5
    stress_z_per_level: float = 0.75

    # activity
    rest_activity_g: float = 0.05


DEFAULT = DetectorConfig()
