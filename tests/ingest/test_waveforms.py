"""Raw ECG/PPG arrives in ~1 s chunks: the engine buffers segments long enough for beat
detection, and a more direct beat source (device RR, then ECG) keeps lesser ones out."""

from __future__ import annotations

from dataclasses import replace

import neurokit2 as nk
import numpy as np
import orjson
import pytest

from detectors.config import DEFAULT
from detectors.rhythm import ATRIAL_MODEL_INPUTS
from ingest.engine import Engine, EngineConfig
from ingest.payload import decode
from ingest.topics import topic_for
from tests.ingest.traces import T0_MS


def _chunks(kind: str, signal: np.ndarray, fs: int, start_seq: int = 1) -> list[bytes]:
    out = []
    for i, start in enumerate(range(0, signal.size, fs)):
        payload = {
            "v": 1,
            "user": 1,
            "device": "chest-1",
            "seq": start_seq + i,
            "ts": T0_MS + start * 1000 // fs,
            "kind": kind,
            "fs": fs,
            "values": np.round(signal[start : start + fs], 4).tolist(),
        }
        out.append(orjson.dumps(payload))
    return out


def _run(messages: list[tuple[str, bytes]]) -> tuple[Engine, list[object]]:
    engine = Engine()
    effects = engine.process([decode(topic, raw) for topic, raw in messages])
    summaries = list(effects.summaries) + list(engine.flush().summaries)
    return engine, summaries


@pytest.mark.parametrize(
    ("kind", "fs", "simulate"),
    [
        (
            "ecg",
            250,
            lambda: nk.ecg_simulate(duration=120, sampling_rate=250, heart_rate=72, random_state=5),
        ),
        (
            "ppg",
            64,
            lambda: nk.ppg_simulate(duration=120, sampling_rate=64, heart_rate=72, random_state=5),
        ),
    ],
)
def test_one_second_chunks_give_heart_rate_per_window(kind: str, fs: int, simulate: object) -> None:
    signal = np.asarray(simulate(), dtype=np.float64)  # type: ignore[operator]
    messages = [(topic_for(1, "chest-1", kind), raw) for raw in _chunks(kind, signal, fs)]
    _, summaries = _run(messages)
    rates = [s.heart_rate_bpm for s in summaries]  # type: ignore[attr-defined]
    assert len(rates) == 2
    assert all(r is not None and abs(r - 72) <= 4 for r in rates)


def test_device_rr_keeps_waveform_beats_out() -> None:
    signal = nk.ecg_simulate(duration=60, sampling_rate=250, heart_rate=100, random_state=2)
    ecg = [(topic_for(1, "chest-1", "ecg"), raw) for raw in _chunks("ecg", np.asarray(signal), 250)]
    rr = orjson.dumps(
        {
            "v": 1,
            "user": 1,
            "device": "chest-1",
            "seq": 10_000,
            "ts": T0_MS + 500,
            "kind": "rr",
            "rr_ms": [1000.0] * 59,
        }
    )
    _, summaries = _run([(topic_for(1, "chest-1", "rr"), rr), *ecg])
    rates = [s.heart_rate_bpm for s in summaries]  # type: ignore[attr-defined]
    assert rates == [60]  # the device's RR (60 bpm), not the ECG's 100 bpm beats


def _strip_at(offset_s: float, signal: np.ndarray, fs: int) -> list[tuple[str, bytes]]:
    """A spot-check strip starting ``offset_s`` into a minute, as 1 s ``ecg`` payloads."""
    shift_ms = round(offset_s * 1000)
    out = []
    for raw in _chunks("ecg", signal, fs):
        payload = orjson.loads(raw)
        payload["ts"] += shift_ms
        out.append((topic_for(1, "chest-1", "ecg"), orjson.dumps(payload)))
    return out


@pytest.mark.parametrize("offset_s", [2.0, 45.0])  # inside one window; across a boundary
def test_a_30_s_strip_gets_one_window_with_a_rhythm_verdict(offset_s: float) -> None:
    assert T0_MS % 60_000 == 0
    ecg = nk.ecg_simulate(duration=30, sampling_rate=300, heart_rate=62, random_state=3)
    _, summaries = _run(_strip_at(offset_s, np.asarray(ecg), 300))
    assert len(summaries) == 1  # the whole strip is judged in the window where it ends
    (summary,) = summaries
    assert summary.end_ms == T0_MS + (60_000 if offset_s + 30 <= 60 else 120_000)  # type: ignore[attr-defined]
    assert summary.arrhythmia is False  # type: ignore[attr-defined]
    assert summary.heart_rate_bpm == pytest.approx(62, abs=3)  # type: ignore[attr-defined]


def test_an_unreadable_strip_stores_a_row_with_a_null_verdict() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0, 1.0, 30 * 300)  # no heartbeat at all: electrode noise
    _, summaries = _run(_strip_at(5.0, noise, 300))
    assert [s.arrhythmia for s in summaries] == [None]  # type: ignore[attr-defined]


def test_a_window_of_one_ecg_segment_is_judged_by_the_atrial_model() -> None:
    # an atrial model that calls everything AF shows which model judged each window
    inputs = len(ATRIAL_MODEL_INPUTS)
    always_af = replace(DEFAULT, rhythm_atrial_weights=(0.0,) * inputs, rhythm_atrial_bias=50.0)
    config = EngineConfig(detector=always_af)
    ecg = np.asarray(nk.ecg_simulate(duration=40, sampling_rate=300, heart_rate=70, random_state=6))

    def verdicts(messages: list[tuple[str, bytes]]) -> list[object]:
        engine = Engine(config)
        effects = engine.process([decode(topic, raw) for topic, raw in messages])
        summaries = list(effects.summaries) + list(engine.flush().summaries)
        return [s.arrhythmia for s in summaries]  # type: ignore[attr-defined]

    one_segment = _strip_at(2.0, ecg[: 30 * 300], 300)
    assert verdicts(one_segment) == [True]
    # two segments (a 2 s gap) in one window: their beats are judged by the RR-only model
    two_segments = _strip_at(2.0, ecg[: 15 * 300], 300) + _strip_at(20.0, ecg[18 * 300 :], 300)
    assert verdicts(two_segments) == [False]
