"""Wearers per core of the columnar batch path, as ratios measured in one run, one core.

For each trace size (``BENCH_COLUMNAR_SIZES``, default ``200x30,1000x10``: users x
minutes of a seeded population trace, RR every 5 s + 25 Hz accelerometer in 1 s chunks,
the simulators' default event mix), all on the same pinned CPU, one after the other:

- **parse floor**: gunzip the trace file and ``orjson.loads`` every line -- nothing else;
- **pipeline** (this code): ``Replayer(BatchProcessor(sessions, Engine()))`` reading the
  same gzipped file (``ingest.replay.read_trace``), batches of 5000 lines, into a fresh
  SQLite file: decode into columns, device/time/sequence checks, windows, falls, rules,
  one transaction per batch with readings, alerts, dead letters and checkpoints;
- **previous implementation** (per-message decode and engine): the same replay with the
  code of git ref ``BENCH_COLUMNAR_OLD_REF`` (default ``5bfe30c``, the last commit before
  the columnar batches), extracted with ``git archive`` and run in a subprocess pinned to
  the same CPU; skipped when the ref is not in the repository (``""`` skips it too).

Figures: wearers served in real time by one core = users x simulated seconds / wall s;
``x_floor`` = pipeline wall / parse-floor wall (target <= 2.7, i.e. >= 50,000 wearers
per core when the floor is ~135,000); ``speedup`` = previous wall / pipeline wall.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson

from bench import support
from ingest.engine import Engine
from ingest.processor import BatchProcessor
from ingest.replay import Replayer, read_trace

SIZES = os.environ.get("BENCH_COLUMNAR_SIZES", "200x30,1000x10")
OLD_REF = os.environ.get("BENCH_COLUMNAR_OLD_REF", "5bfe30c")
TARGET_WEARERS = 50_000
TARGET_X_FLOOR = 2.7
REPO = Path(__file__).resolve().parent.parent

#: The previous implementation's replay, run in a subprocess inside its own source tree.
_OLD_REPLAY = """
import json, sys, time
from pathlib import Path
from bench import support
from ingest.engine import Engine
from ingest.processor import BatchProcessor
from ingest.replay import Replayer, read_trace
path, cpu = Path(sys.argv[1]), int(sys.argv[2])
with support.database("sqlite") as sessions:
    support.register(path, sessions)
    with support.pinned(cpu):
        report = Replayer(BatchProcessor(sessions, Engine())).run(read_trace(path))
print(json.dumps({"wall_s": report.wall_s, "lines": report.lines,
                  "accepted": report.accepted, "readings": report.readings,
                  "alerts_opened": report.alerts_opened}))
"""


def parse_floor(path: Path) -> dict[str, Any]:
    """Gunzip ``path`` and parse every line with orjson: the least any replay must do."""
    started = time.perf_counter()
    lines = 0
    loads = orjson.loads
    with gzip.open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                loads(line)
                lines += 1
    return {"wall_s": time.perf_counter() - started, "lines": lines}


def pipeline(path: Path) -> dict[str, Any]:
    """Replay ``path`` (gzipped, read as ``vitals replay`` reads it) into fresh SQLite."""
    with support.database("sqlite") as sessions:
        support.register(path, sessions)
        report = Replayer(BatchProcessor(sessions, Engine())).run(read_trace(path))
    return {
        "wall_s": report.wall_s,
        "lines": report.lines,
        "accepted": report.accepted,
        "readings": report.readings,
        "alerts_opened": report.alerts_opened,
    }


def old_tree(ref: str, into: Path) -> Path | None:
    """The sources of git ``ref`` extracted under ``into`` (None if the ref is unknown)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def previous(tree: Path, path: Path, cpu: int) -> dict[str, Any]:
    """The previous implementation's replay of ``path``, pinned to ``cpu``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", _OLD_REPLAY, str(path), str(cpu)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _wearers(users: int, minutes: int, wall_s: float) -> int:
    return round(users * minutes * 60 / wall_s)


def measure(users: int, minutes: int, tree: Path | None) -> dict[str, Any]:
    path = support.trace(users, minutes)
    with support.pinned() as cpu:
        floor = parse_floor(path)
        ours = pipeline(path)
    figures: dict[str, Any] = {
        "users": users,
        "minutes": minutes,
        "lines": floor["lines"],
        "cpu": cpu,
        "floor_s": round(floor["wall_s"], 2),
        "floor_wearers_per_core": _wearers(users, minutes, floor["wall_s"]),
        "pipeline_s": round(ours["wall_s"], 2),
        "pipeline_wearers_per_core": _wearers(users, minutes, ours["wall_s"]),
        "x_floor": round(ours["wall_s"] / floor["wall_s"], 2),
        "accepted": ours["accepted"],
        "readings": ours["readings"],
        "alerts_opened": ours["alerts_opened"],
    }
    if tree is not None:
        old = previous(tree, path, cpu)
        figures["previous_s"] = round(old["wall_s"], 2)
        figures["previous_wearers_per_core"] = _wearers(users, minutes, old["wall_s"])
        figures["previous_x_floor"] = round(old["wall_s"] / floor["wall_s"], 2)
        figures["speedup"] = round(old["wall_s"] / ours["wall_s"], 2)
        figures["same_counts"] = all(
            old[k] == ours[k] for k in ("accepted", "readings", "alerts_opened")
        )
    return figures


def main() -> dict[str, Any]:
    sizes = [tuple(int(v) for v in size.split("x")) for size in SIZES.split(",") if size]
    results: dict[str, Any] = {
        "target_wearers_per_core": TARGET_WEARERS,
        "target_x_floor": TARGET_X_FLOOR,
        "previous_ref": OLD_REF or None,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tree = old_tree(OLD_REF, Path(tmp)) if OLD_REF else None
        for users, minutes in sizes:
            figures = measure(users, minutes, tree)
            results[f"{users}u_{minutes}m"] = figures
            line = (
                f"{users} users x {minutes} min: floor {figures['floor_s']} s, "
                f"pipeline {figures['pipeline_s']} s = "
                f"{figures['pipeline_wearers_per_core']:,} wearers/core = "
                f"{figures['x_floor']}x the floor"
            )
            if "previous_s" in figures:
                line += (
                    f"; previous {figures['previous_s']} s "
                    f"({figures['previous_x_floor']}x the floor), speedup {figures['speedup']}x"
                )
            print(line, flush=True)
    return results


if __name__ == "__main__":
    main()
