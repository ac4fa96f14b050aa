"""Shared set-up of the pipeline benchmarks: seeded traces, throw-away databases, CPU pinning.

Not a benchmark itself (the runner only picks up ``bench_*.py``).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from simulators.generate import Options, simulate
from simulators.plan import DEFAULT_EVENTS, parse_event_rates, population_plan
from simulators.trace_io import companion_paths, read_manifest
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from tests.netutil import free_port, wait_for_listener
from vitals.commands.register import register_manifest

MYSQL_URL = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
CACHE = Path(os.environ.get("VITALS_BENCH_CACHE", Path(tempfile.gettempdir()) / "vitals-bench"))
T0_MS = 1_763_900_000_000
SEED = 20240610


def trace(n_users: int, minutes: int, seed: int = SEED) -> Path:
    """A seeded population trace (RR in 5 s batches, 25 Hz accel in 1 s batches, the
    simulators' default event mix), generated once and cached under :data:`CACHE`."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"pop-{n_users}u-{minutes}m-{seed}.jsonl.gz"
    if not path.exists() or not companion_paths(path)[1].exists():
        plan = population_plan(
            n_users, minutes / 60, seed, parse_event_rates(DEFAULT_EVENTS), T0_MS
        )
        partial = path.with_name("partial-" + path.name)
        result = simulate(plan, partial, Options())
        for src in (result.labels_path, result.manifest_path):
            src.rename(src.with_name(src.name.removeprefix("partial-")))
        partial.rename(path)
    return path


def trace_lines(path: Path) -> list[bytes]:
    """All lines of a trace in memory (benchmarks time the pipeline, not gunzip)."""
    with gzip.open(path, "rb") as handle:
        return [line.rstrip(b"\n") for line in handle if line.strip()]


def manifest_devices(path: Path) -> dict[str, int]:
    manifest = read_manifest(companion_paths(path)[1])
    return {device: user.user for user in manifest.users for device in user.devices}


@contextlib.contextmanager
def database(backend: str) -> Iterator[sessionmaker[Session]]:
    """A migrated, empty database: a SQLite file or a fresh MariaDB schema, dropped after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine_from_url(f"sqlite:///{tmp}/bench.db")
            upgrade(engine)
            try:
                yield session_factory(engine)
            finally:
                engine.dispose()
        return
    server = create_engine_from_url(MYSQL_URL)
    name = f"vitals_bench_{secrets.token_hex(4)}"
    with server.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine_from_url(url)
    try:
        upgrade(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()
        with server.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


def register(path: Path, sessions: sessionmaker[Session]) -> None:
    """Create the trace's users and devices (as ``vitals replay --register``)."""
    register_manifest(path, sessions)


@contextlib.contextmanager
def pinned(cpu: int | None = None) -> Iterator[int]:
    """Run the block on one CPU (the last one unless given); yields the CPU used."""
    before = os.sched_getaffinity(0)
    chosen = max(before) if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, before)


def cpu_seconds() -> float:
    """CPU time of this process (all threads), seconds."""
    return time.process_time()


MOSQUITTO = "/usr/sbin/mosquitto"


@contextlib.contextmanager
def private_broker(max_inflight: int = 2000) -> Iterator[str]:
    """A Mosquitto of the benchmark's own on a free port (the machine's broker keeps its
    default ``max_inflight_messages 20``, which would cap a manual-ack consumer at 20
    unacknowledged messages); no persistence, unlimited queue. Yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            f"max_inflight_messages {max_inflight}\nlog_dest none\n"
        )
        process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            if not wait_for_listener(port, process):
                raise RuntimeError("private mosquitto did not start")
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)
