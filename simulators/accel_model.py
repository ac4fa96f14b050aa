"""Wrist accelerometer (g) of activities, falls and fall-like movements.

Activities are coded per user per second and rendered for many users at once: a gravity
orientation per posture, a step oscillation for walking (~1.9 Hz), stairs (~1.5 Hz) and
jogging (~2.6 Hz) with wrist amplitudes of 0.3/0.45/0.8 g, and sensor noise of a few mg.
Step frequencies follow Ji et al. 2005 (walking cadence ~110 steps/min) and wrist
acceleration amplitudes Bouten et al. 1997 (IEEE TBME 44:136-147). At rest the standard
deviation of the magnitude stays well below the 0.05 g rest threshold of
``detectors.config`` (Hildebrand et al. 2014).

Falls follow the three phases used by fall detectors (Bourke et al. 2007, Gait Posture
26:194-199; Kangas et al. 2008, Gait Posture 28:285-291): free fall (magnitude drops to
0.1-0.4 g for 0.25-0.5 s), impact (peak 3-6 g at the wrist), then stillness lying in a
new orientation (more than 50° from standing and from sitting, the posture-change test
of ``detectors.falls``). Fall-like activities (Klenk et al. 2011 "FARSEEING"; Bagala et al.
2012, PLoS One 7:e37062) show part of the signature: sitting down hard (a dip to ~0.6 g
and a 1.8-2.4 g jolt, then sitting), jumping (true free fall and 3-5 g landings, then
walking, never stillness).
"""

from __future__ import annotations

import numpy as np

LYING, SITTING, STANDING, WALKING, STAIRS, JOGGING = 0, 1, 2, 3, 4, 5
LYING_FRONT, LYING_BACK, LYING_SIDE = 6, 7, 8
ACTIVITY_NAMES = (
    "lying",
    "sitting",
    "standing",
    "walking",
    "stairs",
    "jogging",
    "lying_front",
    "lying_back",
    "lying_side",
)
MOVING = (WALKING, STAIRS, JOGGING)


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


#: Direction of gravity in the watch frame per activity code.
GRAVITY = np.stack(
    [
        _unit((0.25, 0.15, -0.95)),  # lying (on the back, arm beside the body)
        _unit((0.15, -0.35, 0.92)),  # sitting, forearm on the thigh/table
        _unit((-0.95, 0.10, 0.25)),  # standing, arm hanging
        _unit((-0.92, 0.15, 0.30)),  # walking
        _unit((-0.90, 0.20, 0.35)),  # stairs
        _unit((-0.75, 0.20, 0.60)),  # jogging, elbow bent
        _unit((0.30, 0.20, -0.93)),  # lying face down after a forward fall
        _unit((0.60, -0.10, -0.80)),  # lying on the back after a backward fall
        _unit((0.10, 0.97, 0.15)),  # lying on the side after a lateral fall
    ]
)
STEP_HZ = np.array([0, 0, 0, 1.9, 1.5, 2.6, 0, 0, 0], dtype=np.float64)
STEP_AMPLITUDE_G = np.array([0, 0, 0.004, 0.30, 0.45, 0.80, 0, 0, 0], dtype=np.float64)
NOISE_G = np.array([0.003, 0.004, 0.006, 0.04, 0.05, 0.08, 0.003, 0.003, 0.003])

FALL_DIRECTIONS = ("forward", "backward", "lateral")
LYING_AFTER = {"forward": LYING_FRONT, "backward": LYING_BACK, "lateral": LYING_SIDE}


def render_activity(
    rng: np.random.Generator,
    codes: np.ndarray,
    fs_hz: int,
    t0_s: float,
    phase: np.ndarray,
) -> np.ndarray:
    """Accelerometer of many users for a block of whole seconds.

    Parameters
    ----------
    rng : numpy.random.Generator
    codes : numpy.ndarray
        int, shape (n_users, n_seconds): activity code of each user each second.
    fs_hz : int
        Samples per second.
    t0_s : float
        Time of the block's first sample, seconds since the trace start (keeps the step
        oscillation continuous across blocks).
    phase : numpy.ndarray
        shape (n_users,): each user's step phase offset (rad).

    Returns
    -------
    numpy.ndarray
        shape (3, n_users, n_seconds * fs_hz): x, y, z in g.
    """
    n_users, n_sec = codes.shape
    per_sample = np.repeat(codes, fs_hz, axis=1)
    t = t0_s + np.arange(n_sec * fs_hz) / fs_hz
    gravity = GRAVITY[per_sample]  # (n_users, n, 3)
    omega = 2 * np.pi * STEP_HZ[per_sample] * t[None, :] + phase[:, None]
    amp = STEP_AMPLITUDE_G[per_sample]
    vertical = amp * np.sin(omega)  # along gravity: the heel strike bounce
    swing = 0.6 * amp * np.sin(0.5 * omega)  # arm swing at half the step frequency
    out = np.empty((3, n_users, n_sec * fs_hz))
    noise = NOISE_G[per_sample]
    for axis in range(3):
        out[axis] = gravity[..., axis] * (1.0 + vertical)
        out[axis] += noise * rng.standard_normal((n_users, n_sec * fs_hz))
    out[1] += swing
    return out


