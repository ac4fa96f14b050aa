"""Physiological properties of the simulated scenario, with tolerances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter

from simulators.generate import Result
from simulators.plan import SimulationPlan
from simulators.trace_arrays import UserSignals, load_user


def _episode_ms(plan: SimulationPlan, user: int, index: int = 0) -> tuple[int, int]:
    ep = next(u for u in plan.users if u.user == user).episodes[index]
    return ep.start_ms, ep.end_ms


def _rr_between(sig: UserSignals, lo: float, hi: float) -> np.ndarray:
    return sig.rr_ms[(sig.beat_ms >= lo) & (sig.beat_ms < hi)]


def _rmssd(rr: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.diff(rr) ** 2)))


def _magnitude(sig: UserSignals) -> np.ndarray:
    return np.sqrt((sig.accel_g**2).sum(axis=0))


@pytest.fixture(scope="module")
def signals(scenario_trace: Result) -> dict[int, UserSignals]:
    return {u: load_user(scenario_trace.trace, u) for u in range(1, 11)}


def test_sinus_rhythm_has_resting_hr_and_hrv_in_normal_range(
    signals: dict[int, UserSignals],
) -> None:
    sig = signals[1]
    duration_min = (sig.beat_ms[-1] - sig.beat_ms[0]) / 60_000
    assert 70 <= duration_min <= 75
    rmssd, hr, cv = [], [], []
    for lo in range(int(sig.beat_ms[0]), int(sig.beat_ms[-1]) - 60_000, 60_000):
        rr = _rr_between(sig, lo, lo + 60_000)
        rmssd.append(_rmssd(rr))
        hr.append(60_000 / rr.mean())
        cv.append(rr.std() / rr.mean())
    # Nunan et al. 2010: resting RMSSD 19-75 ms; sinus RR CV at rest < 0.1
    assert 15 <= np.median(rmssd) <= 80
    assert 55 <= np.median(hr) <= 85
    assert np.median(cv) < 0.08
    rr = sig.rr_ms
    spectrum = np.abs(np.fft.rfft(rr - rr.mean())) ** 2
    freqs = np.fft.rfftfreq(rr.size, d=rr.mean() / 1000)
    hf = spectrum[(freqs >= 0.15) & (freqs < 0.4)].sum()
    assert hf / spectrum[freqs > 0.003].sum() > 0.2  # respiratory sinus arrhythmia present


def test_af_is_irregular_at_its_ventricular_rate_and_sinus_outside(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    lo, hi = _episode_ms(scenario, 2)
    af = _rr_between(signals[2], lo + 5000, hi - 5000)
    assert 0.15 <= af.std() / af.mean() <= 0.3
    assert 60_000 / af.mean() == pytest.approx(110, rel=0.1)
    # successive AF intervals are nearly uncorrelated (Hayano 1997)
    assert abs(np.corrcoef(af[:-1], af[1:])[0, 1]) < 0.2
    before = _rr_between(signals[2], lo - 10 * 60_000, lo - 60_000)
    assert before.std() / before.mean() < 0.1


@pytest.mark.parametrize(("user", "hr_bpm"), [(3, 35), (4, 130)])
def test_brady_and_tachy_episodes_reach_their_rate(
    scenario: SimulationPlan, signals: dict[int, UserSignals], user: int, hr_bpm: float
) -> None:
    lo, hi = _episode_ms(scenario, user)
    rr = _rr_between(signals[user], lo + 120_000, hi)
    assert 60_000 / np.median(rr) == pytest.approx(hr_bpm, abs=3)
    assert (hi - lo) >= 12 * 60_000
    # accelerometer shows rest throughout (the tachycardia rule requires it)
    sig = signals[user]
    inside = (sig.accel_ms >= lo) & (sig.accel_ms < hi)
    per_min = _magnitude(sig)[inside][: (inside.sum() // 1500) * 1500].reshape(-1, 1500)
    assert (per_min.std(axis=1) < 0.05).all()


def test_ectopic_beats_are_premature_with_a_pause(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    lo, hi = _episode_ms(scenario, 5)
    rr = _rr_between(signals[5], lo, hi)
    med = median_filter(rr, size=11, mode="nearest")
    premature = np.flatnonzero(rr[:-1] < 0.8 * med[:-1])
    assert len(premature) == pytest.approx(5 * 20, rel=0.25)
    followed_by_pause = rr[premature + 1] > 1.0 * med[premature + 1]
    assert followed_by_pause.mean() > 0.9
    before = _rr_between(signals[5], lo - 15 * 60_000, lo)
    assert (before < 0.8 * median_filter(before, size=11, mode="nearest")).sum() <= 3


def test_stress_raises_hr_and_lowers_hrv(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    lo, hi = _episode_ms(scenario, 6)
    base = _rr_between(signals[6], lo - 20 * 60_000, lo)
    stress = _rr_between(signals[6], lo + 120_000, hi)
    assert 60_000 / stress.mean() - 60_000 / base.mean() >= 15
    assert _rmssd(stress) < 0.5 * _rmssd(base)


def test_exercise_raises_hr_with_motion(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    lo, hi = _episode_ms(scenario, 7)
    sig = signals[7]
    rr = _rr_between(sig, lo + 5 * 60_000, hi - 5 * 60_000)
    assert 60_000 / np.median(rr) > 115
    inside = (sig.accel_ms >= lo + 5 * 60_000) & (sig.accel_ms < hi - 5 * 60_000)
    assert _magnitude(sig)[inside].std() > 0.2


def _around(sig: UserSignals, at_ms: float, before_s: float, after_s: float) -> np.ndarray:
    m = _magnitude(sig)
    return m[(sig.accel_ms >= at_ms - before_s * 1000) & (sig.accel_ms < at_ms + after_s * 1000)]


@pytest.mark.parametrize("index", [0, 1])
def test_falls_show_free_fall_impact_and_stillness(
    scenario: SimulationPlan, signals: dict[int, UserSignals], index: int
) -> None:
    impact, _ = _episode_ms(scenario, 8, index)
    sig = signals[8]
    near = _around(sig, impact, 1.5, 0.2)
    assert near.max() >= 3.0
    peak = int(np.argmax(near))
    assert near[max(0, peak - 15) : peak].min() < 0.4  # free fall just before the impact
    still = _around(sig, impact, -3, 60)
    assert still.std() < 0.02
    assert still.mean() == pytest.approx(1.0, abs=0.05)
    # posture change: the gravity direction turns by more than 50 degrees
    pre = sig.accel_g[:, (sig.accel_ms >= impact - 4000) & (sig.accel_ms < impact - 2000)]
    post = sig.accel_g[:, (sig.accel_ms >= impact + 2000) & (sig.accel_ms < impact + 5000)]
    a, b = pre.mean(axis=1), post.mean(axis=1)
    angle = np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert angle > 50


def test_cancelled_fall_has_a_cancel_event_inside_the_grace_period(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    impact, _ = _episode_ms(scenario, 9)
    sig = signals[9]
    assert _around(sig, impact, 1.5, 0.2).max() >= 3.0
    assert sig.events == [(impact + 15_000, "cancel")]


def test_fall_like_movements_lack_part_of_the_fall_signature(
    scenario: SimulationPlan, signals: dict[int, UserSignals]
) -> None:
    sig = signals[10]
    sit, _ = _episode_ms(scenario, 10, 0)
    hard = _around(sig, sit, 1, 2)
    assert 1.5 < hard.max() < 2.6  # a jolt, not a fall impact
    assert hard.min() > 0.45  # no free fall
    jump, _ = _episode_ms(scenario, 10, 1)
    landing = _around(sig, jump, 0, 5)
    assert landing.max() >= 3.0 and landing.min() < 0.2
    after = _around(sig, jump, -6, 40)
    assert after.std() > 0.1  # walking on, not lying still
    sos, _ = _episode_ms(scenario, 10, 2)
    assert sig.events == [(sos, "sos")]
