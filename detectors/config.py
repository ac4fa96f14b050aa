"""One frozen settings object holding every detector threshold.

Every field has a default taken from the alert table of ``docs/architecture.md`` or the
literature and
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
        (``docs/architecture.md``, "What is stored"). Short-term HRV in 1-5 min segments follows the
        Task Force of the ESC/NASPE (1996), Circulation 93:1043-1065.
    min_beats_hrv : int, default 30
        Minimum NN intervals for HRV to be reported (30 beats ~ the minimum
        for stable RMSSD, Munoz et al. 2015, PLoS One 10:e0138921 "ultra-short" HRV).
    rr_min_ms, rr_max_ms : float, default 250, 2500
        Physiologically possible RR range (240-24 bpm); outside is an artefact
        (the payload contract, ``docs/architecture.md``; cf. Kubios HRV user guide, artefact
        correction).
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
    min_beats_rhythm : int, default 8
        Minimum plausible intervals for a rhythm verdict (and half as many NN intervals
        after ectopy removal). This is the minimum signal a verdict needs: 8 clean
        intervals in the window, i.e. ~7-10 s of clean ECG at 50-70 bpm. Eight beats is
        the sliding window of Petrenas, Marozas & Sornmo's RR-based AF detector (2015,
        Comput Biol Med 65:184-191: sensitivity 97.1 %, specificity 98.3 % on the
        MIT-BIH AF database with 8-beat windows; most published detectors use 128), and
        spot-check strips are that short: the CinC 2017 AF challenge strips run from 9 s
        (Clifford et al. 2017, Computing in Cardiology 44). Measured on the 1,700 CinC
        2017 dev strips (the clean run of detected beats, :mod:`detectors.beats`): 12
        intervals (Lake & Moorman 2011's 12-beat COSEn segments) left 21 of the 1,150
        normal and AF strips without a verdict for lack of beats, nearly all 9-13 s
        strips; 30 left a third. HRV still needs ``min_beats_hrv``; fewer beats mean a
        noisier verdict, and the alert needs 5 of 6 windows.
    min_nn_heart_rate : int, default 5
        NN intervals needed to report heart rate from beats (5 beats ~ the averaging of a
        spot-check pulse count; ANSI/AAMI EC13 asks HR meters to average over several
        beats); fewer -> the mean of ``hr_bpm`` samples is used instead.
    hr_plausible_min_bpm, hr_plausible_max_bpm : float, default 20, 250
        Plausible HR samples (payload contract, ``docs/architecture.md``: HR outside 20-250 is
        impossible).
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
        Logistic model over rhythm features, fitted by
        ``python -m detectors.fit.fit_rhythm --data ../shared/data`` (seeded) on synthetic
        sinus/RSA, sinus+ectopy and AF intervals plus the beats detected in the real
        CinC 2017 dev strips (N and O not AF, A AF); see :mod:`detectors.rhythm` for the
        feature list and references. The bias includes the operating-point shift chosen
        on those strips (at most 8 % of O and 1.5 % of N strips flagged; see
        :func:`detectors.fit.fit_rhythm.operating_shift`).
    rhythm_atrial_weights, rhythm_atrial_bias : tuple[float, ...], float
        Second logistic model, used instead of the first for windows whose beats come
        from one raw ECG segment: the first model's logit (capped at ±5), the
        four atrial-activity features of :func:`detectors.beats.atrial_features` (P-wave
        consistency and amplitude, fibrillatory-wave power; Ladavich & Ghoraani 2015,
        Datta et al. 2017, Zabihi et al. 2017, Stridh & Sörnmo 2001) and the 8 RR
        features (13 inputs, ``detectors.rhythm.ATRIAL_MODEL_INPUTS``); see
        :func:`detectors.rhythm.atrial_probability`. Fitted by the same command on the
        judged real CinC 2017 dev strips (synthetic intervals have no waveform) plus 300
        synthetic bigeminy windows paired with real non-AF atrial features
        (:func:`detectors.fit.fit_rhythm.alternating_windows`), its bias shifted to its
        own operating point the same way.
    rhythm_threshold : float, default 0.5
        Probability above which a window is called irregular (both models). The fitted
        biases put each model's operating point (chosen on the training strips, issue
        #16 targets less a margin) at 0.5, so this stays 0.5.

    Stress
    ------
    stress_ewma_alpha : float, default 0.02
        EWMA weight of the per-user baseline of ln RMSSD and HR (time constant ~50
        windows = 50 min, slow enough that a 10 min stress episode does not become the
        baseline; cf. Plews et al. 2012, Eur J Appl Physiol 112:3729, rolling
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
        Combined z-score per stress level; level = clip(round(3 + z / z_per_level), 1,
        10): the user's own baseline (z = 0) is 3, level 8 ("high stress") needs
        z >= 3.375, i.e. ln RMSSD ~3.4 baseline SDs lower with no HR change.
    stress_freeze_z : float, default 2.0
        A window whose combined z is at least this is *not* folded into the baseline, so
        an acute episode is measured against the calm baseline instead of becoming it
        (otherwise the EWMA variance inflates within 3-4 windows and the level collapses
        before the 10 min sustain; individual baselines are built from unstressed
        resting data, Plews et al. 2012; Firstbeat Technologies 2014, "Stress and
        recovery analysis method based on 24-hour heart rate variability").
    stress_max_frozen_windows : int, default 60
        After this many consecutive frozen windows (60 min) the baseline learns again:
        a lasting change becomes the user's new normal rather than a permanent alarm.
    Stress is scored only at rest or with unknown activity: HRV falls and HR rises with
    physical activity, which is not stress (Firstbeat 2014 excludes exercise periods;
    Kim et al. 2018). ``stress_step(..., at_rest=False)`` gives no level.

    Activity
    --------
    rest_activity_g : float, default 0.05
        Standard deviation of accelerometer magnitude (g) below which the wearer is at
        rest. Sedentary wrist activity stays below ~0.05 g ENMO-like variation
        (cf. Hildebrand et al. 2014, Med Sci Sports Exerc 46:1816-1824: sedentary
        < 0.0448 g ENMO at the wrist). Unknown activity (NaN) counts as *not* at rest,
        so a tachycardia-at-rest alert never fires without accelerometer evidence.
    Heart-rate limits (alert rules, :mod:`detectors.rules`)
    -------------------------------------------------------
    high_hr_bpm : float, default 120.0
        ``high_heart_rate`` opens when heart rate stays above this while at rest
        (``docs/architecture.md``, "Alerts"). Tachycardia is HR > 100 bpm (2015 ACC/AHA/HRS SVT
        guideline, Page et al. 2016, Circulation 133:e506-e574); consumer wearables notify
        at a default of 120 bpm sustained for 10 min of inactivity (Apple Watch "High
        Heart Rate" notification, selectable 100-150 bpm; Apple Support HT208931).
    high_hr_critical_bpm : float, default 150.0
        Above this the alert is ``critical``: at >= 150 bpm rate-related symptoms and
        instability become likely (2020 AHA ACLS adult tachycardia algorithm, Panchal et
        al. 2020, Circulation 142:S366-S468, "rates < 150/min rarely cause symptoms").
    low_hr_bpm : float, default 40.0
        ``low_heart_rate`` opens when heart rate stays below this. Sinus bradycardia is
        < 50 bpm and < 40 bpm while awake is marked (2018 ACC/AHA/HRS bradycardia
        guideline, Kusumoto et al. 2019, Circulation 140:e382-e482); Apple Watch "Low
        Heart Rate" notification defaults to 40 bpm for 10 min.
    low_hr_critical_bpm : float, default 30.0
        Below this the alert is ``critical`` (severe bradycardia; Kusumoto et al. 2019
        treat < 30 bpm awake or pauses > 3 s as potentially high-grade conduction disease).
    hr_sustain_s : float, default 600.0
        Duration the HR condition must hold in consecutive windows (10 min;
        ``docs/architecture.md``; Apple high/low HR notifications use 10 min).
    require_rest_for_tachycardia : bool, default True
        ``high_heart_rate`` only counts windows with ``at_rest is True``; ``None``
        (unknown activity) counts as *not* at rest (exercise must not alert; Apple's
        notification likewise requires apparent inactivity).

    Rhythm alert
    ------------
    arrhythmia_irregular_windows, arrhythmia_of_windows : int, default 5, 6
        ``arrhythmia`` opens when at least 5 of the last 6 rhythm verdicts are irregular
        (Apple irregular rhythm notification: 5 of 6 irregular tachograms, FDA De Novo
        DEN180042; Perez et al. 2019, N Engl J Med 381:1909-1917, Apple Heart Study).
    arrhythmia_max_span_s : float, default 900.0
        The counted verdicts must lie within this span of reading time (15 windows):
        windows without a valid verdict (``irregular is None``) are skipped, not counted,
        but at most 9 of them may interleave (Apple likewise only counts classifiable
        tachograms, within a bounded 48 h period).
    arrhythmia_severity : str, default "high"
        The alert table of ``docs/architecture.md`` (AF is not an emergency by itself: it
        texts contacts but escalates at the normal pace).

    Stress alert
    ------------
    stress_alert_level : int, default 8
        ``high_stress`` opens when the stress level (1-10, vs the user's own baseline)
        stays >= 8 (``docs/architecture.md``, "Alerts"; level 8 ~ z >= 3.5 of the baseline with the
        default mapping of :mod:`detectors.stress`).
    stress_alert_medium_level : int, default 10
        At or above this the stress alert is ``medium``, otherwise ``low``
        (``docs/architecture.md``, "Alerts": low/medium, in-app only).
    stress_sustain_s : float, default 600.0
        Sustain duration of the stress condition (10 min; ``docs/architecture.md``).

    Alert lifecycle
    ---------------
    alert_update_interval_s : float, default 300.0
        While an alert is open and its condition persists, an ``update`` with the latest
        HR/stress is emitted at most this often (severity escalation updates at once).
        Fewer repeated messages limit alarm fatigue (Sendelbach & Funk 2013, AACN Adv
        Crit Care 24:378-386).
    alert_clear_s : float, default 600.0
        An open alert clears once its condition has been observed absent for this long in
        consecutive windows (symmetric to the 10 min sustain; hysteresis against
        flapping, Sendelbach & Funk 2013).
    alert_cooldown_s : float, default 1800.0
        After a clear, the same alert type cannot re-open for this long (alarm-fatigue
        design choice; Sendelbach & Funk 2013).
    rule_max_gap_s : float, default 90.0
        Consecutive verdicts further apart than this (end to end) are a data gap: the
        sustain and clear runs restart, so missing windows never count as sustained.

    Falls (:mod:`detectors.falls`)
    ------------------------------
    fall_freefall_g : float, default 0.9
        Candidate start: a dip of the magnitude below 0.9 g (any length). The classic
        free-fall test (< 0.6 g for >= 80 ms; Kangas et al. 2008, Gait Posture 28:285-291;
        Bourke et al. 2007, Gait Posture 26:194-199) missed 54 % of the real SisFall falls
        (Sucerquia et al. 2017, Sensors 17:198): at the waist most falls dip below 0.6 g
        for less than 80 ms. The dip's depth is a feature of the model instead.
    fall_freefall_min_s : float, default 0.0
        Minimum dip length (0: one sample is enough; kept for stricter settings).
    fall_impact_g : float, default 1.8
        Impact: a magnitude above 1.8 g within ``fall_impact_window_s`` of the dip. Below
        the waist impact thresholds of Kangas et al. 2008 (2-3 g) and Bourke et al. 2007
        (trunk 3.52 g), so soft real falls (onto a mat, from sitting) become candidates;
        the peak is a model feature that separates them from steps.
    fall_impact_window_s : float, default 1.0
        The impact must follow the end of the free fall within 1 s (Kangas et al. 2008;
        Bourke et al. 2010, J Biomech 43:3051-3057, impact within ~1 s of the fall start).
    fall_settle_s, fall_still_window_s : float, default 1.0, 3.0
        Post-impact posture/stillness is assessed over [impact + 1 s, impact + 4 s]
        (Kangas et al. 2008 assess posture 2 s after impact; several seconds of low
        activity, Bourke et al. 2010).
    fall_weights, fall_bias, fall_threshold : tuple[float, ...], float, float
        Logistic model over the candidate's features (``detectors.falls.FALL_FEATURES``:
        log impact peak, dip depth, log post-impact std of ``|a|`` in the posture window,
        cosine of the turn between the pre-fall and post-impact gravity vectors -- the
        impact, free-fall, stillness and posture tests of Kangas et al. 2008 and Bourke
        et al. 2010 as one weighted score); a fall when the probability exceeds
        ``fall_threshold``. Fitted on the SisFall development trials (18 subjects, 2,191
        trials) by ``python -m detectors.fit.fit_falls``; subject-wise 6-fold
        cross-validated trial sensitivity 97.2 %, specificity 97.4 % (function level;
        through the pipeline: ``python -m simulators.evaluate_falls``).
    fall_model_placements : tuple of str, default ("waist", "chest")
        Device placements whose falls the fitted model decides (it was fitted on a waist
        sensor; the chest moves with the trunk as the waist does).
    fall_rule_dip_g, fall_rule_impact_g : float, default 0.6, 2.5
        Other placements (wrist, pocket, unknown) use the classic rule: free fall below
        0.6 g (Kangas et al. 2008, Gait Posture 28:285-291, "start of fall" SVM < 0.6 g;
        Bourke et al. 2007, Gait Posture 26:194-199, lower thresholds 0.41-0.60 g) and
        an impact above 2.5 g (Bourke et al. 2007 upper thresholds trunk 3.52 g, thigh
        2.74 g; Kangas et al. 2008 waist 2-3 g; below the trunk value so a 25 Hz device
        that samples off the peak still sees it).
    fall_rule_still_std_g : float, default 0.15
        Classic rule, post-impact stillness: std of ``|a|`` in the posture window below
        0.15 g (walking at the trunk/waist varies ~0.2-0.4 g; Casilari et al. 2017,
        Sensors 17:1513).
    fall_rule_turn_deg : float, default 50.0
        Classic rule, posture change: pre-fall vs post-impact gravity more than 50° apart
        (Kangas et al. 2008 call lying > 60° from vertical; 50° tolerates partial rotation
        and mounting; Bourke et al. 2010 posture test).
    fall_gravity_tau_s : float, default 2.0
        Time constant of the low-pass (EWMA) gravity estimate that gives the pre-fall
        orientation (2 s: at 0.5 s the estimate before a real fall's dip is already
        turning, which halved the measured turn of falls from sitting).
    fall_grace_s : float, default 30.0
        A detected fall stays pending this long; a ``cancel`` ("I'm OK") at or before
        its end suppresses it (Apple Watch fall detection: a 30 s countdown before
        emergency services are called, Apple Support HT208944).
    fall_cooldown_s : float, default 60.0
        After a fall alert opens, no new fall is detected for this long (one fall, one
        alert: bounces and getting-up movements do not re-trigger).
    fall_max_gap_s : float, default 0.5
        Accelerometer chunks further apart than this are a gap: an in-progress candidate
        (free fall / impact / post-impact) is dropped, as its evidence is incomplete.
    fall_min_fs_hz, fall_max_fs_hz : float, default 25.0, 200.0
        Accepted accelerometer sampling rates (25-200 Hz; payload contract,
        ``docs/architecture.md``).

    """

    # windows and beats
    window_s: int = 60
    min_beats_hrv: int = 30
    rr_min_ms: float = 250.0
    rr_max_ms: float = 2500.0
    ectopic_rel_threshold: float = 0.20
    ectopic_median_half_width: int = 5
    ectopic_pair_tolerance: float = 0.25
    min_beats_rhythm: int = 8
    min_nn_heart_rate: int = 5
    hr_plausible_min_bpm: float = 20.0
    hr_plausible_max_bpm: float = 250.0
    lf_band_hz: tuple[float, float] = (0.04, 0.15)
    hf_band_hz: tuple[float, float] = (0.15, 0.40)
    min_duration_lf_s: float = 50.0
    spectrum_resample_hz: float = 4.0

    # rhythm (logistic model; fitted by python -m detectors.fit.fit_rhythm)
    rhythm_weights: tuple[float, ...] = (
        2.3033, 8.0378, -0.0, 39.9762, -4.7831, -4.9486, -9.0933, 1.5987,
    )  # fmt: skip
    rhythm_bias: float = 63.7297
    rhythm_atrial_weights: tuple[float, ...] = (
        0.182, -3.8345, -0.9147, 2.9984, -0.1713,
        0.5939, 1.4467, -0.0, 3.4799, -2.5875, -0.8924, -3.0389, 0.7783,
    )  # fmt: skip
    rhythm_atrial_bias: float = 23.0747
    rhythm_threshold: float = 0.5

    # stress
    stress_ewma_alpha: float = 0.02
    stress_warmup_windows: int = 10
    stress_min_sd_ln_rmssd: float = 0.15
    stress_min_sd_hr_bpm: float = 3.0
    stress_hr_weight: float = 0.5
    stress_z_per_level: float = 0.75
    stress_freeze_z: float = 2.0
    stress_max_frozen_windows: int = 60

    # activity
    rest_activity_g: float = 0.05

    # heart-rate limits (detectors.rules)
    high_hr_bpm: float = 120.0
    high_hr_critical_bpm: float = 150.0
    low_hr_bpm: float = 40.0
    low_hr_critical_bpm: float = 30.0
    hr_sustain_s: float = 600.0
    require_rest_for_tachycardia: bool = True

    # rhythm alert (detectors.rules)
    arrhythmia_irregular_windows: int = 5
    arrhythmia_of_windows: int = 6
    arrhythmia_max_span_s: float = 900.0
    arrhythmia_severity: str = "high"

    # stress alert (detectors.rules)
    stress_alert_level: int = 8
    stress_alert_medium_level: int = 10
    stress_sustain_s: float = 600.0

    # alert lifecycle (detectors.rules)
    alert_update_interval_s: float = 300.0
    alert_clear_s: float = 600.0
    alert_cooldown_s: float = 1800.0
    rule_max_gap_s: float = 90.0

    # falls (detectors.falls)
    fall_freefall_g: float = 0.9
    fall_freefall_min_s: float = 0.0
    fall_impact_g: float = 1.8
    fall_impact_window_s: float = 1.0
    fall_settle_s: float = 1.0
    fall_still_window_s: float = 3.0
    fall_weights: tuple[float, ...] = (3.38, -1.0095, -0.8659, -6.8896)
    fall_bias: float = -3.7736
    fall_threshold: float = 0.4
    fall_model_placements: tuple[str, ...] = ("waist", "chest")
    fall_rule_dip_g: float = 0.6
    fall_rule_impact_g: float = 2.5
    fall_rule_still_std_g: float = 0.15
    fall_rule_turn_deg: float = 50.0
    fall_gravity_tau_s: float = 2.0
    fall_grace_s: float = 30.0
    fall_cooldown_s: float = 60.0
    fall_max_gap_s: float = 0.5
    fall_min_fs_hz: float = 25.0
    fall_max_fs_hz: float = 200.0

    def __post_init__(self) -> None:
        """Reject an RR range the artefact step and the stress histogram cannot use."""
        if not 50.0 <= self.rr_min_ms < self.rr_max_ms:
            raise ValueError(
                f"rr_min_ms must be >= 50 and below rr_max_ms, got "
                f"rr_min_ms={self.rr_min_ms}, rr_max_ms={self.rr_max_ms}"
            )


DEFAULT = DetectorConfig()