def _segment(start: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples moving linearly from vector ``start`` to ``end`` (3, n)."""
    w = np.linspace(0.0, 1.0, n)[None, :]
    return start[:, None] * (1 - w) + end[:, None] * w


def fall_template(
    rng: np.random.Generator, fs_hz: int, direction: str, from_chair: bool
) -> tuple[np.ndarray, int, int]:
    """A fall: stumble, free fall, impact, a short rebound, then lying still.

    Returns
    -------
    samples : numpy.ndarray
        shape (3, n) in g, starting in the standing (or sitting) orientation and ending
        lying in the orientation of ``direction``.
    impact_index : int
        Sample of the impact peak.
    end_code : int
        Activity code to continue with (lying in the new orientation).
    """
    if direction not in FALL_DIRECTIONS:
        raise ValueError(f"fall direction {direction!r} is not one of {FALL_DIRECTIONS}")
    g0 = GRAVITY[SITTING if from_chair else STANDING]
    end_code = LYING_AFTER[direction]
    g1 = GRAVITY[end_code]
    n_stumble = max(2, round(0.3 * fs_hz))
    ff_s = rng.uniform(0.20, 0.30) if from_chair else rng.uniform(0.30, 0.50)
    n_ff = max(3, round(ff_s * fs_hz))
    floor_g = rng.uniform(0.10, 0.35)
    peak_g = rng.uniform(3.0, 6.0)
    stumble = _segment(g0, g0 * 1.15, n_stumble)
    stumble += rng.normal(0, 0.08, stumble.shape)
    falling = _segment(g0 * 0.7, g0 * floor_g, n_ff)
    impact_dir = _unit(tuple(g1 + 0.3 * g0))  # type: ignore[arg-type]
    impact = np.stack([impact_dir * peak_g, impact_dir * peak_g * 0.55], axis=1)
    n_rebound = max(3, round(0.4 * fs_hz))
    decay = np.exp(-np.arange(n_rebound) / (0.1 * fs_hz))
    rebound = g1[:, None] + rng.normal(0, 0.5, (3, n_rebound)) * decay
    settle = g1[:, None] + rng.normal(0, 0.003, (3, fs_hz))
    samples = np.concatenate([stumble, falling, impact, rebound, settle], axis=1)
    return samples, n_stumble + n_ff, end_code


def fall_like_template(rng: np.random.Generator, fs_hz: int, kind: str) -> tuple[np.ndarray, int]:
    """``sit_hard`` (from standing into a chair) or ``jump`` (three jumps).

    Returns (samples (3, n) in g, activity code to continue with).
    """
    stand = GRAVITY[STANDING]
    if kind == "sit_hard":
        sit = GRAVITY[SITTING]
        n_drop = max(2, round(0.25 * fs_hz))
        drop = _segment(stand * 0.95, stand * rng.uniform(0.55, 0.7), n_drop)
        jolt = (sit * rng.uniform(1.8, 2.4))[:, None]
        settle = sit[:, None] + rng.normal(0, 0.05, (3, max(3, round(0.5 * fs_hz)))) * (
            np.exp(-np.arange(max(3, round(0.5 * fs_hz))) / (0.1 * fs_hz))
        )
        return np.concatenate([drop, jolt, settle], axis=1), SITTING
    if kind == "jump":
        parts = []
        for _ in range(3):
            push = _segment(stand * 1.0, stand * 1.6, max(2, round(0.15 * fs_hz)))
            flight = (
                stand[:, None]
                * rng.uniform(0.03, 0.12)
                * np.ones((1, max(3, round(rng.uniform(0.25, 0.35) * fs_hz))))
            )
            land = (stand * rng.uniform(3.0, 5.0))[:, None]
            recover = stand[:, None] + rng.normal(0, 0.3, (3, max(3, round(0.45 * fs_hz))))
            parts += [push, flight, land, recover]
        return np.concatenate(parts, axis=1), WALKING
    raise ValueError(f"fall-like movement {kind!r} is not 'sit_hard' or 'jump'")
