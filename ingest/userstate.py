"""Per-user streaming state: the beats, HR samples and activity of windows not yet closed,
plus the detectors' own state (rules, stress baseline, fall machine).

Plain data; the engine mutates it and checkpoints it as JSON with every committed batch.
Checkpoints carry :data:`CHECKPOINT_VERSION`; :meth:`UserState.from_json` upgrades an older
one through :data:`CHECKPOINT_UPGRADES` and raises :class:`~detectors.serialize.StateMismatch`
for one it cannot read (:mod:`ingest.checkpoint` then starts the user afresh).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors import (
    FallState,
    RuleState,
    StressBaseline,
    state_from_json,
    state_to_json,
)
from detectors.serialize import StateMismatch, Upgrade, upgrade_state
from vocabulary import ReadingType

_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset({type(None), bool, int, str, float})
isfinite = math.isfinite


def _flat_state_json(state: Any) -> dict[str, Any]:
    """``state_to_json(state)`` (the same dict) without its generic walk when every field
    is None, a bool, an int, a str, a finite float, a tuple of those or a dataclass of
    those (fall, rule and stress states); anything else is left to ``state_to_json``."""
    out = _flat(state)
    return state_to_json(state) if out is None else out


def _flat(state: Any) -> dict[str, Any] | None:
    names = _FIELDS.get(type(state))
    if names is None:
        names = _FIELDS[type(state)] = tuple(f.name for f in dataclasses.fields(state))
    values = state.__dict__
    if tuple(values) != names:
        return None
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = type(value)
        if kind is tuple:
            if not all(type(v) in _PLAIN and (type(v) is not float or isfinite(v)) for v in value):
                return None
            out[name] = list(value)
            continue
        if kind not in _PLAIN:
            if not hasattr(kind, "__dataclass_fields__"):
                return None
            nested = _flat(value)
            if nested is None:
                return None
            out[name] = nested
            continue
        if kind is float and not isfinite(value):
            return None
        out[name] = value
    return out


_I64 = np.int64
_F64 = np.float64

#: Version of the checkpoint format written by :meth:`UserState.to_json`. Version 1 is the
#: format of release 0.1.0, which wrote no version field. Renaming, removing or retyping a
#: field of the checkpoint (of ``UserState``, ``WindowExtras``, ``RuleState``, ``FallState``,
#: ``StressBaseline``, ...) bumps it and adds the step from the previous version below.
CHECKPOINT_VERSION = 1

#: ``CHECKPOINT_UPGRADES[v]`` turns the fields of a version-``v`` checkpoint into those of
#: version ``v + 1`` (none yet); a checkpoint with no chain of steps up to the current
#: version cannot be read and its user starts afresh.
CHECKPOINT_UPGRADES: dict[int, Upgrade] = {}


@dataclass
class WindowExtras:
    """What a window knows besides beats and HR samples."""

    accel_n: int = 0
    accel_sum_g: float = 0.0
    accel_sumsq_g2: float = 0.0
    untrusted: bool = False  # some beats came from a waveform too noisy to trust
    #: manual / emergency when the user asked for a reading or pressed SOS
    reading_type: str = ReadingType.AUTOMATIC
    ecg_segments: int = 0  # trusted raw ECG segments whose beats are filed in the window
    atrial: tuple[float, ...] = ()  # their atrial-activity features, kept for one segment only

    def add_accel(self, magnitude_g: np.ndarray) -> None:
        self.accel_n += int(magnitude_g.size)
        self.accel_sum_g += float(magnitude_g.sum())
        self.accel_sumsq_g2 += float(np.dot(magnitude_g, magnitude_g))

    @property
    def activity_g(self) -> float:
        """Standard deviation of accel magnitude over the window, NaN when none."""
        if self.accel_n < 2:
            return float("nan")
        mean = self.accel_sum_g / self.accel_n
        variance = max(self.accel_sumsq_g2 / self.accel_n - mean * mean, 0.0)
        return float(np.sqrt(variance))


@dataclass
class WaveBuffer:
    """Raw PPG/ECG samples of one kind waiting to be long enough for beat detection."""

    start_ms: int
    fs_hz: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.fs_hz

    @property
    def end_ms(self) -> float:
        """Reading time just after the last buffered sample."""
        return self.start_ms + self.samples.size * 1000.0 / self.fs_hz

    @property
    def last_ms(self) -> float:
        """Reading time of the last buffered sample."""
        return self.start_ms + (self.samples.size - 1) * 1000.0 / self.fs_hz


@dataclass
class UserState:
    user_id: int
    watermark_ms: int = 0  # latest reading time seen from any of the user's devices
    closed_until_ms: int = 0  # windows ending at or before this are closed
    beat_ms: np.ndarray = field(default_factory=lambda: np.empty(0, _I64))
    rr_ms: np.ndarray = field(default_factory=lambda: np.empty(0, _F64))
    hr_at_ms: np.ndarray = field(default_factory=lambda: np.empty(0, _I64))
    hr_bpm: np.ndarray = field(default_factory=lambda: np.empty(0, _F64))
    extras: dict[int, WindowExtras] = field(default_factory=dict)  # by window end
    waves: dict[str, WaveBuffer] = field(default_factory=dict)  # by kind: ppg, ecg
    beat_source_ms: dict[str, int] = field(default_factory=dict)  # kind -> last seen
    last_hr_bpm: float | None = None
    rules: RuleState = field(default_factory=RuleState)
    stress: StressBaseline = field(default_factory=StressBaseline)
    fall: FallState = field(default_factory=FallState)

    def extras_for(self, window_end_ms: int) -> WindowExtras:
        found = self.extras.get(window_end_ms)
        if found is None:
            found = self.extras[window_end_ms] = WindowExtras()
        return found

    def add_beats(self, beat_ms: np.ndarray, rr_ms: np.ndarray) -> None:
        """Append beats, kept in time order: a batch that arrives before an earlier one
        (redelivery after a broker restart) must not reorder the RR series (RMSSD)."""
        before = self.beat_ms
        self.beat_ms = np.concatenate((before, beat_ms.astype(_I64)))
        self.rr_ms = np.concatenate((self.rr_ms, rr_ms.astype(_F64)))
        if before.size and beat_ms.size and beat_ms.min() < before[-1]:
            order = np.argsort(self.beat_ms, kind="stable")
            self.beat_ms, self.rr_ms = self.beat_ms[order], self.rr_ms[order]

    def add_hr(self, at_ms: np.ndarray, bpm: np.ndarray) -> None:
        """Append HR samples, kept in time order (see :meth:`add_beats`)."""
        before = self.hr_at_ms
        self.hr_at_ms = np.concatenate((before, at_ms.astype(_I64)))
        self.hr_bpm = np.concatenate((self.hr_bpm, bpm.astype(_F64)))
        if before.size and at_ms.size and at_ms.min() < before[-1]:
            order = np.argsort(self.hr_at_ms, kind="stable")
            self.hr_at_ms, self.hr_bpm = self.hr_at_ms[order], self.hr_bpm[order]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "user_id": self.user_id,
            "watermark_ms": self.watermark_ms,
            "closed_until_ms": self.closed_until_ms,
            "beat_ms": self.beat_ms.tolist(),
            "rr_ms": self.rr_ms.tolist(),
            "hr_at_ms": self.hr_at_ms.tolist(),
            "hr_bpm": self.hr_bpm.tolist(),
            "extras": {str(end): vars(extra) for end, extra in self.extras.items()},
            "waves": {
                kind: {"start_ms": w.start_ms, "fs_hz": w.fs_hz, "samples": w.samples.tolist()}
                for kind, w in self.waves.items()
            },
            "beat_source_ms": self.beat_source_ms,
            "last_hr_bpm": self.last_hr_bpm,
            "rules": _flat_state_json(self.rules),
            "stress": _flat_state_json(self.stress),
            "fall": _flat_state_json(self.fall),
        }

    @classmethod
    def from_json(cls, data: Any) -> UserState:
        """The state a checkpoint (:meth:`to_json` output, parsed) holds, upgraded to
        :data:`CHECKPOINT_VERSION` first.

        Raises
        ------
        StateMismatch
            If it cannot be read: a version with no upgrade, or fields that do not match
            (missing, unknown or of the wrong type; the message names the field).
        """
        fields = upgrade_state(data, current=CHECKPOINT_VERSION, upgrades=CHECKPOINT_UPGRADES)
        try:
            return cls._from_fields(fields)
        except StateMismatch:
            raise
        except KeyError as error:
            raise StateMismatch(f"missing field {error}") from error
        except (TypeError, ValueError, AttributeError) as error:
            raise StateMismatch(str(error)) from error

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> UserState:
        return cls(
            user_id=int(data["user_id"]),
            watermark_ms=int(data["watermark_ms"]),
            closed_until_ms=int(data["closed_until_ms"]),
            beat_ms=np.asarray(data["beat_ms"], dtype=_I64),
            rr_ms=np.asarray(data["rr_ms"], dtype=_F64),
            hr_at_ms=np.asarray(data["hr_at_ms"], dtype=_I64),
            hr_bpm=np.asarray(data["hr_bpm"], dtype=_F64),
            extras={int(end): WindowExtras(**extra) for end, extra in data["extras"].items()},
            waves={
                kind: WaveBuffer(
                    int(w["start_ms"]), float(w["fs_hz"]), np.asarray(w["samples"], dtype=_F64)
                )
                for kind, w in data.get("waves", {}).items()
            },
            beat_source_ms={k: int(v) for k, v in data.get("beat_source_ms", {}).items()},
            last_hr_bpm=data["last_hr_bpm"],
            rules=state_from_json(RuleState, data["rules"]),
            stress=state_from_json(StressBaseline, data["stress"]),
            fall=state_from_json(FallState, data["fall"]),
        )
