"""Stress level 1-10 relative to the user's own rolling baseline (plain data + pure step).

Acute mental stress withdraws vagal tone — RMSSD falls — and raises heart rate (Kim et
al. 2018 meta-review; Baevsky & Chernikova 2017). Population thresholds are poor because
resting RMSSD varies ten-fold between people, so each user is compared with their own
exponentially weighted baseline of ln RMSSD and HR (ln RMSSD is the approximately normal
scale used for individual baselines, Plews et al. 2012):

    z_hrv = (mean_ln_rmssd - ln rmssd) / sd_ln_rmssd      (HRV loss, >0 = lower HRV)
    z_hr  = (hr - mean_hr) / sd_hr                         (HR rise)
    z     = (z_hrv + w · z_hr) / (1 + w),  w = stress_hr_weight (0.5)
    level = clip(round(3 + z / stress_z_per_level), 1, 10)

The SDs are EWMA standard deviations floored at ``stress_min_sd_*`` so a very stable
baseline does not inflate z. The baseline is updated *after* scoring the window, with
weight ``max(stress_ewma_alpha, 1 / n)`` (a plain running mean during warm-up), except
for windows at least ``stress_freeze_z`` above it (an episode is not learned as normal,
for at most ``stress_max_frozen_windows`` in a row). Windows during physical activity
(``at_rest=False``) are neither scored nor learned. During the
first ``stress_warmup_windows`` valid windows no level is emitted (``None``). For a fixed
baseline the level is non-decreasing as RMSSD falls or HR rises.

References
----------
* Kim, H.-G., Cheon, E.-J., Bai, D.-S., Lee, Y. H., & Koo, B.-H. (2018). Stress and heart
  rate variability: a meta-analysis and review of the literature. Psychiatry Investig
  15:235-245.
* Baevsky, R. M., & Chernikova, A. G. (2017). Heart rate variability analysis:
  physiological foundations and main methods. Cardiometry 10:66-76.
* Plews, D. J., Laursen, P. B., Kilding, A. E., & Buchheit, M. (2012). Heart rate
  variability in elite triathletes: is variation in variability the key to effective
  training? Eur J Appl Physiol 112:3729-3741.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from detectors.config import DEFAULT, DetectorConfig

__all__ = ["StressBaseline", "stress_step"]


@dataclass(frozen=True)
class StressBaseline:
    """One user's rolling baseline; JSON-able (see :mod:`detectors.serialize`).

    Attributes
    ----------
    n_windows : int
        Valid windows seen so far.
    frozen_windows : int
        Consecutive windows kept out of the baseline because they were stressed.
    mean_ln_rmssd, var_ln_rmssd : float
        EWMA mean and variance of ln RMSSD (RMSSD in ms).
    mean_hr_bpm, var_hr_bpm : float
        EWMA mean and variance of heart rate (bpm, bpm²).
    """

    n_windows: int = 0
    mean_ln_rmssd: float = 0.0
    var_ln_rmssd: float = 0.0
    mean_hr_bpm: float = 0.0
    var_hr_bpm: float = 0.0
    frozen_windows: int = 0


def stress_step(
    baseline: StressBaseline,
    rmssd_ms: float,
    mean_hr_bpm: float,
    config: DetectorConfig = DEFAULT,
    *,
    at_rest: bool | None = None,
) -> tuple[StressBaseline, int | None]:
    """Score one window against the baseline, then fold it into the baseline.

    Parameters
    ----------
    baseline : StressBaseline
    rmssd_ms : float
        Window RMSSD (ms); NaN/None/≤0 means no valid HRV -> baseline unchanged, None.
    mean_hr_bpm : float
        Window mean heart rate (bpm); NaN means no valid window.
    config : DetectorConfig
    at_rest : bool or None
        False during physical activity: no level and no baseline update. None (unknown)
        and True are scored.

    Returns
    -------
    (StressBaseline, int or None)
        The updated baseline and the level 1..10 (None during warm-up or without HRV).

    Examples
    --------
    >>> b = StressBaseline()
    >>> for _ in range(30):
    ...     b, level = stress_step(b, 40.0, 65.0)
    >>> level
    3
    >>> stress_step(b, 12.0, 85.0)[1]
    10
    """
    if not _valid(rmssd_ms) or not _valid(mean_hr_bpm) or rmssd_ms <= 0 or mean_hr_bpm <= 0:
        return baseline, None
    if at_rest is False:
        return baseline, None
    ln_rmssd = math.log(rmssd_ms)
    level: int | None = None
    z = 0.0
    if baseline.n_windows >= config.stress_warmup_windows:
        sd_hrv = max(math.sqrt(baseline.var_ln_rmssd), config.stress_min_sd_ln_rmssd)
        sd_hr = max(math.sqrt(baseline.var_hr_bpm), config.stress_min_sd_hr_bpm)
        z_hrv = (baseline.mean_ln_rmssd - ln_rmssd) / sd_hrv
        z_hr = (mean_hr_bpm - baseline.mean_hr_bpm) / sd_hr
        w = config.stress_hr_weight
        z = (z_hrv + w * z_hr) / (1.0 + w)
        level = int(min(10, max(1, round(3.0 + z / config.stress_z_per_level))))
    if z >= config.stress_freeze_z and baseline.frozen_windows < config.stress_max_frozen_windows:
        return replace(baseline, frozen_windows=baseline.frozen_windows + 1), level
    n = baseline.n_windows + 1
    alpha = max(config.stress_ewma_alpha, 1.0 / n)
    m_hrv, v_hrv = _ewma(baseline.mean_ln_rmssd, baseline.var_ln_rmssd, ln_rmssd, alpha)
    m_hr, v_hr = _ewma(baseline.mean_hr_bpm, baseline.var_hr_bpm, mean_hr_bpm, alpha)
    # the counter resets on a calm window; after a long episode it stays at the maximum,
    # so the baseline keeps learning until the new normal no longer looks stressed
    frozen = 0 if z < config.stress_freeze_z else baseline.frozen_windows
    return StressBaseline(n, m_hrv, v_hrv, m_hr, v_hr, frozen), level


def _valid(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _ewma(mean: float, var: float, x: float, alpha: float) -> tuple[float, float]:
    """Exponentially weighted mean and variance update (West 1979 / Finch 2009)."""
    diff = x - mean
    incr = alpha * diff
    return mean + incr, (1.0 - alpha) * (var + diff * incr)
