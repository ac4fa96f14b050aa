"""Small seeded traces for ingest tests (the product's generators live in simulators/)."""

from __future__ import annotations

import numpy as np
import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.topics import topic_for
from storage.models import HealthAlert, HealthReading

T0_MS = 1_763_900_000_000 - (1_763_900_000_000 % 60_000)  # a whole minute


def sinus_rr_ms(n: int, mean_hr_bpm: float, rng: np.random.Generator) -> np.ndarray:
    """Regular rhythm with respiratory sinus arrhythmia and a little noise."""
    mean_rr = 60_000.0 / mean_hr_bpm
    k = np.arange(n)
    rr = mean_rr * (1 + 0.03 * np.sin(2 * np.pi * k * mean_rr / 4000.0)) + rng.normal(0, 8, n)
    return np.clip(rr, 300, 2000)


def rest_trace(
    user: int,
    device: str,
    minutes: int,
    hr_bpm: float,
    *,
    seed: int = 1,
    rr_batch_s: float = 5.0,
    accel_batch_s: float = 5.0,
    accel_fs: int = 25,
    start_ms: int = T0_MS,
) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs in publish order: RR batches and resting accel, seq rising."""
    rng = np.random.default_rng(seed)
    n_beats = int(minutes * hr_bpm * 1.1) + 10
    rr = sinus_rr_ms(n_beats, hr_bpm, rng)
    beat_ms = start_ms + np.cumsum(rr)
    end_ms = start_ms + minutes * 60_000
    events: list[tuple[int, str, dict[str, object]]] = []
    batch_ms = int(rr_batch_s * 1000)
    for batch_start in range(start_ms, end_ms, batch_ms):
        in_batch = (beat_ms >= batch_start) & (beat_ms < batch_start + batch_ms)
        if in_batch.any():
            first = int(np.argmax(in_batch))
            events.append(
                (
                    round(beat_ms[first]),
                    "rr",
                    {"rr_ms": [round(float(v), 1) for v in rr[in_batch]]},
                )
            )
    n_accel = int(accel_batch_s * accel_fs)
    for batch_start in range(start_ms, end_ms, int(accel_batch_s * 1000)):
        noise = rng.normal(0, 0.01, (3, n_accel))
        events.append(
            (
                batch_start,
                "accel",
                {
                    "fs": accel_fs,
                    "x": np.round(noise[0], 3).tolist(),
                    "y": np.round(noise[1], 3).tolist(),
                    "z": np.round(1 + noise[2], 3).tolist(),
                },
            )
        )
    events.sort(key=lambda item: item[0])
    messages = []
    for seq, (ts, kind, body) in enumerate(events, start=1):
        payload = {"v": 1, "user": user, "device": device, "seq": seq, "ts": ts, "kind": kind}
        payload.update(body)
        messages.append((topic_for(user, device, kind), orjson.dumps(payload)))
    return messages


def stored_counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """(healthReadings rows, distinct window ends, healthAlerts rows): with one user,
    rows == distinct ends means no window was stored twice."""
    with sessions() as session:
        readings = session.scalar(select(func.count()).select_from(HealthReading)) or 0
        distinct = session.scalar(select(func.count(func.distinct(HealthReading.createdAt)))) or 0
        alerts = session.scalar(select(func.count()).select_from(HealthAlert)) or 0
    return readings, distinct, alerts
