"""Resident memory per monitored user at steady state, and whether it stays flat.

The engine (per-user open windows, beats, HR, window extras, rule/stress/fall state) and
the processor's per-device bookkeeping (device records, last committed seq, restored
users) are filled exactly as the live path fills them: readings go through
``Engine.process`` batch by batch, in reading time, 1 s accelerometer chunks (25 Hz) and
RR batches of the users' beats. No database: RSS would otherwise include the driver's
caches. To keep 100k users within minutes, each user sends one RR batch (20 s of beats)
and one accelerometer chunk every 20 s of reading time; the state held per user (one
open 60 s window plus the 10 s lateness) is the same as with 5 s/1 s batching.

Figures: ``(RSS after - RSS before the users) / users`` once windows are closing
(steady state), and for the 10k-user soak the RSS every simulated minute over
``SOAK_MIN`` minutes (slope in bytes/user/minute). Target <= 8 KB/user.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from ingest.engine import Engine
from ingest.payload import Reading
from storage.repositories.ingest import DeviceRecord

SIZES = tuple(int(n) for n in os.environ.get("BENCH_MEMORY_USERS", "10000,100000").split(","))
SOAK_MIN = int(os.environ.get("BENCH_MEMORY_SOAK_MIN", "30"))
STEADY_MIN = 4
STEP_S = 20
T0_MS = 1_763_900_000_000
TARGET_BYTES = 8 * 1024


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Population:
    """N users fed in reading time, ``STEP_S`` seconds per step."""

    def __init__(self, n_users: int, seed: int = 1) -> None:
        self.n = n_users
        self.engine = Engine()
        self.rng = np.random.default_rng(seed)
        self.rr_mean_ms = self.rng.uniform(650, 1000, n_users)
        self.seq = 0
        self.step = 0
        # the processor's per-device dicts, as BatchProcessor.handle fills them
        self.devices: dict[str, DeviceRecord] = {}
        self.last_seq: dict[str, int] = {}
        self.restored: set[int] = set()

    def advance(self) -> None:
        start_ms = T0_MS + self.step * STEP_S * 1000
        n_beats = int(STEP_S * 1000 / 650) + 2
        rr = self.rng.normal(1.0, 0.04, (self.n, n_beats)) * self.rr_mean_ms[:, None]
        rr = np.round(rr)
        accel = self.rng.normal(0.0, 0.01, (self.n, 3, 25)) + np.array([0.0, 0.0, 1.0])[:, None]
        readings: list[Reading] = []
        self.seq += 1
        for i in range(self.n):
            user = i + 1
            device = f"watch-{user:06d}"
            keep = np.cumsum(rr[i]) <= STEP_S * 1000
            readings.append(Reading(user, device, self.seq, start_ms, "rr", values=rr[i][keep]))
            x, y, z = accel[i].copy()
            readings.append(Reading(user, device, self.seq, start_ms, "accel", 25.0, x=x, y=y, z=z))
            if device not in self.devices:
                self.devices[device] = DeviceRecord(device, user, True, None)
                self.restored.add(user)
            self.last_seq[device] = self.seq
        for start in range(0, len(readings), 5000):
            self.engine.process(readings[start : start + 5000])
        self.step += 1


def measure(n_users: int, minutes: int) -> dict[str, Any]:
    gc.collect()
    before = rss_bytes()
    population = Population(n_users)
    started = time.perf_counter()
    per_minute: list[int] = []
    steps_per_min = 60 // STEP_S
    for step in range(minutes * steps_per_min):
        population.advance()
        if (step + 1) % steps_per_min == 0:
            gc.collect()
            per_minute.append(rss_bytes() - before)
    steady = per_minute[2:]  # from minute 3 on windows close every minute
    slope = float(np.polyfit(np.arange(len(steady)), steady, 1)[0]) if len(steady) > 1 else 0.0
    return {
        "users": n_users,
        "minutes": minutes,
        "bytes_per_user": round(per_minute[-1] / n_users),
        "bytes_per_user_min_steady": round(min(steady) / n_users),
        "bytes_per_user_max_steady": round(max(steady) / n_users),
        "slope_bytes_per_user_per_min": round(slope / n_users, 2),
        "ratio_to_target": round(per_minute[-1] / n_users / TARGET_BYTES, 3),
        "wall_s": round(time.perf_counter() - started, 1),
        "rss_mb_per_minute": [round(b / 2**20, 1) for b in per_minute],
    }


def main() -> dict[str, Any]:
    """Each size in a fresh interpreter, so one population's freed memory cannot hide
    the next one's."""
    results: dict[str, Any] = {"target_bytes_per_user": TARGET_BYTES}
    for n in SIZES:
        minutes = SOAK_MIN if n == min(SIZES) else STEADY_MIN
        code = (
            "import json; from bench.bench_memory import measure; "
            f"print(json.dumps(measure({n}, {minutes})))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        results[f"users_{n}"] = figures
        print(
            f"{n:,} users, {minutes} min: {figures['bytes_per_user']:,} B/user "
            f"(slope {figures['slope_bytes_per_user_per_min']} B/user/min)"
        )
    return results


if __name__ == "__main__":
    main()
