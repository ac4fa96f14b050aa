"""Bridge + two Faust workers on a real Kafka-protocol broker (Tansu), the real Mosquitto
and MariaDB: the scripted demo hour gives the same alert history and the same readings as
the in-process ``Replayer`` of the same trace, although one worker is killed (SIGKILL)
mid-stream and the other takes its partitions over."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from ingest.bridge import ensure_topics, partition_for
from ingest.replay import Replayer, read_trace
from simulators.generate import Options, simulate
from simulators.plan import scenario_plan
from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from tests.reliability.harness import PrivateBroker
from vitals.commands.register import register_manifest
from vitals.settings import Settings
from vitals.wiring import build_pipeline

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb, pytest.mark.slow]

PARTITIONS = 4
ROOT = Path(__file__).resolve().parents[2]
_ASSIGNED = re.compile(rb"partitions \[([\d, ]*)\] assigned")


class Process:
    """``vitals bridge`` / ``vitals worker`` in a subprocess, its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "tests.scaleout.cli", *args],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> bytes:
        return self.log_path.read_bytes()

    def assigned(self) -> set[int] | None:
        found = _ASSIGNED.findall(self.log())
        if not found:
            return None
        return {int(p) for p in found[-1].split(b",") if p.strip()}

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return -9


#: Waits are on conditions; their bounds are generous because a busy 2-core CI machine
#: can take most of a minute just to start a Faust worker (imports, Kafka group join).
SLOW_MACHINE = 4


def _wait_for(check: Callable[[], bool], what: str, timeout: float, *logs: Process) -> None:
    timeout *= SLOW_MACHINE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = [p for p in logs if p.popen.poll() is not None and p.popen.returncode != 0]
        if dead:
            break  # a process we wait on has died: no point in waiting out the bound
        time.sleep(0.2)
    tails = "\n".join(p.log()[-3000:].decode(errors="replace") for p in logs)
    raise AssertionError(f"{what}: not reached in {timeout} s\n{tails}")


def _scenario(tmp_path: Path, base: int) -> Path:
    """The demo's five scripted wearers under user ids nobody else uses."""
    demo = orjson.loads((ROOT / "vitals" / "scenarios" / "demo.json").read_bytes())
    for number, user in enumerate(demo["users"]):
        user["user"] = base + number
    path = tmp_path / "scenario.json"
    path.write_bytes(orjson.dumps(demo))
    return path


def _alerts(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT userId, alertType, severity, createdAt FROM healthAlerts")
        ).all()
    return sorted((r[0], r[1], r[2], _minute_second(r[3])) for r in rows)


def _readings(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT userId, createdAt, readingType, heartRate, stressLevel, "
                "arrhythmiaDetected FROM healthReadings"
            )
        ).all()
    return sorted(
        (r[0], _minute_second(r[1]), r[2], r[3], r[4], None if r[5] is None else bool(r[5]))
        for r in rows
    )


def _minute_second(value: Any) -> str:
    return str(value)[:19]  # SQLite returns text, MariaDB datetime: compare to the second


@pytest.fixture
def trace(tmp_path: Path) -> tuple[Path, list[int]]:
    base = 800_000 + secrets.randbelow(90_000) * 10
    plan = scenario_plan(_scenario(tmp_path, base))
    result = simulate(plan, tmp_path / "trace.jsonl.gz", Options(accel_batch_ms=5000))
    return result.trace, [u.user for u in plan.users]


@pytest.fixture
def reference(trace: tuple[Path, list[int]], tmp_path: Path) -> Iterator[Engine]:
    """The same trace through the in-process ``Replayer`` into a database of its own."""
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    engine = create_engine_from_url(url)
    upgrade(engine)
    sessions = session_factory(engine)
    register_manifest(trace[0], sessions)
    settings = Settings(database_url=url, sms_outbox_path=tmp_path / "reference-outbox.jsonl")
    Replayer(build_pipeline(settings, sessions).processor).run(read_trace(trace[0]))
    yield engine
    engine.dispose()


