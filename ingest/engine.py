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
from dataclasses import dataclass, field

import numpy as np

from detectors import (
    DEFAULT,
    AlertAction,
    DetectorConfig,
    WindowBatch,
    WindowFeatures,
    WindowVerdict,
    analyze_windows,
    rules_step,
    sos_action,
    stress_step,
)
from detectors.fall_bank import FallBank, fall_step_bank
from detectors.rhythm import ATRIAL_FEATURES
from ingest.columns import ReadingColumns
from ingest.payload import Reading
from ingest.userstate import UserState
from ingest.waveforms import BEAT_SOURCES, WaveformBeats, add_beats, note_beat_source
from ingest.waveforms import window_end as _window_end
from vocabulary import DeviceEvent, PayloadKind, ReadingType


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
    late: list[int] = field(default_factory=list)  # rows of the batch's columns
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


@dataclass
class _BatchScratch:
    """What one :meth:`Engine.process` call keeps while it folds a batch, then drops.

    Accelerometer chunks are not folded into the fall state one by one: each user's
    chunks are deferred as a run and folded at once (all users' runs in one
    ``fall_step_bank`` call at the end of the batch, a user's own run earlier when a
    cancel event or a placement change must come after it). Each chunk remembers where
    ``fall_step`` per chunk would have put its actions: (position in
    ``effects.actions`` when it arrived, arrival number).
    """

    columns: ReadingColumns
    runs: dict[int, list[tuple[int, tuple[int, int]]]] = field(default_factory=dict)
    fall_actions: list[tuple[tuple[int, int], int, tuple[int, AlertAction]]] = field(
        default_factory=list
    )
    arrivals: int = 0
    placement: dict[int, str] = field(default_factory=dict)  # user -> fall placement now


@dataclass(frozen=True, slots=True)
class _AccelRows:
    """Per-row figures of a batch's accelerometer chunks, computed for all at once:
    activity sums (as ``WindowExtras.add_accel`` would add them) and the windows of the
    first and last sample."""

    magnitude_g: np.ndarray  # per sample of columns.xyz_g
    n: list[int]  # samples per row (0 for other kinds)
    end_ms: list[int]  # columns.end_ms as Python ints
    placement: list[str]  # where the row's device is worn ("" unknown)
    sum_g: list[float]  # per row (0 for other kinds)
    sumsq_g2: list[float]
    first_end_ms: list[int]
    last_end_ms: list[int]


