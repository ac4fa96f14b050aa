"""Decoding of one MQTT payload into a typed :class:`Reading` with NumPy arrays.

Every check names what was wrong. Limits are physiological (RR 250–2500 ms, HR 20–250 bpm,
see :data:`LIMITS`) or protective (message size, array length). The same objects, one per
line, are the trace file format, so this decoder also reads traces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from detectors import DEFAULT
from ingest.errors import InvalidPayload
from ingest.topics import DEVICE_ID, KINDS, USER_ID_MAX, Topic, parse_topic
from vocabulary import DeadLetterReason, DeviceEvent, PayloadKind

#: The ``event`` values of an ``event`` payload, as plain strings (sorted in messages).
EVENTS: frozenset[str] = frozenset(event.value for event in DeviceEvent)
#: Epoch ms accepted for ``ts``: 2001-09-09 .. 2286-11-20, i.e. 13 digits.
TS_MIN_MS, TS_MAX_MS = 1_000_000_000_000, 9_999_999_999_999
#: ``devices.lastSeq`` is a signed BIGINT: a larger seq could never be committed.
SEQ_MAX = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Bounds a payload must respect.

    RR 250–2500 ms and HR 20–250 bpm are the physiologically possible range of
    ``docs/architecture.md`` ("Payload contract"), taken from the one source the detectors
    use too (:class:`detectors.DetectorConfig` ``rr_min_ms``/``rr_max_ms`` and
    ``hr_plausible_min_bpm``/``hr_plausible_max_bpm``, where their references are cited).
    Accel is bounded by the ±16 g full scale of common wearable IMUs (e.g. Bosch BMI270,
    ST LSM6DSO). Sampling rates: accel 25–200 Hz (the fall detector's range); PPG/ECG
    25–1000 Hz.
    """

    max_bytes: int = 256 * 1024
    max_samples: int = 60_000
    rr_min_ms: float = DEFAULT.rr_min_ms
    rr_max_ms: float = DEFAULT.rr_max_ms
    hr_min_bpm: float = DEFAULT.hr_plausible_min_bpm
    hr_max_bpm: float = DEFAULT.hr_plausible_max_bpm
    accel_max_g: float = 16.0
    accel_fs_hz: tuple[float, float] = (25.0, 200.0)
    wave_fs_hz: tuple[float, float] = (25.0, 1000.0)
    hr_fs_hz: tuple[float, float] = (0.01, 10.0)