def test_bridge_and_two_workers_match_replay_across_a_worker_kill(
    kafka_bootstrap: str,
    clean_mysql_url: str,
    trace: tuple[Path, list[int]],
    reference: Engine,
    tmp_path: Path,
) -> None:
    trace_path, users = trace
    # A Mosquitto of the test's own with an unbounded queue: the machine's broker keeps
    # Mosquitto's default max_queued_messages (1000) and drops a fast trace on a busy
    # machine, which is broker loss (counted and reported as seq gaps), not failover.
    broker = PrivateBroker(tmp_path)
    broker.start()
    mqtt_url = broker.url
    live = create_engine_from_url(clean_mysql_url)
    upgrade(live)
    register_manifest(trace_path, session_factory(live))
    tag = uuid.uuid4().hex[:8]
    topic, dead_topic = f"vitals.readings.{tag}", f"vitals.deadletters.{tag}"
    asyncio.run(ensure_topics(kafka_bootstrap, {topic: PARTITIONS, dead_topic: 1}))

    env = dict(os.environ)
    env.update(
        VITALS_DATABASE_URL=clean_mysql_url,
        VITALS_MQTT_URL=mqtt_url,
        VITALS_MQTT_CLIENT_ID=f"vitals-bridge-test-{tag}",
        VITALS_KAFKA_URL=f"kafka://{kafka_bootstrap}",
        VITALS_KAFKA_TOPIC=topic,
        VITALS_SMS_OUTBOX_PATH=str(tmp_path / "outbox.jsonl"),
        VITALS_IDLE_FLUSH_SECONDS="6",
    )
    common = ["--partitions", str(PARTITIONS), "--dead-topic", dead_topic]
    workers = [
        Process(
            ["worker", *common, "--datadir", str(tmp_path / f"w{n}")],
            env,
            tmp_path / f"worker{n}.log",
        )
        for n in (1, 2)
    ]
    bridge = Process(["bridge", *common], env, tmp_path / "bridge.log")
    try:
        _wait_for(lambda: b"connected to" in bridge.log(), "bridge connected", 30, bridge)

        def split_between_workers() -> bool:
            mine = [w.assigned() for w in workers]
            return all(mine) and set.union(*mine) == set(range(PARTITIONS))  # type: ignore[arg-type]

        _wait_for(split_between_workers, "partitions split between workers", 45, *workers)
        # the victim is the worker that owns more of the trace's users (the rebalance
        # decides which partitions each gets, and some partitions hold no user)
        owned = [
            [u for u in users if partition_for(u, PARTITIONS) in (w.assigned() or set())]
            for w in workers
        ]
        victim_index = 0 if len(owned[0]) >= len(owned[1]) else 1
        victim, survivor = workers[victim_index], workers[1 - victim_index]
        victim_users = owned[victim_index]
        assert victim_users, "neither worker owns a user of the trace"

        lines = list(read_trace(trace_path))
        publisher = threading.Thread(
            target=publish_trace, args=(lines, mqtt_url), kwargs={"speed": 900.0}
        )
        publisher.start()

        def victim_stored_some() -> bool:
            with live.connect() as connection:
                stored = connection.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM healthReadings WHERE userId IN :users"
                    ).bindparams(sa.bindparam("users", expanding=True)),
                    {"users": victim_users},
                ).scalar_one()
            return bool(stored >= 5)

        _wait_for(victim_stored_some, "victim processed readings", 30, victim)
        victim.kill()  # mid-stream: its uncommitted offsets are redelivered to the survivor
        publisher.join(timeout=60)
        expected_alerts = _alerts(reference)
        expected_readings = _readings(reference)
        assert len(expected_alerts) == 4 and len(expected_readings) >= 290

        _wait_for(
            lambda: survivor.assigned() == set(range(PARTITIONS)),
            "survivor took every partition over",
            40,
            survivor,
        )
        _wait_for(
            lambda: len(_readings(live)) >= len(expected_readings),
            "all readings stored",
            40,
            survivor,
            bridge,
        )
        time.sleep(1.5)  # anything doubled would show up now
        assert survivor.stop() == 0
        assert bridge.stop() == 0
    finally:
        for process in (*workers, bridge):
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait()
        broker.close()

    assert _alerts(live) == expected_alerts  # same type, severity, createdAt per user
    stored = _readings(live)
    # nothing lost, nothing doubled: the same windows, one row each, with the same values
    # (a window's features do not depend on which other windows close with it)
    assert stored == expected_readings
    with live.connect() as connection:
        late = connection.execute(
            sa.text("SELECT COUNT(*) FROM deadLetters WHERE reason = 'late'")
        ).scalar_one()
        known = connection.execute(
            sa.text("SELECT COUNT(*) FROM deadLetters WHERE userId IN :users").bindparams(
                sa.bindparam("users", expanding=True)
            ),
            {"users": users},
        ).scalar_one()
    assert late == 0 and known == 0
    live.dispose()
