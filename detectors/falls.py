"""Fall detection from a 3-axis accelerometer: a state machine in reading time.

A fall candidate is the sequence (Kangas et al. 2008; Bourke et al. 2007/2010; sources
and defaults in :class:`~detectors.config.DetectorConfig`):

1. **dip** -- magnitude ``|a|`` below ``fall_freefall_g`` (0.9 g): the start of a free
   fall, however short (a second dip within ``fall_impact_window_s`` of the first keeps
   the posture from before the first: a stumble, then the fall);
2. **impact** -- ``|a|`` above ``fall_impact_g`` (1.8 g) within ``fall_impact_window_s``
   (1 s) of the end of the dip;
3. **posture window** -- ``[impact + fall_settle_s, + fall_still_window_s]`` (1-4 s after
   the impact). A new dip-and-impact inside it (a step after a step, a second impact)
   replaces the candidate, so a fall is not hidden behind the steps that preceded it.

When the posture window is complete the candidate is scored by a logistic model over
:data:`FALL_FEATURES` -- log impact peak, dip depth, log std of ``|a|`` in the posture
window (stillness) and the cosine of the turn of the gravity vector (2 s low-pass before
the dip vs the posture-window mean) -- and is a fall when the probability exceeds
``fall_threshold``. The weights ship in the config and are refitted on the SisFall trials
by ``python -m detectors.fit.fit_falls``. Neither feature alone decides: stillness alone
is also what sitting down hard ends in, a jump ends upright, lying down gently has no
impact.
A detected fall is *pending* for ``fall_grace_s`` (30 s) after the posture window;
:func:`fall_cancel` ("I'm OK") at or before the end of the grace period suppresses it,
otherwise :func:`fall_step` / :func:`fall_tick` emit one ``open`` of ``fall_detected``
(critical) whose ``at_ms`` is the end of the grace period -- the same whatever the
chunking or the time the tick arrives, so a replay reproduces the live alert.

Chunks (any length, 25-200 Hz declared per chunk) must arrive in reading-time order.
Everything that crosses a chunk boundary -- a free fall still in progress, the impact
search, the posture sums, the gravity low-pass filter -- lives in :class:`FallState`,
so a fall straddling chunks is found exactly as in one piece. Within a chunk the work
is vectorised (magnitude, ``scipy.signal.lfilter`` gravity estimate, run finding, window
sums); only the few candidate events are visited one by one. Samples overlapping what
was already seen are dropped (idempotent redelivery); a gap longer than
``fall_max_gap_s`` drops the candidate in progress (incomplete evidence).

Examples
--------
>>> import numpy as np
>>> from detectors.falls import FallState, fall_step, fall_tick
>>> fs = 50.0
>>> t = np.arange(int(10 * fs)) / fs
>>> mag = np.where((t >= 3.0) & (t < 3.3), 0.2, 1.0)          # 300 ms free fall
>>> mag = mag + 3.0 * np.exp(-0.5 * ((t - 3.32) / 0.03) ** 2)  # ~4 g impact
>>> lying = t > 3.4                                            # then on the side, still
>>> x, z = np.where(lying, mag, 0.0), np.where(lying, 0.0, mag)
>>> state, actions = fall_step(FallState(), 0, fs, x, np.zeros_like(x), z)
>>> state.pending_onset_ms, actions
(3000, [])
>>> state, actions = fall_tick(state, now_ms=40_000)
>>> [(a.action, str(a.alert_type), str(a.severity), a.at_ms) for a in actions]
[('open', 'fall_detected', 'critical', 37300)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

try:  # the C routine behind lfilter (SciPy 1.x); lfilter itself when it moves
    from scipy.signal._sigtools import _linear_filter as _LINEAR_FILTER
except ImportError:  # pragma: no cover
    _LINEAR_FILTER = None

from detectors.config import DEFAULT, DetectorConfig
from detectors.errors import InvalidAccelChunk
from detectors.rules import AlertAction
from vocabulary import AlertKind, Severity

__all__ = [
    "FALL_FEATURES",
    "AccelChunk",
    "FallState",
    "candidate_features",
    "fall_cancel",
    "fall_candidates",
    "fall_probability",
    "fall_step",
    "fall_step_chunks",
    "fall_tick",
    "is_fall",
]

#: Features of a candidate, in the order of ``DetectorConfig.fall_weights``.
FALL_FEATURES = ("log_peak_g", "dip_g", "log_still_std_g", "cos_turn")
#: Added to the posture-window std before the log, so a perfectly still device (std 0)
#: does not dominate the score (10 mg, a few counts of a consumer accelerometer).
STILL_FLOOR_G = 0.01

Vec3 = tuple[float, float, float]
_ZERO: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class FallState:
    """Per-user fall-detector state: JSON-able floats, ints, strings and tuples.

    Attributes
    ----------
    next_ms : float or None
        Reading time expected for the next sample (last sample + 1/fs).
    placement : str
        Where the device is worn (``wrist``, ``waist``, ``chest``, ``pocket``; empty when
        unknown), from its registration: selects the fitted model or the classic rule
        (see :func:`is_fall`).
    gravity_g : tuple of 3 float
        Low-pass (EWMA) estimate of the gravity vector at the last sample.
    low_start_ms : float or None
        Start of a run of ``|a| < fall_freefall_g`` still open at the end of the last chunk.
    low_ref_g : tuple of 3 float
        Gravity estimate just before that run started.
    phase : str
        ``idle``, ``impact`` (free fall seen, waiting for the impact) or ``post``
        (impact seen, accumulating the posture window).
    ref_g : tuple of 3 float
        Pre-fall gravity of the candidate.
    ref_ms : float or None
        Start of the dip before which ``ref_g`` was taken.
    freefall_ms, deadline_ms, impact_ms : float or None
        Candidate free-fall start, impact deadline, impact time.
    peak_g : float
        Largest ``|a|`` from the impact to the posture window.
    post_n, post_sum_g, post_sumsq_g2 : int, float, float
        Count, sum and sum of squares of ``|a|`` in the posture window so far.
    post_xyz_g : tuple of 3 float
        Per-axis sums of the posture window.
    low_min_g : float
        Smallest ``|a|`` of the low run still open at the end of the last chunk.
    dip_g : float
        Smallest ``|a|`` of the candidate's low run(s) (its free-fall depth).
    next_start_ms, next_end_ms, next_ref_g, next_dip_g : float or None, float or None, tuple, float
        The latest low run completed after the candidate's impact (start, end, gravity
        before it, depth): the next candidate if this one's posture window is disturbed
        by a new impact, or is not a fall while that run's impact search is still open.
    pending_onset_ms, pending_due_ms : int or None
        A detected fall waiting for its grace period: onset (free-fall start) and the
        end of the grace period.
    pending_peak_g : float
        Impact peak of the pending fall (for the message).
    cancel_ms : int or None
        Latest ``cancel`` event, kept for a fall whose detection is still in progress.
    blocked_until_ms : float or None
        Free falls starting before this are ignored (pending fall, cooldown).
    """

    next_ms: float | None = None
    placement: str = ""
    gravity_g: Vec3 = _ZERO
    low_start_ms: float | None = None
    low_ref_g: Vec3 = _ZERO
    phase: str = "idle"
    ref_g: Vec3 = _ZERO
    ref_ms: float | None = None
    freefall_ms: float | None = None
    deadline_ms: float | None = None
    impact_ms: float | None = None
    peak_g: float = 0.0
    post_n: int = 0
    post_sum_g: float = 0.0
    post_sumsq_g2: float = 0.0
    post_xyz_g: Vec3 = _ZERO
    low_min_g: float = 0.0
    dip_g: float = 0.0
    next_start_ms: float | None = None
    next_end_ms: float | None = None
    next_ref_g: Vec3 = _ZERO
    next_dip_g: float = 0.0
    pending_onset_ms: int | None = None
    pending_due_ms: int | None = None
    pending_peak_g: float = 0.0
    cancel_ms: int | None = None
    blocked_until_ms: float | None = None


def _replace(state: FallState, **changes: object) -> FallState:
    """``dataclasses.replace`` without its per-field checks (FallState has no
    ``__post_init__``); it runs a few times per chunk on the hot path."""
    moved = object.__new__(FallState)
    moved.__dict__.update(state.__dict__)
    moved.__dict__.update(changes)
    return moved


def fall_step(  # noqa: PLR0917 - signature fixed by docs/detectors-api.md
    state: FallState,
    start_ms: int,
    fs_hz: float,
    x_g: ArrayLike,
    y_g: ArrayLike,
    z_g: ArrayLike,
    config: DetectorConfig = DEFAULT,
) -> tuple[FallState, list[AlertAction]]:
    """Fold one accelerometer chunk into a user's fall state.

    Parameters
    ----------
    state : FallState
        The user's state (``FallState()`` for a new user).
    start_ms : int
        Reading time of the first sample (epoch ms).
    fs_hz : float
        Sampling rate of this chunk, ``fall_min_fs_hz``..``fall_max_fs_hz`` (25-200 Hz).
    x_g, y_g, z_g : array_like
        The three axes in g, equal lengths, finite.
    config : DetectorConfig
        Thresholds (see the module docstring).

    Returns
    -------
    state : FallState
        The new state.
    actions : list of AlertAction
        The ``open`` of ``fall_detected`` when a pending fall's grace period has elapsed
        by the last sample of this chunk, else empty.

    Raises
    ------
    InvalidAccelChunk
        Sampling rate out of range, axes of different lengths or not 1-D, non-finite values.
    """
    xyz = _valid_float_chunk(fs_hz, x_g, y_g, z_g, config)
    if xyz is None:  # not plain float64 arrays, or invalid: check and name the problem
        x, y, z = _checked_chunk(fs_hz, x_g, y_g, z_g, start_ms=start_ms, cfg=config)
        xyz = np.column_stack((x, y, z))
    dt_ms = 1000.0 / fs_hz
    t_ms: NDArray[np.float64] = float(start_ms) + np.arange(len(xyz), dtype=np.float64) * dt_ms
    if state.next_ms is not None:
        floor_ms = state.next_ms - dt_ms / 2.0  # drop redelivered/overlapping samples
        if not (len(t_ms) and t_ms[0] >= floor_ms):  # (t_ms increases: else keep all)
            keep = t_ms >= floor_ms
            if not keep.any():
                return state, []
            xyz, t_ms = xyz[keep], t_ms[keep]
        if t_ms[0] - state.next_ms > config.fall_max_gap_s * 1000.0:
            state = _after_gap(state)
    if len(xyz) == 0:
        return state, []
    if state.phase == "idle" and state.low_start_ms is None:
        state = _quiet_chunk(state, t_ms, dt_ms, xyz, config) or _process(
            state, t_ms, dt_ms, xyz, config
        )
    else:
        state = _process(state, t_ms, dt_ms, xyz, config)
    return fall_tick(state, math.floor(t_ms[-1]), config)


class AccelChunk(NamedTuple):
    """One accelerometer chunk as :func:`fall_step` takes it (reading-time ms, Hz, g)."""

    start_ms: int
    fs_hz: float
    x_g: ArrayLike
    y_g: ArrayLike
    z_g: ArrayLike


def fall_step_chunks(
    state: FallState, chunks: Sequence[AccelChunk], config: DetectorConfig = DEFAULT
) -> tuple[FallState, list[tuple[int, AlertAction]]]:
    """Fold several consecutive chunks of one user; equal to :func:`fall_step` on each.

    The common case -- an idle detector and contiguous chunks at one rate with no sample
    below the free-fall threshold -- is one gravity filter over the joined samples
    instead of one per chunk (the low-pass recursion is the same whether it runs over
    the chunks one by one or joined, bit for bit). Anything else (a free-fall sample, a
    pending fall, a gap, an overlap, a rate change, input that needs checking) folds
    the chunks one by one with :func:`fall_step`, so errors and actions are the same.

    Parameters
    ----------
    state : FallState
    chunks : sequence of AccelChunk
        In arrival order.
    config : DetectorConfig

    Returns
    -------
    state : FallState
    actions : list of (int, AlertAction)
        Each action with the index of the chunk whose :func:`fall_step` emitted it.
    """
    if len(chunks) > 1:
        quiet = _quiet_run(state, chunks, config)
        if quiet is not None:
            return quiet, []
    actions: list[tuple[int, AlertAction]] = []
    for i, chunk in enumerate(chunks):
        state, new = fall_step(state, *chunk, config)
        actions.extend((i, action) for action in new)
    return state, actions


def _quiet_run(  # noqa: PLR0912 - the checks that make the joined fold exact
    state: FallState, chunks: Sequence[AccelChunk], cfg: DetectorConfig
) -> FallState | None:
    """:func:`fall_step` folded over ``chunks`` in one piece when no chunk is trimmed or
    follows a gap, no fall is pending and no candidate is in its posture window: one
    gravity filter when every chunk is quiet, else -- when no sample reaches the impact
    threshold, so no posture sums (whose float rounding depends on the chunking) are
    started -- the machine once over the joined samples, with each chunk's own sample
    times; None otherwise (folded chunk by chunk)."""
    if state.phase == "post" or state.pending_onset_ms is not None:
        return None
    fs_hz = chunks[0].fs_hz
    if not cfg.fall_min_fs_hz <= fs_hz <= cfg.fall_max_fs_hz:
        return None
    dt_ms = 1000.0 / fs_hz
    next_ms = state.next_ms
    axes: tuple[list[NDArray[np.float64]], ...] = ([], [], [])
    firsts: list[float] = []
    for i, chunk in enumerate(chunks):
        x, y, z = chunk.x_g, chunk.y_g, chunk.z_g
        if not (
            chunk.fs_hz == fs_hz
            and type(x) is np.ndarray
            and type(y) is np.ndarray
            and type(z) is np.ndarray
            and x.dtype == y.dtype == z.dtype == np.float64
            and x.ndim == 1
            and 0 < x.shape[0] == y.shape[0] == z.shape[0]
        ):
            return None
        first_ms = float(chunk.start_ms)
        if next_ms is not None:
            if first_ms < next_ms - dt_ms / 2.0:
                return None  # overlapping samples would be trimmed
            if first_ms - next_ms > cfg.fall_max_gap_s * 1000.0:
                if i > 0:
                    return None  # a gap inside the run resets the detector
                state = _after_gap(state)
        t_last = first_ms + (x.shape[0] - 1) * dt_ms  # as fall_step's t_ms[-1]
        next_ms = float(t_last + dt_ms)
        firsts.append(first_ms)
        for axis, values in zip(axes, (x, y, z), strict=True):
            axis.append(values)
    xyz = np.column_stack([np.concatenate(axis) for axis in axes])
    if not np.isfinite(xyz).all():
        return None
    if state.phase == "idle" and state.low_start_ms is None:
        quiet = _quiet_chunk(state, np.array([t_last]), dt_ms, xyz, cfg)
        if quiet is not None:
            return quiet
    if np.sqrt(np.einsum("ij,ij->i", xyz, xyz)).max() > _gates(state, cfg)[1]:
        return None
    t_ms = np.concatenate(
        [
            first + np.arange(len(part), dtype=np.float64) * dt_ms
            for first, part in zip(firsts, axes[0], strict=True)
        ]
    )
    return _process(state, t_ms, dt_ms, xyz, cfg)


def fall_cancel(state: FallState, at_ms: int, config: DetectorConfig = DEFAULT) -> FallState:
    """Apply an "I'm OK" ``cancel`` event at reading time ``at_ms``.

    A pending fall whose grace period has not ended (``at_ms <= pending_due_ms``) is
    dropped; a cancel after the grace period changes nothing (the alert opens). The
    time is also remembered, so a cancel that arrives while the fall's detection is
    still in progress (or before the chunk holding it) suppresses that fall as well.

    Parameters
    ----------
    state : FallState
    at_ms : int
        Reading time of the cancel event (its ``ts``).
    config : DetectorConfig
        Unused today; accepted so every entry point takes the same settings.

    Returns
    -------
    FallState
    """
    del config
    at_ms = int(at_ms)
    remembered = at_ms if state.cancel_ms is None else max(state.cancel_ms, at_ms)
    state = _replace(state, cancel_ms=remembered)
    if _cancels_pending(state, at_ms):
        state = _replace(
            state,
            pending_onset_ms=None,
            pending_due_ms=None,
            pending_peak_g=0.0,
            blocked_until_ms=float(at_ms),
        )
    return state


def fall_tick(
    state: FallState, now_ms: int, config: DetectorConfig = DEFAULT
) -> tuple[FallState, list[AlertAction]]:
    """Advance reading time without samples: open a pending fall once its grace ended.

    Parameters
    ----------
    state : FallState
    now_ms : int
        Current reading time (e.g. the latest ``ts`` seen from this user on any stream).
    config : DetectorConfig

    Returns
    -------
    state : FallState
    actions : list of AlertAction
        One ``open`` of ``fall_detected`` (critical) if ``now_ms`` is past the end of the
        pending fall's grace period, else empty. ``at_ms`` is the end of the grace period.
    """
    onset, due = state.pending_onset_ms, state.pending_due_ms
    if onset is None or due is None or now_ms <= due:
        return state, []
    peak = state.pending_peak_g
    action = AlertAction(
        action="open",
        alert_type=AlertKind.FALL_DETECTED,
        severity=Severity.CRITICAL,
        onset_ms=onset,
        at_ms=due,
        heart_rate_bpm=None,
        stress_level=None,
        message=(
            f"Fall detected (impact {peak:.1f} g), not cancelled within {config.fall_grace_s:.0f} s"
        ),
    )
    state = _replace(
        state,
        pending_onset_ms=None,
        pending_due_ms=None,
        pending_peak_g=0.0,
        blocked_until_ms=due + config.fall_cooldown_s * 1000.0,
    )
    return state, [action]


# --- internals -----------------------------------------------------------------------------


def _checked_chunk(
    fs_hz: float,
    x_g: ArrayLike,
    y_g: ArrayLike,
    z_g: ArrayLike,
    *,
    start_ms: int,
    cfg: DetectorConfig,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    where = f"accel chunk at start_ms={start_ms}"
    if not cfg.fall_min_fs_hz <= fs_hz <= cfg.fall_max_fs_hz:
        raise InvalidAccelChunk(
            f"{where}: fs_hz={fs_hz!r} outside {cfg.fall_min_fs_hz:g}-{cfg.fall_max_fs_hz:g} Hz"
        )
    axes = [np.asarray(a, dtype=np.float64) for a in (x_g, y_g, z_g)]
    if any(a.ndim != 1 for a in axes) or len({a.size for a in axes}) != 1:
        shapes = ", ".join(str(a.shape) for a in axes)
        raise InvalidAccelChunk(f"{where}: x/y/z must be 1-D of equal length, got {shapes}")
    for name, a in zip("xyz", axes, strict=True):
        if not np.isfinite(a).all():
            bad = float(a[~np.isfinite(a)][0])
            raise InvalidAccelChunk(f"{where}: {name}_g holds a non-finite value {bad!r}")
    return axes[0], axes[1], axes[2]


def _valid_float_chunk(
    fs_hz: float, x_g: ArrayLike, y_g: ArrayLike, z_g: ArrayLike, cfg: DetectorConfig
) -> NDArray[np.float64] | None:
    """The (n, 3) stack of a valid chunk of 1-D float64 arrays (what the ingest decoder
    hands over) with one finiteness check; None for anything else (the full check runs)."""
    if not (
        type(x_g) is np.ndarray
        and type(y_g) is np.ndarray
        and type(z_g) is np.ndarray
        and x_g.dtype == y_g.dtype == z_g.dtype == np.float64
        and x_g.ndim == 1
        and x_g.shape == y_g.shape == z_g.shape
        and cfg.fall_min_fs_hz <= fs_hz <= cfg.fall_max_fs_hz
    ):
        return None
    xyz = np.column_stack((x_g, y_g, z_g))
    return xyz if np.isfinite(xyz).all() else None


def _after_gap(state: FallState) -> FallState:
    """Forget everything built from contiguous samples; keep pending/cancel/cooldown."""
    state = _replace(
        state, next_ms=None, gravity_g=_ZERO, low_start_ms=None, low_ref_g=_ZERO, low_min_g=0.0
    )
    return _to_idle(state)


def _to_idle(state: FallState) -> FallState:
    """Drop the candidate in progress (free fall / impact / posture window)."""
    return _replace(
        state,
        phase="idle",
        ref_g=_ZERO,
        ref_ms=None,
        freefall_ms=None,
        deadline_ms=None,
        impact_ms=None,
        peak_g=0.0,
        post_n=0,
        post_sum_g=0.0,
        post_sumsq_g2=0.0,
        post_xyz_g=_ZERO,
        dip_g=0.0,
        next_start_ms=None,
        next_end_ms=None,
        next_ref_g=_ZERO,
        next_dip_g=0.0,
    )


def _cancels_pending(state: FallState, at_ms: int) -> bool:
    onset, due = state.pending_onset_ms, state.pending_due_ms
    return onset is not None and due is not None and onset <= at_ms <= due


@dataclass
class _Chunk:
    """Vectorised views of one chunk (after overlap removal)."""

    t_ms: NDArray[np.float64]
    xyz: NDArray[np.float64]  # (n, 3)
    mag: NDArray[np.float64]
    gravity: NDArray[np.float64]  # (n, 3) EWMA gravity after each sample
    prior_gravity: Vec3  # before the first sample
    ff_end: NDArray[np.int64]  # index of the first sample after each completed low run
    ff_start_ms: NDArray[np.float64]  # start time of each completed low run
    ff_ref: NDArray[np.float64]  # (k, 3) gravity just before each completed low run
    ff_min: NDArray[np.float64]  # smallest |a| of each completed low run
    impacts: NDArray[np.int64]  # indices with |a| > impact threshold

    def gravity_before(self, i: int) -> Vec3:
        if i <= 0:
            return self.prior_gravity
        g = self.gravity[i - 1]
        return (float(g[0]), float(g[1]), float(g[2]))

    def index_at(self, when_ms: float) -> int:
        """Index of the first sample at or after ``when_ms`` (``n`` if none)."""
        return int(np.searchsorted(self.t_ms, when_ms, side="left"))


def _prepare(
    state: FallState,
    t_ms: NDArray[np.float64],
    dt_ms: float,
    xyz: NDArray[np.float64],
    cfg: DetectorConfig,
) -> tuple[_Chunk, FallState]:
    mag = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
    alpha = 1.0 - math.exp(-dt_ms / (cfg.fall_gravity_tau_s * 1000.0))
    prior = state.gravity_g if state.next_ms is not None else tuple(float(v) for v in xyz[0])
    zi = (1.0 - alpha) * np.asarray(prior, dtype=np.float64)[None, :]
    gravity, _ = lfilter([alpha], [1.0, alpha - 1.0], xyz, axis=0, zi=zi)
    prior3: Vec3 = (float(prior[0]), float(prior[1]), float(prior[2]))

    low_g, impact_g = _gates(state, cfg)
    low = (mag < low_g).astype(np.int8)
    edges = np.diff(np.concatenate(([0], low, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    start_ms = t_ms[starts]
    before = np.vstack([np.asarray(prior3)[None, :], gravity[:-1]])  # gravity before sample i
    refs = before[starts]
    # samples between runs are >= the threshold, so the minimum from one run's start to
    # the next one's is the run's own minimum
    mins = np.minimum.reduceat(mag, starts) if starts.size else np.empty(0)
    carried = state.low_start_ms is not None
    if carried and low[0] == 1:  # the run open at the end of the last chunk continues
        start_ms[0] = state.low_start_ms
        refs[0] = state.low_ref_g
        mins[0] = min(float(mins[0]), state.low_min_g)
    elif carried:  # that run ended exactly at this chunk's first sample
        starts = np.concatenate(([0], starts))
        ends = np.concatenate(([0], ends))
        start_ms = np.concatenate((np.array([state.low_start_ms], dtype=np.float64), start_ms))
        refs = np.vstack([np.asarray(state.low_ref_g), refs])
        mins = np.concatenate(([state.low_min_g], mins))
    open_run = ends.size > 0 and ends[-1] == low.size  # still below threshold at the end
    if open_run:
        g = refs[-1]
        state = _replace(
            state,
            low_start_ms=float(start_ms[-1]),
            low_ref_g=_vec(g),
            low_min_g=float(mins[-1]),
        )
        starts, ends, start_ms, refs = starts[:-1], ends[:-1], start_ms[:-1], refs[:-1]
        mins = mins[:-1]
    else:
        state = _replace(state, low_start_ms=None, low_ref_g=_ZERO, low_min_g=0.0)
    end_ms = t_ms[ends]  # every remaining run ended inside this chunk
    long_enough = end_ms - start_ms >= cfg.fall_freefall_min_s * 1000.0 - 1e-6
    chunk = _Chunk(
        t_ms=t_ms,
        xyz=xyz,
        mag=mag,
        gravity=gravity,
        prior_gravity=prior3,
        ff_end=ends[long_enough].astype(np.int64),
        ff_start_ms=start_ms[long_enough],
        ff_ref=refs[long_enough],
        ff_min=mins[long_enough],
        impacts=np.flatnonzero(mag > impact_g).astype(np.int64),
    )
    last = gravity[-1]
    state = _replace(state, gravity_g=_vec(last), next_ms=float(t_ms[-1] + dt_ms))
    return chunk, state


def _quiet_chunk(
    state: FallState,
    t_ms: NDArray[np.float64],
    dt_ms: float,
    xyz: NDArray[np.float64],
    cfg: DetectorConfig,
) -> FallState | None:
    """Fast path of an idle state for a chunk with no sample below the free-fall threshold
    (nearly every chunk): only the gravity estimate and the expected time move on, exactly
    as :func:`_prepare` would compute them. None when the chunk needs the full machine."""
    mag = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
    low_g, impact_g = _gates(state, cfg)
    if mag.min() < low_g and not _dips_expire(mag, dt_ms, low_g, impact_g, cfg):
        return None
    alpha = 1.0 - math.exp(-dt_ms / (cfg.fall_gravity_tau_s * 1000.0))
    prior = state.gravity_g if state.next_ms is not None else tuple(float(v) for v in xyz[0])
    zi = (1.0 - alpha) * np.asarray(prior, dtype=np.float64)[None, :]
    if _LINEAR_FILTER is not None:  # what lfilter calls, without its ~4 us of argument checks
        gravity = _LINEAR_FILTER(np.array([alpha]), np.array([1.0, alpha - 1.0]), xyz, 0, zi)[0]
    else:
        gravity, _ = lfilter([alpha], [1.0, alpha - 1.0], xyz, axis=0, zi=zi)
    return _replace(state, gravity_g=_vec(gravity[-1]), next_ms=float(t_ms[-1] + dt_ms))


def _gates(state: FallState, cfg: DetectorConfig) -> tuple[float, float]:
    """(dip, impact) thresholds of a candidate for the state's placement: the fitted
    model scores every dip below ``fall_freefall_g`` followed by an impact above
    ``fall_impact_g``; the classic rule can only accept a dip below ``fall_rule_dip_g``
    and an impact above ``fall_rule_impact_g``, so only those become its candidates."""
    if state.placement in cfg.fall_model_placements:
        return cfg.fall_freefall_g, cfg.fall_impact_g
    return cfg.fall_rule_dip_g, cfg.fall_rule_impact_g


def _dips_expire(
    mag: NDArray[np.float64], dt_ms: float, low_g: float, impact_g: float, cfg: DetectorConfig
) -> bool:
    """True when an idle machine ends this chunk idle again although it dips below the
    low-g threshold: no impact at all, and the last dip ended more than the impact window
    before the last sample (counted in samples: a small gap only adds time), so every
    candidate it arms expires inside the chunk (walking at the waist: most chunks)."""
    if mag.max() > impact_g:
        return False
    last_low = int(np.flatnonzero(mag < low_g)[-1])
    after_ms = (mag.size - 1 - (last_low + 1)) * dt_ms
    return after_ms >= cfg.fall_impact_window_s * 1000.0 + 1e-6


def _vec(a: NDArray[np.float64] | Vec3) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


def _process(  # noqa: PLR0917 - internal, mirrors fall_step
    state: FallState,
    t_ms: NDArray[np.float64],
    dt_ms: float,
    xyz: NDArray[np.float64],
    cfg: DetectorConfig,
    record: list[NDArray[np.float64]] | None = None,
) -> FallState:
    c, state = _prepare(state, t_ms, dt_ms, xyz, cfg)
    n = t_ms.size
    pos = 0
    while pos < n:
        if state.phase == "idle":
            k = _next_freefall(c, pos, state.blocked_until_ms)
            if k is None:
                break
            state = _arm(state, c, k, cfg)
            pos = int(c.ff_end[k])
        elif state.phase == "impact":
            state, pos = _impact_phase(state, c, pos, cfg)
        else:
            state, pos = _post_phase(state, c, pos, cfg, record)
    return state


def _next_freefall(c: _Chunk, pos: int, blocked_until_ms: float | None) -> int | None:
    floor_ms = -math.inf if blocked_until_ms is None else blocked_until_ms
    ok = np.flatnonzero((c.ff_end >= pos) & (c.ff_start_ms >= floor_ms))
    return int(ok[0]) if ok.size else None


def _arm(state: FallState, c: _Chunk, k: int, cfg: DetectorConfig) -> FallState:
    """Start (or re-arm) the impact search after completed free fall ``k``."""
    end = int(c.ff_end[k])
    # re-armed within the impact window of the first dip (a stumble, then the fall):
    # keep the posture from before that first dip; a later dip (a chain of steps) starts
    # afresh. The onset is the start of the dip the impact follows.
    keep_ref = (
        state.phase == "impact"
        and state.ref_ms is not None
        and c.ff_start_ms[k] - state.ref_ms <= cfg.fall_impact_window_s * 1000.0
    )
    return _replace(
        state,
        phase="impact",
        ref_g=state.ref_g if keep_ref else _vec(c.ff_ref[k]),
        ref_ms=state.ref_ms if keep_ref else float(c.ff_start_ms[k]),
        dip_g=min(state.dip_g, float(c.ff_min[k])) if keep_ref else float(c.ff_min[k]),
        freefall_ms=float(c.ff_start_ms[k]),
        deadline_ms=float(c.t_ms[end]) + cfg.fall_impact_window_s * 1000.0,
    )


def _impact_phase(
    state: FallState, c: _Chunk, pos: int, cfg: DetectorConfig
) -> tuple[FallState, int]:
    assert state.deadline_ms is not None
    limit = c.index_at(state.deadline_ms + 1e-6)  # samples up to the deadline inclusive
    hits = c.impacts[(c.impacts >= pos) & (c.impacts < limit)]
    first_hit = int(hits[0]) if hits.size else limit
    # free falls that ended after the one that set the deadline (possibly exactly at this
    # chunk's first sample) and before any impact
    later = c.t_ms[c.ff_end] + cfg.fall_impact_window_s * 1000.0 > state.deadline_ms + 1e-6
    rearm = np.flatnonzero(later & (c.ff_end >= pos) & (c.ff_end <= first_hit))
    if rearm.size:  # another free fall completed before any impact: wait from its end
        k = int(rearm[0])  # one at a time: each re-arm moves the deadline
        state = _arm(state, c, k, cfg)
        # the following dips, while each ends before the new deadline with no impact
        # before it, re-arm in turn (the same steps as calling this again, cheaper)
        while k + 1 < c.ff_end.size:
            assert state.deadline_ms is not None
            end, next_end = int(c.ff_end[k]), int(c.ff_end[k + 1])
            if next_end > c.index_at(state.deadline_ms + 1e-6):
                break
            if np.any((c.impacts >= end) & (c.impacts < next_end)):
                break
            k += 1
            state = _arm(state, c, k, cfg)
        return state, int(c.ff_end[k])
    if hits.size:
        state = _replace(state, phase="post", impact_ms=float(c.t_ms[first_hit]), peak_g=0.0)
        return state, first_hit
    if limit < c.t_ms.size:  # deadline passed without impact
        return _to_idle(state), limit
    return state, c.t_ms.size


def _post_phase(
    state: FallState,
    c: _Chunk,
    pos: int,
    cfg: DetectorConfig,
    record: list[NDArray[np.float64]] | None = None,
) -> tuple[FallState, int]:
    impact_ms, freefall_ms = state.impact_ms, state.freefall_ms
    assert impact_ms is not None
    assert freefall_ms is not None
    w0 = impact_ms + cfg.fall_settle_s * 1000.0
    w1 = w0 + cfg.fall_still_window_s * 1000.0
    i0, i1 = max(pos, c.index_at(w0)), c.index_at(w1)
    hits = c.impacts[(c.impacts >= i0) & (c.impacts < i1)]
    disturbed = int(hits[0]) if hits.size else None
    state = _remember_next_run(state, c, pos, i1 if disturbed is None else disturbed)
    peak = state.peak_g
    if pos < i0:
        peak = max(peak, float(c.mag[pos:i0].max()))
    if disturbed is not None:  # a new impact in the posture window: not still, not this
        return _next_candidate(state, c, disturbed, cfg)
    seg_mag, seg_xyz = c.mag[i0:i1], c.xyz[i0:i1]
    sums = seg_xyz.sum(axis=0) if i1 > i0 else np.zeros(3)
    state = _replace(
        state,
        peak_g=peak,
        post_n=state.post_n + int(seg_mag.size),
        post_sum_g=state.post_sum_g + float(seg_mag.sum()),
        post_sumsq_g2=state.post_sumsq_g2 + float(np.dot(seg_mag, seg_mag)),
        post_xyz_g=_vec(np.add(state.post_xyz_g, sums)),
    )
    if i1 >= c.t_ms.size:  # posture window not complete yet
        return state, c.t_ms.size
    features = candidate_features(state)
    if record is not None and features is not None:
        record.append(features)
    if features is not None and is_fall(features, state.placement, cfg):
        state = _pending(state, round(freefall_ms), round(w1), cfg)
        return _to_idle(state), i1
    if state.next_end_ms is not None and (
        state.next_end_ms + cfg.fall_impact_window_s * 1000.0 >= c.t_ms[i1]
    ):  # a low run whose impact search is still open: it is the next candidate
        return _arm_next(state, cfg), i1
    return _to_idle(state), i1


def _remember_next_run(state: FallState, c: _Chunk, pos: int, until: int) -> FallState:
    """Keep the latest low run completed after the impact, in ``[pos, until]``."""
    assert state.impact_ms is not None
    ends = c.ff_end
    ok = np.flatnonzero(
        (ends >= pos)
        & (ends <= until)
        & (c.t_ms[np.minimum(ends, c.t_ms.size - 1)] > state.impact_ms)
    )
    if not ok.size:
        return state
    k = int(ok[-1])
    return _replace(
        state,
        next_start_ms=float(c.ff_start_ms[k]),
        next_end_ms=float(c.t_ms[ends[k]]),
        next_ref_g=_vec(c.ff_ref[k]),
        next_dip_g=float(c.ff_min[k]),
    )


def _arm_next(state: FallState, cfg: DetectorConfig) -> FallState:
    """The remembered low run becomes a candidate waiting for its impact."""
    assert state.next_end_ms is not None
    return _replace(
        _to_idle(state),
        phase="impact",
        ref_g=state.next_ref_g,
        ref_ms=state.next_start_ms,
        freefall_ms=state.next_start_ms,
        dip_g=state.next_dip_g,
        deadline_ms=state.next_end_ms + cfg.fall_impact_window_s * 1000.0,
    )


def _next_candidate(
    state: FallState, c: _Chunk, hit: int, cfg: DetectorConfig
) -> tuple[FallState, int]:
    """A new impact at ``hit`` disturbed the posture window: it starts the next candidate
    when a low run ended within the impact window before it, else scanning resumes."""
    at_ms = float(c.t_ms[hit])
    end = state.next_end_ms
    if end is not None and at_ms - end <= cfg.fall_impact_window_s * 1000.0 + 1e-6:
        armed = _arm_next(state, cfg)
        return _replace(armed, phase="post", impact_ms=at_ms, peak_g=0.0), hit
    return _to_idle(state), hit


def candidate_features(state: FallState) -> NDArray[np.float64] | None:
    """The :data:`FALL_FEATURES` of a candidate whose posture window is complete (None
    when the window is empty or no orientation can be computed)."""
    n = state.post_n
    if n < 2:
        return None
    mean = state.post_sum_g / n
    std = math.sqrt(max(state.post_sumsq_g2 / n - mean * mean, 0.0))
    post = np.asarray(state.post_xyz_g) / n
    ref = np.asarray(state.ref_g)
    norms = float(np.linalg.norm(post) * np.linalg.norm(ref))
    if norms < 1e-9:
        return None
    cos = float(np.clip(np.dot(post, ref) / norms, -1.0, 1.0))
    return np.array(
        [math.log(max(state.peak_g, 1e-3)), state.dip_g, math.log(std + STILL_FLOOR_G), cos]
    )


def is_fall(
    features: NDArray[np.float64], placement: str, config: DetectorConfig = DEFAULT
) -> bool:
    """The verdict on one candidate's :data:`FALL_FEATURES` for a device worn at
    ``placement``.

    At the trunk (``config.fall_model_placements``: waist, chest) the fitted logistic
    model decides (:func:`fall_probability` above ``fall_threshold``): it was fitted on
    real waist recordings. Elsewhere (wrist, pocket, unknown) the classic sequence
    decides, each test on its own: a dip below ``fall_rule_dip_g``, an impact above
    ``fall_rule_impact_g``, post-impact std below ``fall_rule_still_std_g`` and a turn
    above ``fall_rule_turn_deg`` -- the model's weight on the turn assumes the sensor
    turns with the trunk, which a wrist does not (an arm laid on the lap after sitting
    down turns ~90°).
    """
    if placement in config.fall_model_placements:
        return bool(fall_probability(features, config) > config.fall_threshold)
    log_peak, dip, log_still, cos_turn = (float(v) for v in features)
    return (
        dip < config.fall_rule_dip_g
        and math.exp(log_peak) > config.fall_rule_impact_g
        and math.exp(log_still) - STILL_FLOOR_G < config.fall_rule_still_std_g
        and math.degrees(math.acos(min(max(cos_turn, -1.0), 1.0))) > config.fall_rule_turn_deg
    )


def fall_probability(features: ArrayLike, config: DetectorConfig = DEFAULT) -> NDArray[np.float64]:
    """Logistic fall probability of candidate features (rows of :data:`FALL_FEATURES`).

    Parameters
    ----------
    features : array_like, shape (4,) or (n, 4)
        ``log peak_g``, ``dip_g``, ``log(still_std_g + 0.01)``, ``cos turn``.
    config : DetectorConfig
        ``fall_weights`` (order of :data:`FALL_FEATURES`) and ``fall_bias``.

    Returns
    -------
    ndarray
        Probability in [0, 1] per candidate (a 0-d array for one candidate).
    """
    f = np.asarray(features, dtype=np.float64)
    w = np.asarray(config.fall_weights, dtype=np.float64)
    if f.shape[-1] != w.shape[0]:
        raise ValueError(
            f"fall_weights has {w.shape[0]} values, expected {f.shape[-1]} ({FALL_FEATURES})"
        )
    z = np.clip(f @ w + config.fall_bias, -50.0, 50.0)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def fall_candidates(  # noqa: PLR0917 - the axes as fall_step takes them
    fs_hz: float,
    x_g: ArrayLike,
    y_g: ArrayLike,
    z_g: ArrayLike,
    config: DetectorConfig = DEFAULT,
    chunk_s: float = 1.0,
    placement: str = "waist",
) -> NDArray[np.float64]:
    """Features of every candidate the state machine scores over one recording.

    The same machine as :func:`fall_step` (fed in ``chunk_s`` chunks), but no candidate
    is turned into a pending fall, so every later candidate is scored too: the rows a
    model for :func:`fall_probability` is fitted on (``python -m detectors.fit.fit_falls``).
    ``placement`` sets the candidate gates (see :func:`is_fall`): the model's by default.

    Returns
    -------
    ndarray, shape (k, 4)
        One row of :data:`FALL_FEATURES` per candidate, in time order.
    """
    x, y, z = _checked_chunk(fs_hz, x_g, y_g, z_g, start_ms=0, cfg=config)
    xyz = np.column_stack((x, y, z))
    dt_ms = 1000.0 / fs_hz
    per = max(1, round(chunk_s * fs_hz))
    # never pending: a candidate that would be a fall must not block the later ones, so
    # the rows do not depend on the weights being fitted
    config = replace(config, fall_threshold=math.inf)
    state = FallState(placement=placement)
    record: list[NDArray[np.float64]] = []
    for lo in range(0, len(xyz), per):
        part = xyz[lo : lo + per]
        t_ms = lo * dt_ms + np.arange(len(part), dtype=np.float64) * dt_ms
        state = _process(state, t_ms, dt_ms, part, config, record)
    return np.array(record, dtype=np.float64).reshape(-1, len(FALL_FEATURES))


def _pending(state: FallState, onset_ms: int, detected_ms: int, cfg: DetectorConfig) -> FallState:
    due = detected_ms + round(cfg.fall_grace_s * 1000.0)
    state = _replace(
        state,
        pending_onset_ms=onset_ms,
        pending_due_ms=due,
        pending_peak_g=state.peak_g,
        blocked_until_ms=float(due),
    )
    if state.cancel_ms is not None and _cancels_pending(state, state.cancel_ms):
        state = _replace(
            state,
            pending_onset_ms=None,
            pending_due_ms=None,
            pending_peak_g=0.0,
            blocked_until_ms=float(state.cancel_ms),
        )
    return state
