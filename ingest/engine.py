"""The transport-free core of the pipeline: decoded readings in, effects out.

The single-process runner, ``vitals replay`` and the Faust worker all drive this same
engine; none of them holds detection logic. Reading time drives everything: a window
``(end - W, end]`` aligned to whole multiples of W closes once the user's watermark (the
latest reading time seen) has passed ``end + lateness``.

Data older than the user's closed windows is *late*: it is returned in
:attr:`Effects.late` (the runner keeps it as a dead letter with reason ``late``), never
silently dropped and never folded into a window that was already stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from detectors import (
    DEFAULT,
    AccelChunk,
    AlertAction,
    DetectorConfig,
    WindowBatch,
    WindowFeatures,
    WindowVerdict,
    analyze_windows,
    beats_from_ecg,
    beats_from_ppg,
    fall_cancel,
    fall_step_chunks,
    fall_tick,
    rules_step,
    sos_action,
    stress_step,
)
from detectors.beats import MIN_SEGMENT_S
from detectors.rhythm import ATRIAL_FEATURES
from ingest.payload import Reading
from ingest.userstate import UserState, WaveBuffer

#: Beat sources of a user, most direct first: the device's own RR intervals, then beats
#: detected in ECG, then in PPG.
BEAT_SOURCES = ("rr", "ecg", "ppg")


@dataclass(frozen=True)
class EngineConfig:
    #: How long after a window's end its data may still arrive (device batching, clock
    #: skew between a user's devices). RR comes in 5 s batches, so 10 s is two batches.
    lateness_s: int = 10
    #: Raw PPG/ECG is buffered into contiguous segments of at most this length for beat
    #: detection, and a segment's beats are filed under the window in which it ends (the
    #: strip's window): a 30 s spot-check strip is judged whole, not cut at a window
    #: boundary or into 10 s pieces that each lose a beat and fall short of a verdict. A
    #: continuous stream gives one segment per window length.
    wave_segment_s: float = 60.0
    #: A beat source (rr > ecg > ppg) seen within this long keeps lesser ones out.
    beat_source_memory_s: int = 120
    detector: DetectorConfig = DEFAULT

    @property
    def window_s(self) -> int:
        """Window length: the detectors' own (one source, so the alert rules' onsets and
        sustain counts use the same windows as the engine)."""
        return int(self.detector.window_s)

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """One ``healthReadings`` row to be: the window's own values and verdicts."""

    user_id: int
    end_ms: int
    heart_rate_bpm: int | None
    hrv_rmssd_ms: float | None
    stress_level: int | None
    arrhythmia: bool | None
    reading_type: str


@dataclass
class Effects:
    summaries: list[WindowSummary] = field(default_factory=list)
    actions: list[tuple[int, AlertAction]] = field(default_factory=list)  # (user, action)
    late: list[Reading] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)

    def extend(self, other: Effects) -> None:
        self.summaries.extend(other.summaries)
        self.actions.extend(other.actions)
        self.late.extend(other.late)
        self.touched |= other.touched


@dataclass(frozen=True, slots=True)
class _ClosingWindow:
    user: UserState
    end_ms: int
    rr_ms: np.ndarray
    hr_bpm: np.ndarray
    activity_g: float
    trusted: bool
    reading_type: str
    atrial: tuple[float, ...] = ()


