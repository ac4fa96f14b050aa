"""One user's second-by-second timeline: activity, target heart rate, HRV scale,
accelerometer overlays (falls), button events, beats and ground-truth labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy.signal import lfilter

from simulators.accel_model import (
    JOGGING,
    LYING,
    SITTING,
    STAIRS,
    STANDING,
    WALKING,
    fall_like_template,
    fall_template,
)
from simulators.plan import EVENT_LABEL, REST_EVENTS, Episode, SimulationPlan, UserPlan
from simulators.rr_model import add_ectopy, replace_with_af, sinus_beats
from simulators.trace_io import Label

#: Heart-rate change per activity (bpm) relative to sitting; lying -4, standing +6
#: (orthostatic rise, ~5-10 bpm), walking +18, stairs +28, jogging +50 (cf. Ainsworth et
#: al. 2011 Compendium of Physical Activities, METs; HR reserve relations).
ACTIVITY_HR_BPM = np.array([-4, 0, 6, 18, 28, 50, -4, -4, -4], dtype=np.float64)
#: Multiplier of RSA/LF amplitude per activity (vagal withdrawal with effort).
ACTIVITY_HRV = np.array([1.1, 1.0, 0.8, 0.55, 0.4, 0.2, 1.0, 1.0, 1.0])
HR_TAU_S = 25.0
"""Time constant of the heart-rate response to a change of activity (s); on-kinetics of
HR at moderate exercise onset ~20-40 s (Hughson & Morrissey 1982)."""
CIRCADIAN_BPM = 5.0
"""Half amplitude of the circadian HR rhythm, nadir ~04:00 (Degaute et al. 1991,
Hypertension 18:199-210: day-night HR difference ~10 bpm)."""


@dataclass
class Timeline:
    user: int
    codes: np.ndarray  # int8 per second
    beats_ms: np.ndarray  # int64 epoch ms
    overlays: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (sample, (3, n))
    events: list[tuple[int, str]] = field(default_factory=list)  # (ts, "sos"|"cancel")
    labels: list[Label] = field(default_factory=list)


def _hour_of_day(start_ms: int, n_s: int) -> np.ndarray:
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    first = start.hour + start.minute / 60 + start.second / 3600
    return (first + np.arange(n_s) / 3600.0) % 24.0


def _base_codes(rng: np.random.Generator, hours: np.ndarray) -> np.ndarray:
    """Night (23:00-07:00) lying; day sitting with walks, standing and stairs bouts."""
    n = hours.size
    codes = np.where((hours >= 23) | (hours < 7), LYING, SITTING).astype(np.int8)
    t = int(rng.integers(0, 600))
    while t < n:
        t += int(rng.exponential(15 * 60))
        kind = rng.random()
        if kind < 0.6:
            code, length = WALKING, int(rng.uniform(60, 300))
        elif kind < 0.85:
            code, length = STANDING, int(rng.uniform(60, 180))
        else:
            code, length = STAIRS, int(rng.uniform(30, 60))
        stop = min(n, t + length)
        day = codes[t:stop] != LYING
        codes[t:stop][day] = code
        t = stop
    return codes


def _lag(series: np.ndarray, tau_s: float) -> np.ndarray:
    a = float(np.exp(-1.0 / tau_s))
    out, _ = lfilter([1 - a], [1, -a], series, zi=[series[0] * a])
    return np.asarray(out)


@dataclass
class _Targets:
    """Per-second overrides of heart rate and HRV scale (NaN: no override)."""

    hr_add: np.ndarray
    hr_set: np.ndarray
    hrv_set: np.ndarray


def build_timeline(
    plan: SimulationPlan, user: UserPlan, fs_hz: int, rng: np.random.Generator
) -> Timeline:
    """Render one user's plan into activity codes, beats, overlays, events and labels."""
    n_s = plan.duration_s
    hours = _hour_of_day(plan.start_ms, n_s)
    codes = _base_codes(rng, hours)
    targets = _Targets(np.zeros(n_s), np.full(n_s, np.nan), np.full(n_s, np.nan))
    timeline = Timeline(user.user, codes, np.empty(0, np.int64))
    for ep in user.episodes:
        _apply_episode(plan, timeline, ep, targets=targets, hours=hours, fs_hz=fs_hz, rng=rng)
        timeline.labels.extend(_labels(user.user, ep))
    hr = user.base_hr_bpm + CIRCADIAN_BPM * np.cos(2 * np.pi * (hours - 16) / 24)
    hr = hr + ACTIVITY_HR_BPM[codes] + targets.hr_add
    hr = np.where(np.isnan(targets.hr_set), hr, targets.hr_set)
    hrv = np.where(np.isnan(targets.hrv_set), ACTIVITY_HRV[codes], targets.hrv_set)
    hr, hrv = _lag(hr, HR_TAU_S), _lag(hrv, HR_TAU_S)
    timeline.beats_ms = _beats(plan, user, hr, hrv, rng)
    return timeline