DEFAULT_LIMITS = Limits()
_EMPTY = np.empty(0, dtype=np.float64)
_FLOAT_ONLY = {float}
_INT_ONLY = {int}


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded payload. Arrays are float64; unused ones are empty."""

    user_id: int
    device_id: str
    seq: int
    ts_ms: int
    kind: str
    fs_hz: float = 0.0
    values: np.ndarray = field(default_factory=lambda: _EMPTY)  # rr_ms, bpm, ppg/ecg samples
    x: np.ndarray = field(default_factory=lambda: _EMPTY)  # accel, g
    y: np.ndarray = field(default_factory=lambda: _EMPTY)
    z: np.ndarray = field(default_factory=lambda: _EMPTY)
    event: str = ""

    @property
    def end_ms(self) -> int:
        """Reading time of the last sample (for rr: the last beat)."""
        if self.kind == PayloadKind.RR:
            return self.ts_ms + round(float(self.values[1:].sum()))
        n = max(len(self.values), len(self.x))
        if self.fs_hz > 0 and n > 1:
            return self.ts_ms + round((n - 1) * 1000.0 / self.fs_hz)
        return self.ts_ms


def decode(topic: str | None, raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Reading:
    """Decode and validate one message; raise :class:`InvalidPayload` on anything wrong.

    ``topic`` is None for a line of a trace file, which carries no topic.
    """
    parsed_topic = parse_topic(topic) if topic is not None else None
    device = parsed_topic.device_id if parsed_topic else None
    user = parsed_topic.user_id if parsed_topic else None
    if len(raw) > limits.max_bytes:
        raise InvalidPayload(
            DeadLetterReason.TOO_LARGE,
            f"{len(raw)} bytes, limit {limits.max_bytes}",
            device_id=device,
            user_id=user,
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidPayload(
            DeadLetterReason.NOT_JSON, str(error), device_id=device, user_id=user
        ) from None
    return decode_object(obj, parsed_topic, limits)


def decode_object(obj: Any, topic: Topic | None, limits: Limits = DEFAULT_LIMITS) -> Reading:
    """Validate an already-parsed JSON object (a trace line has no topic: pass None)."""
    device_hint = topic.device_id if topic else None
    user_hint = topic.user_id if topic else None

    def fail(reason: DeadLetterReason, detail: str) -> InvalidPayload:
        return InvalidPayload(reason, detail, device_id=device_hint, user_id=user_hint)

    if not isinstance(obj, dict):
        raise fail(
            DeadLetterReason.WRONG_TYPE,
            f"payload is a JSON {type(obj).__name__}, expected an object",
        )
    version = obj.get("v")
    if version != 1 or isinstance(version, bool):
        raise fail(DeadLetterReason.WRONG_VERSION, f"v is {version!r}, this pipeline reads v=1")
    user = _integer(obj, "user", fail)
    device = obj.get("device")
    if not isinstance(device, str) or not DEVICE_ID.fullmatch(device):
        raise fail(DeadLetterReason.WRONG_TYPE, f"device {device!r} is not a device id string")
    seq = _integer(obj, "seq", fail)
    ts_ms = _integer(obj, "ts", fail)
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # a list or dict is unhashable
        raise fail(DeadLetterReason.WRONG_TYPE, f"kind {kind!r} is not one of {sorted(KINDS)}")
    if not (0 < user <= USER_ID_MAX and 0 <= seq <= SEQ_MAX):
        raise fail(
            DeadLetterReason.IMPOSSIBLE_VALUE,
            f"user {user} / seq {seq} outside 1..{USER_ID_MAX} / 0..{SEQ_MAX}",
        )
    if not TS_MIN_MS <= ts_ms <= TS_MAX_MS:
        raise fail(DeadLetterReason.IMPOSSIBLE_VALUE, f"ts {ts_ms} is not epoch milliseconds")
    if topic is not None and (topic.user_id, topic.device_id, topic.kind) != (user, device, kind):
        raise fail(
            DeadLetterReason.TOPIC_MISMATCH,
            f"topic says user {topic.user_id} device {topic.device_id!r} kind {topic.kind!r}, "
            f"payload says user {user} device {device!r} kind {kind!r}",
        )
    header = (user, device, seq, ts_ms, kind)
    return _BODY_DECODERS[kind](obj, header, fail, limits)


# Body decoders build the Reading in one call from the header fields (user, device, seq,
# ts_ms, kind): no intermediate objects on the hot path.
_Header = tuple[int, str, int, int, str]


def _event(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    event = obj.get("event")
    if not isinstance(event, str) or event not in EVENTS:
        raise fail(DeadLetterReason.WRONG_TYPE, f"event {event!r} is not one of {sorted(EVENTS)}")
    return Reading(*header, event=str(event))


def _rr(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    rr = _samples(obj, "rr_ms", fail, limits)
    _within(rr, "rr_ms", limits.rr_min_ms, limits.rr_max_ms, fail)
    return Reading(*header, values=rr)


def _hr(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    fs = _rate(obj, limits.hr_fs_hz, fail)
    bpm = _samples(obj, "bpm", fail, limits)
    _within(bpm, "bpm", limits.hr_min_bpm, limits.hr_max_bpm, fail)
    return Reading(*header, fs_hz=fs, values=bpm)


def _wave(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    fs = _rate(obj, limits.wave_fs_hz, fail)
    return Reading(*header, fs_hz=fs, values=_samples(obj, "values", fail, limits))


def _accel(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    fs = _rate(obj, limits.accel_fs_hz, fail)
    xyz = _accel_fast(obj, limits)
    if xyz is not None:
        return Reading(*header, fs_hz=fs, x=xyz[0], y=xyz[1], z=xyz[2])
    x, y, z = (_samples(obj, axis, fail, limits) for axis in ("x", "y", "z"))
    if not len(x) == len(y) == len(z):
        raise fail(
            DeadLetterReason.WRONG_TYPE,
            f"x, y, z have {len(x)}, {len(y)}, {len(z)} samples, not equal",
        )
    for name, axis in (("x", x), ("y", y), ("z", z)):
        _within(axis, name, -limits.accel_max_g, limits.accel_max_g, fail)
    return Reading(*header, fs_hz=fs, x=x, y=y, z=z)


def _accel_fast(obj: dict[str, Any], limits: Limits) -> np.ndarray | None:
    """The three axes as one (3, n) float64 array with one conversion and one range check,
    when they are equally long lists of JSON floats within limits; None otherwise (the
    per-axis path then finds and names the problem)."""
    x, y, z = obj.get("x"), obj.get("y"), obj.get("z")
    if not (isinstance(x, list) and isinstance(y, list) and isinstance(z, list)):
        return None
    n = len(x)
    if not 0 < n <= limits.max_samples or len(y) != n or len(z) != n:
        return None
    if set(map(type, x)) | set(map(type, y)) | set(map(type, z)) != _FLOAT_ONLY:
        return None
    xyz = np.array((x, y, z), dtype=np.float64)
    if not np.isfinite(xyz).all():
        return None
    if xyz.min() < -limits.accel_max_g or xyz.max() > limits.accel_max_g:
        return None
    return xyz


def _loc(obj: dict[str, Any], header: _Header, fail: Any, limits: Limits) -> Reading:
    """A position fix (payload kind ``loc``): WGS84 ``lat`` in [-90, 90], ``lon`` in
    [-180, 180] degrees, optional accuracy ``acc_m`` in [0, 100 km]. ``values`` holds
    [lat, lon, acc_m] (acc_m NaN when absent)."""
    numbers: list[float] = []
    for key, low, high, required in (
        ("lat", -90.0, 90.0, True),
        ("lon", -180.0, 180.0, True),
        ("acc_m", 0.0, 100_000.0, False),
    ):
        value = obj.get(key)
        if value is None and not required:
            numbers.append(float("nan"))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(DeadLetterReason.WRONG_TYPE, f"{key} {value!r} is not a number")
        if not low <= float(value) <= high:  # NaN fails this too
            raise fail(
                DeadLetterReason.IMPOSSIBLE_VALUE, f"{key} {value} outside {low:g}..{high:g}"
            )
        numbers.append(float(value))
    return Reading(*header, values=np.array(numbers, dtype=np.float64))


#: The body decoder of each payload kind (keys compare equal to the decoded ``kind``).
_BODY_DECODERS: dict[str, Callable[[dict[str, Any], _Header, Any, Limits], Reading]] = {
    PayloadKind.LOC: _loc,
    PayloadKind.EVENT: _event,
    PayloadKind.RR: _rr,
    PayloadKind.HR: _hr,
    PayloadKind.PPG: _wave,
    PayloadKind.ECG: _wave,
    PayloadKind.ACCEL: _accel,
}


def _integer(obj: dict[str, Any], key: str, fail: Any) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(DeadLetterReason.WRONG_TYPE, f"{key} is {value!r}, expected an integer")
    return value


def _rate(obj: dict[str, Any], bounds: tuple[float, float], fail: Any) -> float:
    fs = obj.get("fs")
    if not isinstance(fs, int | float) or isinstance(fs, bool):
        raise fail(DeadLetterReason.WRONG_TYPE, f"fs is {fs!r}, expected a sampling rate in Hz")
    if not math.isfinite(fs):
        raise fail(DeadLetterReason.NON_FINITE, f"fs is {fs!r}")
    if not bounds[0] <= fs <= bounds[1]:
        raise fail(
            DeadLetterReason.IMPOSSIBLE_VALUE, f"fs {fs} Hz outside {bounds[0]:g}–{bounds[1]:g} Hz"
        )
    return float(fs)


def _samples(obj: dict[str, Any], key: str, fail: Any, limits: Limits) -> np.ndarray:
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise fail(DeadLetterReason.WRONG_TYPE, f"{key} must be a non-empty array of numbers")
    if len(value) > limits.max_samples:
        raise fail(
            DeadLetterReason.TOO_LARGE,
            f"{key} has {len(value)} samples, limit {limits.max_samples}",
        )
    types = set(map(type, value))
    if types == _FLOAT_ONLY:  # JSON floats: always a flat float64 array
        array = np.array(value, dtype=np.float64)
        if not np.isfinite(array).all():
            raise fail(DeadLetterReason.NON_FINITE, f"{key} holds a non-finite value")
        return array
    if types == _INT_ONLY:  # JSON integers: int64 unless too large (then the slow path)
        ints = np.array(value)
        if ints.dtype == np.int64:
            return ints.astype(np.float64)
    if bool in types:
        raise fail(DeadLetterReason.WRONG_TYPE, f"{key} holds a boolean, expected only numbers")
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        raise fail(DeadLetterReason.WRONG_TYPE, f"{key} is not a flat array of numbers") from None
    if array.ndim != 1:
        raise fail(
            DeadLetterReason.WRONG_TYPE, f"{key} is nested, expected a flat array of numbers"
        )
    if array.dtype.kind not in "iuf":
        raise fail(DeadLetterReason.WRONG_TYPE, f"{key} holds something other than numbers")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise fail(DeadLetterReason.NON_FINITE, f"{key} holds a non-finite value")
    return array


def _within(array: np.ndarray, key: str, low: float, high: float, fail: Any) -> None:
    if array.min() >= low and array.max() <= high:  # finite arrays only reach here
        return
    bad = (array < low) | (array > high)
    if bad.any():
        first = float(array[np.argmax(bad)])
        raise fail(
            DeadLetterReason.IMPOSSIBLE_VALUE,
            f"{key} value {first:g} outside the possible range {low:g}–{high:g}",
        )