class Engine:
    """Per-user windows, detectors and alert rules over a stream of readings."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.users: dict[int, UserState] = {}
        # accelerometer chunks of this batch not yet folded into the fall state, per
        # user, each with where its actions go: (position in effects.actions, arrival)
        self._accel_runs: dict[int, list[tuple[AccelChunk, tuple[int, int]]]] = {}
        self._fall_actions: list[tuple[tuple[int, int], int, tuple[int, AlertAction]]] = []
        self._arrivals = 0
        #: device id -> where it is worn (from its registration; the runner fills it)
        self.placements: dict[str, str] = {}

    # -- state ----------------------------------------------------------------
    def state(self, user_id: int) -> UserState:
        found = self.users.get(user_id)
        if found is None:
            found = self.users[user_id] = UserState(user_id)
        return found

    def restore(self, states: Iterable[UserState]) -> None:
        for state in states:
            self.users[state.user_id] = state

    # -- processing -------------------------------------------------------------
    def process(self, readings: Sequence[Reading], *, close: bool = True) -> Effects:
        """Fold readings (in arrival order) into the users' state; return what to store.

        ``close=False`` holds the windows open whatever the watermark (while a broker's
        backlog may still arrive after newer messages); :meth:`close_due` closes them.
        """
        effects = Effects()
        self._accel_runs, self._fall_actions, self._arrivals = {}, [], 0  # fresh per batch
        for reading in readings:
            user = self.state(reading.user_id)
            if self._ingest(user, reading, effects):
                user.watermark_ms = max(user.watermark_ms, reading.end_ms)
                effects.touched.add(user.user_id)
        for user_id in list(self._accel_runs):
            self._fold_accel_run(self.users[user_id])
        self._place_fall_actions(effects)
        closing: list[_ClosingWindow] = []
        for user_id in sorted(effects.touched):
            user = self.users[user_id]
            user.fall, actions = fall_tick(user.fall, user.watermark_ms, self.config.detector)
            effects.actions.extend((user_id, action) for action in actions)
            if close:
                limit = user.watermark_ms - self.config.lateness_s * 1000
                closing.extend(self._close_until(user, limit))
        self._analyze(closing, effects)
        return effects

    def close_due(self) -> Effects:
        """Close the windows that every user's watermark has passed (after a hold)."""
        effects = Effects()
        closing: list[_ClosingWindow] = []
        for user_id in sorted(self.users):
            user = self.users[user_id]
            before = user.closed_until_ms
            closing.extend(
                self._close_until(user, user.watermark_ms - self.config.lateness_s * 1000)
            )
            if user.closed_until_ms != before:
                effects.touched.add(user_id)
        self._analyze(closing, effects)
        return effects

    def flush(self, user_ids: Iterable[int] | None = None) -> Effects:
        """Close every open window (end of a replay; a user silent for too long live)."""
        effects = Effects()
        closing: list[_ClosingWindow] = []
        for user_id in sorted(self.users if user_ids is None else user_ids):
            user = self.users[user_id]
            closing.extend(self._close_until(user, user.watermark_ms + self.config.window_ms))
            effects.touched.add(user_id)
        self._analyze(closing, effects)
        return effects

    # -- one reading ----------------------------------------------------------------
    def _ingest(self, user: UserState, reading: Reading, effects: Effects) -> bool:
        if reading.kind == "event":
            return self._event(user, reading, effects)
        if reading.end_ms <= user.closed_until_ms:
            effects.late.append(reading)
            return False
        if reading.kind in BEAT_SOURCES:
            user.beat_source_ms[reading.kind] = max(
                user.beat_source_ms.get(reading.kind, 0), reading.end_ms
            )
        if reading.kind == "rr":
            beat_ms = reading.ts_ms + np.concatenate(([0.0], np.cumsum(reading.values[1:])))
            self._add_beats(user, np.round(beat_ms).astype(np.int64), reading.values)
        elif reading.kind == "hr":
            at_ms = reading.ts_ms + np.round(
                np.arange(reading.values.size) * 1000.0 / reading.fs_hz
            )
            keep = at_ms > user.closed_until_ms
            user.add_hr(at_ms[keep].astype(np.int64), reading.values[keep])
            if keep.any():
                user.last_hr_bpm = float(reading.values[keep][-1])
        elif reading.kind in ("ppg", "ecg"):
            self._wave(user, reading)
        else:  # accel
            self._accel(user, reading, effects)
        return True

    def _wave(self, user: UserState, reading: Reading) -> None:
        """Buffer raw PPG/ECG until a segment is long enough for beat detection (devices
        send ~1 s chunks; NeuroKit2's detectors need seconds of signal)."""
        buffer = user.waves.get(reading.kind)
        if buffer is not None and (
            buffer.fs_hz != reading.fs_hz
            or abs(reading.ts_ms - buffer.end_ms) > 1000.0 / reading.fs_hz + 1.0
        ):
            self._extract(user, reading.kind)  # a gap or a new rate: a new segment
            buffer = None
        if buffer is None:
            user.waves[reading.kind] = WaveBuffer(
                reading.ts_ms, reading.fs_hz, reading.values.astype(np.float64)
            )
        else:
            buffer.samples = np.concatenate((buffer.samples, reading.values))
        if user.waves[reading.kind].duration_s >= self.config.wave_segment_s:
            self._extract(user, reading.kind)

    def _extract(self, user: UserState, kind: str) -> None:
        """Beats of the buffered segment; a segment too noisy to trust marks its window so
        that it gives no rhythm verdict (never a false one). A fragment shorter than the
        detectors need (e.g. the last 0.3 s of a 60.3 s strip) adds no beats and leaves the
        window to the segments it holds."""
        buffer = user.waves.pop(kind, None)
        if buffer is None or self._better_source(user, kind, buffer.start_ms):
            return
        if buffer.duration_s < MIN_SEGMENT_S:
            return
        extract = beats_from_ecg if kind == "ecg" else beats_from_ppg
        try:
            beats = extract(buffer.samples, buffer.fs_hz, buffer.start_ms, self.config.detector)
        except ValueError:  # DetectorError: e.g. shorter than the detectors need
            beats = None
        window_ms = self.config.window_ms
        # ceil: a last sample at 60 000.3 ms lies in (60 000, 120 000], as in _close_until
        end = _window_end(math.ceil(buffer.last_ms), window_ms)
        if end <= user.closed_until_ms:
            return  # defensive: _close_until extracts a segment before its window closes
        if beats is not None and beats.quality_ok and beats.beat_ms.size > 1:
            # filed under the window of the segment's end (times kept in order, clamped
            # to that window's start) so one strip feeds one verdict
            filed_ms = np.maximum(beats.beat_ms[1:], end - window_ms + 1)
            self._add_beats(user, filed_ms, beats.rr_ms)
            if kind == "ecg":
                # the atrial-activity model judges a window of one ECG segment; beats of
                # two segments fall back to the RR-only model
                extras = user.extras_for(end)
                extras.ecg_segments += 1
                one = extras.ecg_segments == 1
                extras.atrial = tuple(map(float, beats.atrial)) if one else ()
            return
        user.extras_for(end).untrusted = True

    def _better_source(self, user: UserState, kind: str, at_ms: int) -> bool:
        """True when a more direct beat source of the same user was seen recently: device
        RR intervals beat ECG, which beats PPG. Beats of two sources would interleave in
        a window and corrupt its successive differences (RMSSD, rhythm)."""
        horizon = at_ms - self.config.beat_source_memory_s * 1000
        for better in BEAT_SOURCES[: BEAT_SOURCES.index(kind)]:
            if user.beat_source_ms.get(better, 0) >= horizon:
                return True
        return False

    def _add_beats(self, user: UserState, beat_ms: np.ndarray, rr_ms: np.ndarray) -> None:
        keep = beat_ms > user.closed_until_ms
        user.add_beats(beat_ms[keep], rr_ms[keep])
        if keep.any():
            user.last_hr_bpm = 60_000.0 / float(rr_ms[keep][-1])

    def _accel(self, user: UserState, reading: Reading, effects: Effects) -> None:
        window_ms = self.config.window_ms
        step_ms = 1000.0 / reading.fs_hz
        magnitude = np.sqrt(reading.x**2 + reading.y**2 + reading.z**2)
        first_end = _window_end(reading.ts_ms, window_ms)
        # the last sample's time exactly as the per-sample array would hold it
        last_ms = int(float(reading.ts_ms) + (reading.x.size - 1) * step_ms)
        if _window_end(last_ms, window_ms) == first_end:  # the chunk sits in one window
            if first_end > user.closed_until_ms:
                user.extras_for(first_end).add_accel(magnitude)
        else:
            at_ms = reading.ts_ms + np.arange(reading.x.size) * step_ms
            ends = _window_ends(at_ms, window_ms)
            for end in np.unique(ends):
                if end > user.closed_until_ms:
                    user.extras_for(int(end)).add_accel(magnitude[ends == end])
        placement = self.placements.get(reading.device_id, "")
        if user.fall.placement != placement:  # the fall model depends on where it is worn
            self._fold_accel_run(user)
            user.fall = replace(user.fall, placement=placement)
        chunk = AccelChunk(reading.ts_ms, reading.fs_hz, reading.x, reading.y, reading.z)
        self._arrivals += 1
        where = (len(effects.actions), self._arrivals)
        self._accel_runs.setdefault(user.user_id, []).append((chunk, where))

    def _fold_accel_run(self, user: UserState) -> None:
        """Fold the user's deferred chunks into the fall state in one call (one gravity
        filter for a quiet run), remembering where each action belongs."""
        run = self._accel_runs.pop(user.user_id, [])
        if not run:
            return
        user.fall, actions = fall_step_chunks(
            user.fall, [chunk for chunk, _ in run], self.config.detector
        )
        for index, action in actions:
            where = run[index][1]
            self._fall_actions.append((where, len(self._fall_actions), (user.user_id, action)))

    def _place_fall_actions(self, effects: Effects) -> None:
        """Insert the fall actions where fall_step per chunk would have appended them."""
        placed = sorted(self._fall_actions)
        self._fall_actions = []
        if not placed:
            return
        merged: list[tuple[int, AlertAction]] = []
        j = 0
        for i, item in enumerate(effects.actions):
            while j < len(placed) and placed[j][0][0] <= i:
                merged.append(placed[j][2])
                j += 1
            merged.append(item)
        merged.extend(item for _, _, item in placed[j:])
        effects.actions = merged

    def _event(self, user: UserState, reading: Reading, effects: Effects) -> bool:
        end = _window_end(reading.ts_ms, self.config.window_ms)
        if reading.event == "sos":
            hr = None if user.last_hr_bpm is None else round(user.last_hr_bpm)
            effects.actions.append((user.user_id, sos_action(reading.ts_ms, hr)))
            if end > user.closed_until_ms:
                user.extras_for(end).reading_type = "emergency"
            else:  # the window is stored already: the SOS gets a row of its own
                effects.summaries.append(
                    WindowSummary(user.user_id, end, hr, None, None, None, "emergency")
                )
        elif reading.event == "cancel":
            self._fold_accel_run(user)  # the chunks before the cancel come first
            user.fall = fall_cancel(user.fall, reading.ts_ms, self.config.detector)
        elif end > user.closed_until_ms:  # manual
            extras = user.extras_for(end)
            if extras.reading_type == "automatic":
                extras.reading_type = "manual"
        else:
            effects.late.append(reading)
            return False
        return True

    # -- windows ----------------------------------------------------------------------
    def _close_until(self, user: UserState, limit_ms: int) -> list[_ClosingWindow]:
        """Close the user's windows ending at or before ``limit_ms``."""
        window_ms = self.config.window_ms
        new_closed = (limit_ms // window_ms) * window_ms
        if new_closed <= user.closed_until_ms:
            return []
        for kind in [k for k, w in user.waves.items() if w.last_ms <= new_closed]:
            self._extract(user, kind)  # it ended in a window closing now: its beats are due
        beat_ends = _window_ends(user.beat_ms, window_ms)
        hr_ends = _window_ends(user.hr_at_ms, window_ms)
        ends = set(np.unique(beat_ends[beat_ends <= new_closed]).tolist())
        ends |= set(np.unique(hr_ends[hr_ends <= new_closed]).tolist())
        ends |= {end for end in user.extras if end <= new_closed}
        windows = []
        for end in sorted(ends):
            extras = user.extras.get(end)
            windows.append(
                _ClosingWindow(
                    user=user,
                    end_ms=int(end),
                    rr_ms=user.rr_ms[beat_ends == end],
                    hr_bpm=user.hr_bpm[hr_ends == end],
                    activity_g=extras.activity_g if extras else float("nan"),
                    trusted=not (extras and extras.untrusted),
                    reading_type=extras.reading_type if extras else "automatic",
                    atrial=extras.atrial if extras else (),
                )
            )
        keep_beats = beat_ends > new_closed
        user.beat_ms, user.rr_ms = user.beat_ms[keep_beats], user.rr_ms[keep_beats]
        keep_hr = hr_ends > new_closed
        user.hr_at_ms, user.hr_bpm = user.hr_at_ms[keep_hr], user.hr_bpm[keep_hr]
        user.extras = {end: extra for end, extra in user.extras.items() if end > new_closed}
        user.closed_until_ms = new_closed
        return windows

    def _analyze(self, closing: list[_ClosingWindow], effects: Effects) -> None:
        if not closing:
            return
        features = analyze_windows(_batch(closing), self.config.detector)
        for row, window in enumerate(closing):
            effects.summaries.extend(self._verdict(window, features, row, effects))

    def _verdict(
        self, window: _ClosingWindow, features: WindowFeatures, row: int, effects: Effects
    ) -> list[WindowSummary]:
        user = window.user
        heart_rate = float(features.heart_rate_bpm[row])
        has_hr = bool(np.isfinite(heart_rate))
        at_rest = bool(features.at_rest[row]) if np.isfinite(window.activity_g) else None
        stress_level: int | None = None
        rmssd: float | None = None
        if bool(features.hrv_valid[row]):
            rmssd = float(features.rmssd_ms[row])
            user.stress, stress_level = stress_step(
                user.stress,
                rmssd,
                float(features.mean_hr_bpm[row]),
                self.config.detector,
                at_rest=at_rest,
            )
        rhythm_valid = bool(features.rhythm_valid[row])
        irregular = bool(features.irregular[row]) if rhythm_valid else None
        verdict = WindowVerdict(
            end_ms=window.end_ms,
            heart_rate_bpm=heart_rate if has_hr else None,
            stress_level=stress_level,
            irregular=irregular,
            at_rest=at_rest,
        )
        user.rules, actions = rules_step(user.rules, verdict, self.config.detector)
        effects.actions.extend((user.user_id, action) for action in actions)
        if not has_hr and window.reading_type == "automatic" and window.trusted:
            return []  # accelerometer only: nothing for healthReadings (an unreadable
            # waveform still gets its row: arrhythmiaDetected NULL, "could not judge")
        return [
            WindowSummary(
                user_id=user.user_id,
                end_ms=window.end_ms,
                heart_rate_bpm=round(heart_rate) if has_hr else None,
                hrv_rmssd_ms=rmssd,
                stress_level=stress_level,
                arrhythmia=irregular,
                reading_type=window.reading_type,
            )
        ]


def _window_end(at_ms: int, window_ms: int) -> int:
    """End of the window ``(end - W, end]`` holding ``at_ms``."""
    return -((-at_ms) // window_ms) * window_ms


def _window_ends(at_ms: np.ndarray, window_ms: int) -> np.ndarray:
    return -np.floor_divide(-np.asarray(at_ms, dtype=np.int64), window_ms) * window_ms


def _batch(closing: list[_ClosingWindow]) -> WindowBatch:
    rr_counts = np.array([w.rr_ms.size for w in closing], dtype=np.int64)
    hr_counts = np.array([w.hr_bpm.size for w in closing], dtype=np.int64)
    empty = np.empty(0, dtype=np.float64)
    return WindowBatch(
        user_ids=np.array([w.user.user_id for w in closing], dtype=np.int64),
        end_ms=np.array([w.end_ms for w in closing], dtype=np.int64),
        rr_ms=np.concatenate([w.rr_ms for w in closing]) if rr_counts.sum() else empty,
        rr_offsets=np.concatenate(([0], np.cumsum(rr_counts))),
        hr_bpm=np.concatenate([w.hr_bpm for w in closing]) if hr_counts.sum() else empty,
        hr_offsets=np.concatenate(([0], np.cumsum(hr_counts))),
        activity_g=np.array([w.activity_g for w in closing], dtype=np.float64),
        rhythm_trusted=np.array([w.trusted for w in closing], dtype=bool),
        atrial=np.array(
            [w.atrial or (math.nan,) * len(ATRIAL_FEATURES) for w in closing], dtype=np.float64
        ),
    )
