"""Stress 1-10 against the user's own baseline: warm-up, monotonic in HRV loss, JSON state."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np

from detectors.config import DetectorConfig
from detectors.serialize import state_from_json, state_to_json
from detectors.stress import StressBaseline, stress_step


def _warm(rmssd_ms: float, hr_bpm: float, n: int = 40, seed: int = 1) -> StressBaseline:
    rng = np.random.default_rng(seed)
    b = StressBaseline()
    for _ in range(n):
        rmssd = rmssd_ms * math.exp(rng.normal(0, 0.1))
        b, _level = stress_step(b, rmssd, hr_bpm + rng.normal(0, 2))
    return b


def test_no_level_during_warm_up_then_baseline_is_mid_low() -> None:
    cfg = DetectorConfig()
    b = StressBaseline()
    levels = []
    for _ in range(cfg.stress_warmup_windows):
        b, level = stress_step(b, 45.0, 62.0, cfg)
        levels.append(level)
    assert levels == [None] * cfg.stress_warmup_windows
    b = _warm(45.0, 62.0)
    _, level = stress_step(b, 45.0, 62.0)
    assert level is not None and 2 <= level <= 4


def _level(b: StressBaseline, rmssd_ms: float, hr_bpm: float) -> int:
    level = stress_step(b, rmssd_ms, hr_bpm)[1]
    assert level is not None
    return level


def test_level_is_monotonic_in_hrv_loss_and_hr_rise() -> None:
    b = _warm(50.0, 65.0)
    by_rmssd = [_level(b, r, 65.0) for r in np.linspace(80, 5, 40)]
    assert all(a <= c for a, c in pairwise(by_rmssd))
    assert by_rmssd[0] <= 2 and by_rmssd[-1] == 10
    by_hr = [_level(b, 50.0, hr) for hr in np.linspace(55, 110, 30)]
    assert all(a <= c for a, c in pairwise(by_hr))
    assert by_hr[-1] > by_hr[0]


def test_relative_to_own_baseline_not_population() -> None:
    athlete = _warm(120.0, 48.0, seed=2)
    sedentary = _warm(18.0, 80.0, seed=3)
    # RMSSD 40 ms is a large loss for the athlete and a gain for the sedentary user
    assert _level(athlete, 40.0, 60.0) >= 8
    assert _level(sedentary, 40.0, 75.0) <= 2


def test_invalid_window_leaves_baseline_unchanged() -> None:
    b = _warm(50.0, 65.0)
    for rmssd, hr in ((math.nan, 65.0), (50.0, math.nan), (0.0, 65.0)):
        b2, level = stress_step(b, rmssd, hr)
        assert level is None and b2 == b


def test_baseline_json_round_trip_is_exact() -> None:
    b = _warm(50.0, 65.0)
    data = json.loads(json.dumps(state_to_json(b)))
    assert state_from_json(StressBaseline, data) == b
    odd = StressBaseline(n_windows=1, mean_ln_rmssd=math.inf, var_ln_rmssd=math.nan)
    back = state_from_json(StressBaseline, json.loads(json.dumps(state_to_json(odd))))
    assert math.isinf(back.mean_ln_rmssd) and math.isnan(back.var_ln_rmssd)


def _calm(n: int = 40, seed: int = 4) -> StressBaseline:
    rng = np.random.default_rng(seed)
    baseline = StressBaseline()
    for _ in range(n):
        baseline, _ = stress_step(
            baseline, float(np.exp(np.log(40.0) + rng.normal(0, 0.1))), 65 + rng.normal(0, 2)
        )
    return baseline


def test_sustained_episode_stays_high_for_the_alert_duration() -> None:
    """A 20 min episode (RMSSD x 0.2, HR +24) is measured against the calm baseline, not
    learned into it: the level stays >= 8 long enough for the 10 min sustain rule."""
    baseline = _calm()
    levels = []
    for _ in range(20):
        baseline, level = stress_step(baseline, 8.0, 89.0)
        levels.append(level)
    assert all(level is not None and level >= 8 for level in levels)
    _, after = stress_step(baseline, 40.0, 65.0)
    assert after is not None and after <= 4  # back to calm: back to baseline level


def test_a_lasting_change_becomes_the_new_normal() -> None:
    baseline = _calm()
    for _ in range(200):
        baseline, level = stress_step(baseline, 20.0, 75.0)
    assert level is not None and level <= 5


def test_no_stress_during_activity() -> None:
    baseline = _calm()
    after, level = stress_step(baseline, 8.0, 130.0, at_rest=False)
    assert level is None and after == baseline
    _, unknown = stress_step(baseline, 8.0, 89.0, at_rest=None)
    assert unknown is not None and unknown >= 8
