"""Beat sources of a user and raw-waveform buffering: which of the device's RR intervals,
ECG or PPG beats a window takes, and PPG/ECG chunks joined into segments long enough for
beat detection before their beats are filed under a window.
"""

from __future__ import annotations

import math

import numpy as np

from detectors import DetectorConfig, beats_from_ecg, beats_from_ppg
from detectors.beats import MIN_SEGMENT_S
from ingest.userstate import UserState, WaveBuffer
from vocabulary import PayloadKind

#: Beat sources of a user, most direct first: the device's own RR intervals, then beats
#: detected in ECG, then in PPG.
BEAT_SOURCES = (PayloadKind.RR, PayloadKind.ECG, PayloadKind.PPG)


def window_end(at_ms: int, window_ms: int) -> int:
    """End of the window ``(end - W, end]`` holding ``at_ms``."""
    return -((-at_ms) // window_ms) * window_ms


def note_beat_source(user: UserState, kind: str, end_ms: int) -> None:
    """Remember when the user's ``kind`` source (rr, ecg, ppg) was last seen."""
    user.beat_source_ms[kind] = max(user.beat_source_ms.get(kind, 0), end_ms)


def add_beats(user: UserState, beat_ms: np.ndarray, rr_ms: np.ndarray) -> None:
    """File beats in the user's open windows (those of closed windows are dropped)."""
    keep = beat_ms > user.closed_until_ms
    user.add_beats(beat_ms[keep], rr_ms[keep])
    if keep.any():
        user.last_hr_bpm = 60_000.0 / float(rr_ms[keep][-1])


class WaveformBeats:
    """Buffers a user's raw PPG/ECG and turns finished segments into filed beats.

    Parameters
    ----------
    detector : DetectorConfig
        Beat detection settings and the window length.
    segment_s : float
        Longest segment buffered before beat detection (``EngineConfig.wave_segment_s``).
    source_memory_s : int
        A more direct beat source seen within this long keeps a waveform's beats out
        (``EngineConfig.beat_source_memory_s``).
    """

    def __init__(self, detector: DetectorConfig, segment_s: float, source_memory_s: int) -> None:
        self.detector = detector
        self.segment_s = segment_s
        self.source_memory_s = source_memory_s
        self.window_ms = int(detector.window_s) * 1000

    def buffer(
        self, user: UserState, kind: str, ts_ms: int, fs_hz: float, values: np.ndarray
    ) -> None:
        """Buffer raw PPG/ECG until a segment is long enough for beat detection (devices
        send ~1 s chunks; NeuroKit2's detectors need seconds of signal)."""
        buffer = user.waves.get(kind)
        if buffer is not None and (
            buffer.fs_hz != fs_hz or abs(ts_ms - buffer.end_ms) > 1000.0 / fs_hz + 1.0
        ):
            self.extract(user, kind)  # a gap or a new rate: a new segment
            buffer = None
        if buffer is None:
            user.waves[kind] = WaveBuffer(ts_ms, fs_hz, values.astype(np.float64))
        else:
            buffer.samples = np.concatenate((buffer.samples, values))
        if user.waves[kind].duration_s >= self.segment_s:
            self.extract(user, kind)

    def extract(self, user: UserState, kind: str) -> None:
        """Beats of the buffered segment; a segment too noisy to trust marks its windows so
        that they give no rhythm verdict (never a false one). A fragment shorter than the
        detectors need (e.g. the last 0.3 s of a 60.3 s strip) adds no beats and leaves the
        window to the segments it holds."""
        buffer = user.waves.pop(kind, None)
        if buffer is None or self.better_source(user, kind, buffer.start_ms):
            return
        if buffer.duration_s < MIN_SEGMENT_S:
            return
        extract = beats_from_ecg if kind == PayloadKind.ECG else beats_from_ppg
        try:
            beats = extract(buffer.samples, buffer.fs_hz, buffer.start_ms, self.detector)
        except ValueError:  # DetectorError: e.g. shorter than the detectors need
            beats = None
        window_ms = self.window_ms
        # ceil: a last sample at 60 000.3 ms lies in (60 000, 120 000], as in closing
        end = window_end(math.ceil(buffer.last_ms), window_ms)
        if end <= user.closed_until_ms:
            return  # defensive: closing extracts a segment before its window closes
        if beats is not None and beats.quality_ok and beats.beat_ms.size > 1:
            # filed under the window of the segment's end (times kept in order, clamped
            # to that window's start) so one strip feeds one verdict
            filed_ms = np.maximum(beats.beat_ms[1:], end - window_ms + 1)
            add_beats(user, filed_ms, beats.rr_ms)
            if kind == PayloadKind.ECG:
                # the atrial-activity model judges a window of one ECG segment; beats of
                # two segments fall back to the RR-only model
                extras = user.extras_for(end)
                extras.ecg_segments += 1
                one = extras.ecg_segments == 1
                extras.atrial = tuple(map(float, beats.atrial)) if one else ()
            return
        user.extras_for(end).untrusted = True

    def better_source(self, user: UserState, kind: str, at_ms: int) -> bool:
        """True when a more direct beat source of the same user was seen recently: device
        RR intervals beat ECG, which beats PPG. Beats of two sources would interleave in
        a window and corrupt its successive differences (RMSSD, rhythm)."""
        horizon = at_ms - self.source_memory_s * 1000
        for better in BEAT_SOURCES[: BEAT_SOURCES.index(kind)]:
            if user.beat_source_ms.get(better, 0) >= horizon:
                return True
        return False
