"""What happens to whom and when: population specs and hand-written scenarios.

Both produce a :class:`SimulationPlan` (users with their resting heart profile and a
list of non-overlapping :class:`Episode`), which :mod:`simulators.generate` renders.

Event keys, their label types and the defaults drawn for them:

============== ================ ==========================================================
key            label            default (population)
============== ================ ==========================================================
af             arrhythmia       paroxysmal AF 20-45 min (25 % persistent: whole trace),
                                ventricular rate 80-115 bpm, RR CV 0.15-0.30
brady          low_heart_rate   15-25 min at 35 bpm (20 %: 28 bpm, critical), at rest
tachy          high_heart_rate  15-25 min at 130 bpm (25 %: 160 bpm, critical), at rest
stress         high_stress      20-30 min, HR +20-28 bpm, RSA/LF × 0.15-0.25, at rest,
                                starting ≥ 30 min into the trace (baseline first)
exercise       exercise         15-25 min walking/jogging/stairs, HR 115-145 (confounder)
ectopy         ectopy           20-40 min of 2-6 PAC/PVC per minute (confounder)
fall           fall_detected    forward/backward/lateral, from standing or a chair, then
                                lying still 3-10 min
cancelled_fall cancelled_fall   a fall, "cancel" 10-25 s after the impact (confounder:
                                fall_detected must not be raised)
fall_like      fall_like        sitting down hard or three jumps (confounder)
sos            sos              an SOS press
============== ================ ==========================================================

Durations of ≥ 12 min for sustained conditions leave room for the 10 min sustain rules
(``docs/architecture.md``, "Alerts"). Thresholds: bradycardia < 40 bpm and tachycardia
> 120 bpm at rest (``DetectorConfig``; cf. 2018 ACC/AHA/HRS bradycardia guideline, Kusumoto et al.,
Circulation 140:e382, and the resting tachycardia definition > 100 bpm, with margin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulators.errors import SimulatorError
from simulators.rr_model import HeartProfile
from vocabulary import AlertKind

#: Episode kind -> label type: an alert kind, or a confounder (``trace_io.CONFOUNDER_LABELS``).
EVENT_LABEL: dict[str, str] = {
    "af": AlertKind.ARRHYTHMIA.value,
    "brady": AlertKind.LOW_HEART_RATE.value,
    "tachy": AlertKind.HIGH_HEART_RATE.value,
    "stress": AlertKind.HIGH_STRESS.value,
    "exercise": "exercise",
    "ectopy": "ectopy",
    "fall": AlertKind.FALL_DETECTED.value,
    "cancelled_fall": "cancelled_fall",
    "fall_like": "fall_like",
    "sos": AlertKind.SOS.value,
}
EVENT_KEYS = tuple(EVENT_LABEL)
DEFAULT_EVENTS = (
    "af:0.05,brady:0.02,tachy:0.02,stress:0.05,exercise:0.10,ectopy:0.05,"
    "fall:0.02,cancelled_fall:0.01,fall_like:0.03,sos:0.01"
)
#: Events that keep the user at rest (sitting, or lying at night) while they last.
REST_EVENTS = ("af", "brady", "tachy", "stress")
DEFAULT_START = "2025-01-15T08:00:00Z"
GAP_MS = 3 * 60_000
"""Minimum quiet time between two episodes of one user."""

_PARAMS: dict[str, tuple[str, ...]] = {
    "af": ("rate_bpm", "cv", "persistent"),
    "brady": ("hr_bpm",),
    "tachy": ("hr_bpm",),
    "stress": ("hr_delta_bpm", "hrv_scale"),
    "exercise": ("hr_bpm",),
    "ectopy": ("per_min",),
    "fall": ("direction", "from_chair", "lie_s"),
    "cancelled_fall": ("direction", "from_chair", "cancel_after_s"),
    "fall_like": ("movement",),
    "sos": (),
}


@dataclass(frozen=True)
class Episode:
    """One injected event of one user: ``kind`` is an event key, times epoch ms."""

    kind: str
    start_ms: int
    end_ms: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class UserPlan:
    user: int
    base_hr_bpm: float
    profile: HeartProfile
    episodes: list[Episode] = field(default_factory=list)
    name: str = ""


@dataclass
class SimulationPlan:
    start_ms: int
    duration_s: int
    seed: int
    users: list[UserPlan]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_s * 1000


def parse_time(text: str) -> int:
    """ISO 8601 time (``Z`` or offset; naive means UTC) to epoch ms."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise SimulatorError(f"time {text!r} is not ISO 8601 (e.g. {DEFAULT_START})") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_event_rates(text: str) -> dict[str, float]:
    """``"af:0.05,fall:0.01"`` → ``{"af": 0.05, "fall": 0.01}`` (fraction of users)."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition(":")
        if key not in EVENT_LABEL:
            raise SimulatorError(f"event {key!r} is not one of {', '.join(EVENT_KEYS)}")
        try:
            rate = float(value) if sep else float("nan")
        except ValueError:
            rate = float("nan")
        if not 0.0 <= rate <= 1.0:
            raise SimulatorError(
                f"event rate {item!r} must be KEY:FRACTION with 0 <= FRACTION <= 1"
            )
        rates[key] = rate
    return rates


def draw_profile(rng: np.random.Generator) -> tuple[float, HeartProfile]:
    """A user's resting HR (N(68, 8) clipped to 52-90 bpm; resting HR of adults,
    Ostchega et al. 2011, NHSR 41) and HRV profile (RSA amplitude lognormal around
    30 ms, breathing 0.2-0.3 Hz)."""
    base = float(np.clip(rng.normal(68, 8), 52, 90))
    profile = HeartProfile(
        rsa_ms=float(np.clip(rng.lognormal(np.log(30), 0.3), 15, 60)),
        resp_hz=float(rng.uniform(0.2, 0.3)),
        lf_ms=float(rng.uniform(15, 30)),
    )
    return base, profile


def episode_params(rng: np.random.Generator, kind: str) -> tuple[dict[str, Any], float]:
    """Default parameters and duration (s) of an episode of ``kind``."""
    if kind == "af":
        persistent = bool(rng.random() < 0.25)
        params: dict[str, Any] = {
            "rate_bpm": float(rng.uniform(80, 115)),
            "cv": float(rng.uniform(0.15, 0.3)),
            "persistent": persistent,
        }
        return params, float(rng.uniform(20, 45) * 60)
    if kind == "brady":
        return {"hr_bpm": 28.0 if rng.random() < 0.2 else 35.0}, float(rng.uniform(15, 25) * 60)
    if kind == "tachy":
        return {"hr_bpm": 160.0 if rng.random() < 0.25 else 130.0}, float(rng.uniform(15, 25) * 60)
    if kind == "stress":
        params = {
            "hr_delta_bpm": float(rng.uniform(20, 28)),
            "hrv_scale": float(rng.uniform(0.15, 0.25)),
        }
        return params, float(rng.uniform(20, 30) * 60)
    if kind == "exercise":
        return {"hr_bpm": float(rng.uniform(115, 145))}, float(rng.uniform(15, 25) * 60)
    if kind == "ectopy":
        return {"per_min": float(rng.uniform(2, 6))}, float(rng.uniform(20, 40) * 60)
    if kind in ("fall", "cancelled_fall"):
        params = {
            "direction": str(rng.choice(["forward", "backward", "lateral"])),
            "from_chair": bool(rng.random() < 0.3),
        }
        if kind == "fall":
            params["lie_s"] = float(rng.uniform(180, 600))
            return params, params["lie_s"]
        params["cancel_after_s"] = float(rng.uniform(10, 25))
        return params, params["cancel_after_s"] + 10 + 70
    if kind == "fall_like":
        return {"movement": str(rng.choice(["sit_hard", "jump"]))}, 60.0
    if kind == "sos":
        return {}, 1.0
    raise SimulatorError(f"event {kind!r} is not one of {', '.join(EVENT_KEYS)}")


def _earliest_s(kind: str) -> float:
    return {"stress": 30 * 60, "af": 5 * 60, "brady": 5 * 60, "tachy": 5 * 60}.get(kind, 120)


def _fits(episodes: list[Episode], start: int, end: int) -> bool:
    return all(end + GAP_MS <= e.start_ms or start >= e.end_ms + GAP_MS for e in episodes)


def population_plan(
    n_users: int, hours: float, seed: int, rates: dict[str, float], start_ms: int
) -> SimulationPlan:
    """Users 1..n with events given to ``round(rate × n)`` users each (at least one when the
    rate is positive), placed at random non-overlapping times. Deterministic for ``seed``."""
    if n_users < 1:
        raise SimulatorError(f"--users {n_users} must be at least 1")
    duration_s = round(hours * 3600)
    if duration_s < 600:
        raise SimulatorError(f"--hours {hours} is shorter than 10 minutes")
    rng = np.random.default_rng([seed, 2])
    users = []
    for user in range(1, n_users + 1):
        base, profile = draw_profile(np.random.default_rng([seed, 3, user]))
        users.append(UserPlan(user, base, profile, name=f"Sim User {user:04d}"))
    end_ms = start_ms + duration_s * 1000
    for kind in EVENT_KEYS:
        rate = rates.get(kind, 0.0)
        count = min(n_users, max(1, int(rate * n_users + 0.5))) if rate > 0 else 0
        for index in np.sort(rng.choice(n_users, size=count, replace=False)):
            plan = users[int(index)]
            params, length_s = episode_params(rng, kind)
            if kind == "af" and params["persistent"]:
                if plan.episodes:
                    params["persistent"] = False
                else:
                    plan.episodes.append(Episode(kind, start_ms, end_ms, params))
                    continue
            earliest = start_ms + int(_earliest_s(kind) * 1000)
            latest = end_ms - int(length_s * 1000) - 60_000
            for _ in range(50):
                if latest <= earliest:
                    break
                at = int(rng.integers(earliest, latest))
                at -= at % 1000
                stop = at + round(length_s) * 1000
                if _fits(plan.episodes, at, stop):
                    plan.episodes.append(Episode(kind, at, stop, params))
                    break
    for plan in users:
        plan.episodes.sort(key=lambda e: e.start_ms)
    return SimulationPlan(start_ms, duration_s, seed, users)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _scenario_time(event: dict[str, Any], start_ms: int, where: str) -> int:
    if "at_min" in event:
        return start_ms + int(float(event["at_min"]) * 60_000)
    at = event.get("at")
    if not isinstance(at, str):
        raise SimulatorError(f"{where}: needs 'at' (\"HH:MM\" or ISO time) or 'at_min'")
    clock = _CLOCK.fullmatch(at)
    if not clock:
        return parse_time(at)
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    try:
        moment = start.replace(
            hour=int(clock[1]), minute=int(clock[2]), second=int(clock[3] or 0), microsecond=0
        )
    except ValueError as error:
        raise SimulatorError(f"{where}: 'at' {at!r} is not a clock time HH:MM[:SS]") from error
    if moment < start:
        moment += timedelta(days=1)
    return int(moment.timestamp() * 1000)


def scenario_plan(path: Path, seed: int | None = None) -> SimulationPlan:
    """Read a JSON scenario (see ``docs/readme/simulators.md``)::

    {"start": "2025-01-15T00:00:00Z", "hours": 16, "seed": 1,
     "users": [{"user": 1, "events": [{"type": "af", "at": "03:00", "minutes": 40}]},
               {"user": 2, "events": [{"type": "fall", "at": "14:02",
                                       "direction": "forward"}]}]}
    """
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise SimulatorError(f"scenario {str(path)!r} cannot be read as JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise SimulatorError(f"scenario {str(path)!r} needs a 'users' list")
    start_ms = parse_time(str(data.get("start", DEFAULT_START)))
    duration_s = int(float(data.get("hours", 2)) * 3600)
    seed = int(data.get("seed", 0)) if seed is None else seed
    end_ms = start_ms + duration_s * 1000
    users = []
    for spec in data["users"]:
        user = int(spec["user"])
        base, profile = draw_profile(np.random.default_rng([seed, 3, user]))
        plan = UserPlan(
            user,
            float(spec.get("base_hr_bpm", base)),
            profile,
            name=str(spec.get("name", f"Sim User {user:04d}")),
        )
        rng = np.random.default_rng([seed, 4, user])
        for number, event in enumerate(spec.get("events", []), 1):
            where = f"scenario user {user} event {number}"
            kind = event.get("type")
            if kind not in EVENT_LABEL:
                raise SimulatorError(f"{where}: type {kind!r} is not one of {EVENT_KEYS}")
            params, length_s = episode_params(rng, kind)
            if kind == "af":
                params["persistent"] = False
            unknown = set(event) - {"type", "at", "at_min", "minutes", *_PARAMS[kind]}
            if unknown:
                raise SimulatorError(f"{where}: unknown field(s) {sorted(unknown)}")
            params.update({k: event[k] for k in _PARAMS[kind] if k in event})
            if "minutes" in event:
                length_s = float(event["minutes"]) * 60
            if kind == "cancelled_fall":
                length_s = float(params["cancel_after_s"]) + 80
            at = _scenario_time(event, start_ms, where)
            if params.get("persistent"):
                at, length_s = start_ms, duration_s
            stop = min(end_ms, at + round(length_s) * 1000)
            if not start_ms <= at < end_ms:
                raise SimulatorError(f"{where}: time {at} ms is outside the trace")
            if not _fits(plan.episodes, at, stop):
                raise SimulatorError(f"{where}: overlaps another event of user {user}")
            plan.episodes.append(Episode(kind, at, stop, params))
        plan.episodes.sort(key=lambda e: e.start_ms)
        users.append(plan)
    return SimulationPlan(start_ms, duration_s, seed, users)
