"""Wearers per core, offline replay: the whole pipeline on one pinned CPU vs a naive loop.

Data: a seeded population trace (``bench.support.trace``; default 1000 users x 30 min,
RR in 5 s batches + 25 Hz accelerometer in 1 s batches, the simulators' default event
mix), held in memory so gunzip is not timed.

Measured in the same run, each pinned to one core (``os.sched_setaffinity``):

- **pipeline**: ``Replayer(BatchProcessor(sessions, Engine()))`` -- orjson decode and
  validation, devices and dedupe, per-user windows, ``analyze_windows`` vectorised
  across users, stress, rules, falls, one transaction per 5000 lines with readings,
  alerts, per-user checkpoints and device seqs -- on SQLite and on MariaDB;
- **naive baseline**: a per-message Python loop written here -- ``json.loads``, Python
  lists per user, per-window NumPy (mean HR, RMSSD) and threshold rules per user, a
  per-message free-fall check, row-at-a-time ``INSERT`` into SQLite, commit every 5000
  lines. It does *less* than the pipeline (no artefact cleaning, rhythm, stress, dedupe,
  checkpoints), so the ratio is a lower bound.

Figure: wearers served in real time by one core = users x simulated seconds / wall s.
Target: >= 50 000. Scale with ``BENCH_REPLAY_USERS`` / ``BENCH_REPLAY_MINUTES``.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench import support
from ingest.engine import Engine
from ingest.processor import BatchProcessor
from ingest.replay import Replayer

USERS = int(os.environ.get("BENCH_REPLAY_USERS", "1000"))
MINUTES = int(os.environ.get("BENCH_REPLAY_MINUTES", "30"))
BACKENDS = tuple(os.environ.get("BENCH_REPLAY_BACKENDS", "sqlite,mariadb").split(","))
TARGET_WEARERS = 50_000
WINDOW_MS = 60_000


def run_pipeline(lines: list[bytes], backend: str) -> dict[str, Any]:
    """Replay ``lines`` through the real pipeline into a fresh ``backend`` database."""
    path = support.trace(USERS, MINUTES)
    with support.database(backend) as sessions:
        support.register(path, sessions)
        with support.pinned():
            cpu0 = time.process_time()
            report = Replayer(BatchProcessor(sessions, Engine())).run(lines)
            cpu = time.process_time() - cpu0
    return {
        "wall_s": round(report.wall_s, 2),
        "cpu_s": round(cpu, 2),
        "lines": report.lines,
        "accepted": report.accepted,
        "readings": report.readings,
        "alerts_opened": report.alerts_opened,
        "lines_per_s": round(report.lines / report.wall_s),
        "wearers_per_core": round(USERS * MINUTES * 60 / report.wall_s),
    }


class _NaiveUser:
    def __init__(self) -> None:
        self.beats: list[tuple[int, float]] = []
        self.accel_sq: list[float] = []
        self.closed_until = 0


def naive_loop(lines: list[bytes], db_path: str) -> dict[str, Any]:
    """The straightforward per-message version (see the module docstring)."""
    db = sqlite3.connect(db_path)
    db.execute(
        "CREATE TABLE readings (userId INT, createdAt INT, heartRate INT, hrv REAL, "
        "PRIMARY KEY (userId, createdAt))"
    )
    db.execute("CREATE TABLE alerts (userId INT, alertType TEXT, createdAt INT)")
    users: dict[int, _NaiveUser] = defaultdict(_NaiveUser)
    started = time.perf_counter()
    readings = alerts = 0
    for count, line in enumerate(lines, 1):
        msg = json.loads(line)
        user = users[msg["user"]]
        ts = msg["ts"]
        if msg["kind"] == "rr":
            at = ts
            for i, rr in enumerate(msg["rr_ms"]):
                at += rr if i else 0
                user.beats.append((at, float(rr)))
            end = ts
        elif msg["kind"] == "accel":
            x, y, z = (np.asarray(msg[a], dtype=float) for a in "xyz")
            mag = np.sqrt(x * x + y * y + z * z)
            if mag.min() < 0.6 and mag.max() > 2.5:  # free fall and impact in one chunk
                db.execute("INSERT INTO alerts VALUES (?, 'fall_detected', ?)", (msg["user"], ts))
                alerts += 1
            user.accel_sq.append(float(mag.std()))
            end = ts + round((len(x) - 1) * 1000 / msg["fs"])
        else:
            continue
        limit = ((end - 10_000) // WINDOW_MS) * WINDOW_MS
        while user.closed_until + WINDOW_MS <= limit:
            w_end = user.closed_until + WINDOW_MS if user.closed_until else limit
            rr = np.array([r for t, r in user.beats if t <= w_end])
            user.beats = [(t, r) for t, r in user.beats if t > w_end]
            user.closed_until = w_end
            if rr.size >= 2:
                hr = 60_000.0 / rr.mean()
                rmssd = float(np.sqrt(np.mean(np.diff(rr) ** 2)))
                db.execute(
                    "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?)",
                    (msg["user"], w_end, round(hr), rmssd),
                )
                readings += 1
                activity = np.mean(user.accel_sq) if user.accel_sq else math.nan
                if (hr > 120 and activity < 0.1) or hr < 40:
                    db.execute(
                        "INSERT INTO alerts VALUES (?, 'heart_rate', ?)", (msg["user"], w_end)
                    )
                    alerts += 1
            user.accel_sq = []
        if count % 5000 == 0:
            db.commit()
    db.commit()
    wall = time.perf_counter() - started
    db.close()
    return {
        "wall_s": round(wall, 2),
        "lines": len(lines),
        "readings": readings,
        "alerts": alerts,
        "lines_per_s": round(len(lines) / wall),
    }


def main() -> dict[str, Any]:
    path = support.trace(USERS, MINUTES)
    lines = support.trace_lines(path)
    simulated_s = MINUTES * 60
    results: dict[str, Any] = {
        "users": USERS,
        "simulated_s": simulated_s,
        "lines": len(lines),
        "target_wearers_per_core": TARGET_WEARERS,
    }
    with tempfile.TemporaryDirectory() as tmp, support.pinned() as cpu:
        results["cpu"] = cpu
        naive = naive_loop(lines, f"{tmp}/naive.db")
    naive["wearers_per_core"] = round(USERS * simulated_s / naive["wall_s"])
    results["naive_sqlite"] = naive
    print(f"naive loop: {naive['wall_s']} s = {naive['wearers_per_core']:,} wearers/core")
    for backend in BACKENDS:
        figures = run_pipeline(lines, backend)
        figures["ratio_to_naive"] = round(naive["wall_s"] / figures["wall_s"], 2)
        figures["ratio_to_target"] = round(figures["wearers_per_core"] / TARGET_WEARERS, 3)
        results[f"pipeline_{backend}"] = figures
        print(
            f"pipeline on {backend}: {figures['wall_s']} s = "
            f"{figures['wearers_per_core']:,} wearers/core, "
            f"{figures['ratio_to_naive']}x the naive loop"
        )
    return results


if __name__ == "__main__":
    main()