def _apply_episode(
    plan: SimulationPlan,
    timeline: Timeline,
    ep: Episode,
    *,
    targets: _Targets,
    hours: np.ndarray,
    fs_hz: int,
    rng: np.random.Generator,
) -> None:
    codes = timeline.codes
    n_s = codes.size
    s0 = int(np.clip((ep.start_ms - plan.start_ms) // 1000, 0, n_s))
    s1 = int(np.clip((ep.end_ms - plan.start_ms) // 1000, 0, n_s))
    if ep.kind in REST_EVENTS:
        pre = max(0, s0 - 120)
        night = (hours[pre:s1] >= 23) | (hours[pre:s1] < 7)
        codes[pre:s1] = np.where(night, LYING, SITTING)
    if ep.kind == "brady":
        targets.hr_set[s0:s1], targets.hrv_set[s0:s1] = ep.params["hr_bpm"], 1.0
    elif ep.kind == "tachy":
        targets.hr_set[s0:s1], targets.hrv_set[s0:s1] = ep.params["hr_bpm"], 0.3
    elif ep.kind == "stress":
        targets.hr_add[s0:s1] += ep.params["hr_delta_bpm"]
        targets.hrv_set[s0:s1] = ep.params["hrv_scale"]
    elif ep.kind == "exercise":
        pattern = np.full(s1 - s0, JOGGING, dtype=np.int8)
        pattern[:180] = WALKING
        pattern[-120:] = WALKING
        for k in range(180 + 240, s1 - s0 - 180, 300):  # a flight of stairs every 5 min
            pattern[k : k + 45] = STAIRS
        codes[s0:s1] = pattern
        hard = (pattern == JOGGING) | (pattern == STAIRS)
        targets.hr_set[s0:s1][hard] = ep.params["hr_bpm"]
    elif ep.kind in ("fall", "cancelled_fall"):
        _add_fall(plan, timeline, ep, fs_hz, rng)
    elif ep.kind == "fall_like":
        _add_fall_like(plan, timeline, ep, fs_hz, rng)
    elif ep.kind == "sos":
        timeline.events.append((ep.start_ms, "sos"))


def _beats(
    plan: SimulationPlan,
    user: UserPlan,
    hr: np.ndarray,
    hrv: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    # two extra minutes absorb the drift of PAC resets; cut at the end
    pad = 120
    hr_padded = np.r_[hr, np.full(pad, hr[-1])]
    hrv_padded = np.r_[hrv, np.full(pad, hrv[-1])]
    beats = sinus_beats(rng, plan.start_ms, hr_padded, hrv_padded, user.profile)
    for ep in user.episodes:
        if ep.kind == "ectopy":
            beats, _ = add_ectopy(
                rng, beats, start_ms=ep.start_ms, end_ms=ep.end_ms, per_min=ep.params["per_min"]
            )
    for ep in user.episodes:
        if ep.kind == "af":
            beats = replace_with_af(
                rng,
                beats,
                start_ms=ep.start_ms,
                end_ms=ep.end_ms,
                rate_bpm=ep.params["rate_bpm"],
                cv=ep.params["cv"],
            )
    beats_ms = np.round(beats).astype(np.int64)
    beats_ms = beats_ms[(beats_ms >= plan.start_ms) & (beats_ms < plan.end_ms)]
    return beats_ms[np.r_[True, np.diff(beats_ms) > 0]]


def _labels(user: int, ep: Episode) -> list[Label]:
    kind = ep.kind
    if kind in ("fall", "fall_like", "sos"):
        end = ep.start_ms + (5000 if kind == "fall_like" else 0)
        detail = ",".join(f"{k}={v}" for k, v in sorted(ep.params.items()) if k != "lie_s")
        return [Label(user, EVENT_LABEL[kind], ep.start_ms, end, detail)]
    if kind == "cancelled_fall":
        cancel = ep.start_ms + int(ep.params["cancel_after_s"] * 1000)
        detail = f"direction={ep.params['direction']},cancel_ms={cancel}"
        return [Label(user, "cancelled_fall", ep.start_ms, cancel, detail)]
    detail = ",".join(
        f"{k}={round(v, 3) if isinstance(v, float) else v}" for k, v in sorted(ep.params.items())
    )
    labels = [Label(user, EVENT_LABEL[kind], ep.start_ms, ep.end_ms, detail)]
    if kind == "af" and ep.params["rate_bpm"] > 120 and ep.end_ms - ep.start_ms >= 12 * 60_000:
        # fast AF at rest is also a sustained tachycardia: ground truth for both rules
        labels.append(Label(user, "high_heart_rate", ep.start_ms, ep.end_ms, "af_rvr"))
    return labels


def _add_fall(
    plan: SimulationPlan,
    tl: Timeline,
    ep: Episode,
    fs_hz: int,
    rng: np.random.Generator,
) -> None:
    from_chair = bool(ep.params["from_chair"])
    samples, impact_index, end_code = fall_template(
        rng, fs_hz, str(ep.params["direction"]), from_chair
    )
    impact_sample = (ep.start_ms - plan.start_ms) * fs_hz // 1000
    first = impact_sample - impact_index
    s_first = first // fs_hz
    s_after = (first + samples.shape[1]) // fs_hz + 1
    n_s = tl.codes.size
    tl.codes[max(0, s_first - 5) : s_first + 1] = SITTING if from_chair else STANDING
    if ep.kind == "fall":
        lie_end = min(n_s, s_after + int(ep.params["lie_s"]))
        tl.codes[s_after:lie_end] = end_code
        tl.codes[lie_end : lie_end + 60] = SITTING
    else:
        cancel_ms = ep.start_ms + int(ep.params["cancel_after_s"] * 1000)
        get_up = (cancel_ms - plan.start_ms) // 1000 + 8
        tl.codes[s_after:get_up] = end_code
        tl.codes[get_up : get_up + 10] = STANDING
        tl.codes[get_up + 10 : get_up + 70] = WALKING
        tl.events.append((cancel_ms, "cancel"))
    tl.overlays.append((int(first), samples))


def _add_fall_like(
    plan: SimulationPlan,
    tl: Timeline,
    ep: Episode,
    fs_hz: int,
    rng: np.random.Generator,
) -> None:
    samples, end_code = fall_like_template(rng, fs_hz, str(ep.params["movement"]))
    first = (ep.start_ms - plan.start_ms) * fs_hz // 1000
    s_first = first // fs_hz
    s_after = (first + samples.shape[1]) // fs_hz + 1
    tl.codes[max(0, s_first - 5) : s_first + 1] = STANDING
    tl.codes[s_after : s_after + 55] = end_code
    tl.overlays.append((int(first), samples))