class Engine:
    """Per-user windows, detectors and alert rules over a stream of readings."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.users: dict[int, UserState] = {}
        #: device id -> where it is worn (from its registration; the runner fills it)
        self.placements: dict[str, str] = {}
        #: fall-detector state of every user seen, by slot (``users[u].fall`` mirrors
        #: it after every call)
        self.falls = FallBank(self.config.detector)
        self._slots: dict[int, int] = {}
        self.waveforms = WaveformBeats(
            self.config.detector, self.config.wave_segment_s, self.config.beat_source_memory_s
        )

    # -- state ----------------------------------------------------------------
    def state(self, user_id: int) -> UserState:
        found = self.users.get(user_id)
        if found is None:
            found = self.users[user_id] = UserState(user_id)
            self._bind(found)
        return found

    def restore(self, states: Iterable[UserState]) -> None:
        for state in states:
            self.users[state.user_id] = state
            self._bind(state)

    def _bind(self, user: UserState) -> None:
        """Give the user's fall state a slot of the bank (or refresh its slot)."""
        slot = self._slots.get(user.user_id)
        if slot is None:
            self._slots[user.user_id] = self.falls.add(user.fall)
        else:
            self.falls.set(slot, user.fall)

    # -- processing -------------------------------------------------------------
    def process(self, batch: ReadingColumns | Sequence[Reading], *, close: bool = True) -> Effects:
        """Fold readings (in arrival order) into the users' state; return what to store.

        ``batch`` is a decoded batch's columns (or readings, turned into columns).
        ``close=False`` holds the windows open whatever the watermark (while a broker's
        backlog may still arrive after newer messages); :meth:`close_due` closes them.
        """
        columns = (
            batch if isinstance(batch, ReadingColumns) else ReadingColumns.from_readings(batch)
        )
        effects = Effects()
        scratch = _BatchScratch(columns)
        accel = self._accel_rows(columns)
        end_ms = columns.end_ms.tolist()
        state = self.state
        for row, (user_id, kind) in enumerate(zip(columns.user_id, columns.kind, strict=True)):
            user = state(user_id)
            if kind == PayloadKind.ACCEL:
                taken = self._accel(user, row, accel, effects, scratch)
            else:
                taken = self._ingest(user, row, effects, scratch)
            if taken:
                user.watermark_ms = max(user.watermark_ms, end_ms[row])
                effects.touched.add(user_id)
        self._fold_runs(list(scratch.runs), scratch)
        self._place_fall_actions(effects, scratch)
        touched = sorted(effects.touched)
        slots = [self._slots[user_id] for user_id in touched]
        watermarks = [self.users[user_id].watermark_ms for user_id in touched]
        for k, action in self.falls.tick(slots, watermarks):
            effects.actions.append((touched[k], action))
        closing: list[_ClosingWindow] = []
        for user_id, slot in zip(touched, slots, strict=True):
            user = self.users[user_id]
            user.fall = self.falls.get(slot)
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
    def _ingest(self, user: UserState, row: int, effects: Effects, scratch: _BatchScratch) -> bool:
        c = scratch.columns
        kind = c.kind[row]
        if kind == PayloadKind.EVENT:
            return self._event(user, row, effects, scratch)
        end_ms = int(c.end_ms[row])
        if end_ms <= user.closed_until_ms:
            effects.late.append(row)
            return False
        if kind in BEAT_SOURCES:
            note_beat_source(user, kind, end_ms)
        values = c.values_of(row)
        ts_ms = c.ts_ms[row]
        if kind == PayloadKind.RR:
            beat_ms = ts_ms + np.concatenate(([0.0], np.cumsum(values[1:])))
            add_beats(user, np.round(beat_ms).astype(np.int64), values)
        elif kind == PayloadKind.HR:
            at_ms = ts_ms + np.round(np.arange(values.size) * 1000.0 / float(c.fs_hz[row]))
            keep = at_ms > user.closed_until_ms
            user.add_hr(at_ms[keep].astype(np.int64), values[keep])
            if keep.any():
                user.last_hr_bpm = float(values[keep][-1])
        else:  # ppg, ecg
            self.waveforms.buffer(user, kind, ts_ms, float(c.fs_hz[row]), values)
        return True

    def _accel_rows(self, c: ReadingColumns) -> _AccelRows:
        """Magnitudes, per-chunk activity sums and window ends of every accel row."""
        window_ms = self.config.window_ms
        xyz = c.xyz_g
        magnitude = np.sqrt(xyz[:, 0] ** 2 + xyz[:, 1] ** 2 + xyz[:, 2] ** 2)
        bounds = c.xyz_offsets.tolist()
        n_rows = len(c)
        sums = [0.0] * n_rows
        sumsq = [0.0] * n_rows
        rows = [r for r in range(n_rows) if bounds[r + 1] > bounds[r]]
        if rows:
            counts = {bounds[r + 1] - bounds[r] for r in rows}
            dot = np.dot
            if len(counts) == 1 and len(rows) * counts.pop() == magnitude.size:
                # every chunk equally long and together the whole block: one reduction
                # per row of a 2-D view (the same pairwise sum as each chunk's .sum())
                block = magnitude.reshape(len(rows), -1)
                for r, total, row_g in zip(rows, block.sum(axis=1).tolist(), block, strict=True):
                    sums[r] = total
                    sumsq[r] = float(dot(row_g, row_g))
            else:
                for r in rows:
                    part = magnitude[bounds[r] : bounds[r + 1]]
                    sums[r] = float(part.sum())
                    sumsq[r] = float(dot(part, part))
        ts = np.asarray(c.ts_ms, dtype=np.int64)
        n = np.diff(c.xyz_offsets)
        with np.errstate(divide="ignore"):
            step_ms = 1000.0 / c.fs_hz
        is_accel = n > 0
        # the last sample's time exactly as the per-sample array would hold it
        last_ms = np.zeros(n_rows, dtype=np.int64)
        last_ms[is_accel] = (
            ts[is_accel].astype(np.float64) + (n[is_accel] - 1) * step_ms[is_accel]
        ).astype(np.int64)
        placements = self.placements
        return _AccelRows(
            magnitude,
            n.tolist(),
            c.end_ms.tolist(),
            [placements.get(device, "") for device in c.device_id],
            sums,
            sumsq,
            _window_ends(ts, window_ms).tolist(),
            _window_ends(last_ms, window_ms).tolist(),
        )

    def _accel(
        self,
        user: UserState,
        row: int,
        accel: _AccelRows,
        effects: Effects,
        scratch: _BatchScratch,
    ) -> bool:
        c = scratch.columns
        closed_ms = user.closed_until_ms
        if accel.end_ms[row] <= closed_ms:
            effects.late.append(row)
            return False
        first_end = accel.first_end_ms[row]
        if accel.last_end_ms[row] == first_end:  # the chunk sits in one window
            if first_end > closed_ms:
                extras = user.extras.get(first_end) or user.extras_for(first_end)
                extras.accel_n += accel.n[row]
                extras.accel_sum_g += accel.sum_g[row]
                extras.accel_sumsq_g2 += accel.sumsq_g2[row]
        else:
            start, stop = int(c.xyz_offsets[row]), int(c.xyz_offsets[row + 1])
            magnitude = accel.magnitude_g[start:stop]
            at_ms = c.ts_ms[row] + np.arange(stop - start) * (1000.0 / float(c.fs_hz[row]))
            ends = _window_ends(at_ms, self.config.window_ms)
            for end in np.unique(ends):
                if end > user.closed_until_ms:
                    user.extras_for(int(end)).add_accel(magnitude[ends == end])
        placement = accel.placement[row]
        user_id = user.user_id
        current = scratch.placement.get(user_id)
        if current is None:
            current = scratch.placement[user_id] = user.fall.placement
        if current != placement:  # the fall model depends on where it is worn
            self._fold_runs([user_id], scratch)
            self.falls.set_placement(self._slots[user_id], placement)
            scratch.placement[user_id] = placement
        scratch.arrivals += 1
        where = (len(effects.actions), scratch.arrivals)
        scratch.runs.setdefault(user_id, []).append((row, where))
        return True

    def _fold_runs(self, user_ids: list[int], scratch: _BatchScratch) -> None:
        """Fold the deferred chunks of ``user_ids`` into the fall bank in one call,
        remembering where each action belongs."""
        items: list[tuple[int, int, tuple[int, int]]] = []  # (user, row, where)
        for user_id in user_ids:
            items.extend((user_id, row, where) for row, where in scratch.runs.pop(user_id, []))
        if not items:
            return
        items.sort(key=lambda item: item[2])  # arrival order
        c = scratch.columns
        rows = np.array([row for _, row, _ in items], dtype=np.int64)
        starts, stops = c.xyz_offsets[rows], c.xyz_offsets[rows + 1]
        lengths = stops - starts
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] == c.xyz_g.shape[0] and np.array_equal(starts, offsets[:-1]):
            xyz = c.xyz_g  # every sample of the batch, in order: no copy
        else:
            gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
            xyz = c.xyz_g[gather]
        slots = np.array([self._slots[user_id] for user_id, _, _ in items], dtype=np.int64)
        ts = np.asarray(c.ts_ms, dtype=np.int64)[rows]
        actions = fall_step_bank(self.falls, slots, ts, c.fs_hz[rows], offsets, xyz)
        for index, action in actions:
            user_id, _, where = items[index]
            scratch.fall_actions.append((where, len(scratch.fall_actions), (user_id, action)))

    @staticmethod
    def _place_fall_actions(effects: Effects, scratch: _BatchScratch) -> None:
        """Insert the fall actions where fall_step per chunk would have appended them."""
        placed = sorted(scratch.fall_actions)
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

    def _event(self, user: UserState, row: int, effects: Effects, scratch: _BatchScratch) -> bool:
        c = scratch.columns
        ts_ms, event = c.ts_ms[row], c.event[row]
        end = _window_end(ts_ms, self.config.window_ms)
        if event == DeviceEvent.SOS:
            hr = None if user.last_hr_bpm is None else round(user.last_hr_bpm)
            effects.actions.append((user.user_id, sos_action(ts_ms, hr)))
            if end > user.closed_until_ms:
                user.extras_for(end).reading_type = ReadingType.EMERGENCY
            else:  # the window is stored already: the SOS gets a row of its own
                effects.summaries.append(
                    WindowSummary(user.user_id, end, hr, None, None, None, ReadingType.EMERGENCY)
                )
        elif event == DeviceEvent.CANCEL:
            self._fold_runs([user.user_id], scratch)  # the chunks before the cancel first
            self.falls.cancel(self._slots[user.user_id], ts_ms)
        elif end > user.closed_until_ms:  # DeviceEvent.MANUAL
            extras = user.extras_for(end)
            if extras.reading_type == ReadingType.AUTOMATIC:
                extras.reading_type = ReadingType.MANUAL
        else:
            effects.late.append(row)
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
            self.waveforms.extract(
                user, kind
            )  # it ended in a window closing now: its beats are due
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
                    reading_type=extras.reading_type if extras else ReadingType.AUTOMATIC,
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
        if not has_hr and window.reading_type == ReadingType.AUTOMATIC and window.trusted:
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
