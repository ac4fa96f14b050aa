"""Hard kills of `vitals run` (SIGKILL at random moments) while a simulated trace is
replayed over MQTT: after restarts the database holds exactly what an uninterrupted
in-process replay of the same trace stores, and every texted contact got one text."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.replay import read_trace
from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import Device
from tests.reliability.harness import (
    PipelineProcess,
    PrivateBroker,
    Snapshot,
    outbox_texts,
    pipeline_env,
    reference_run,
    simulated_trace,
    wait_for,
)
from tests.reliability.report import record
from vitals.commands.register import register_manifest

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb, pytest.mark.slow]


def _committed(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.coalesce(func.sum(Device.lastSeq), 0))) or 0)


@pytest.mark.parametrize("seed", [3, 17])
def test_hard_kills_during_mqtt_replay_lose_and_double_nothing(
    seed: int, clean_mysql_url: str, tmp_path: Path
) -> None:
    trace = simulated_trace(tmp_path, seed)
    expected, reference_outbox = reference_run(trace, tmp_path)
    assert expected.alerts, "the trace must raise alerts for the test to mean anything"

    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    register_manifest(trace, sessions)
    lines = list(read_trace(trace))
    last_seq: dict[str, int] = {}
    for line in lines:
        obj = orjson.loads(line)
        last_seq[obj["device"]] = max(last_seq.get(obj["device"], -1), obj["seq"])
    final_seq_sum = sum(last_seq.values())
    broker = PrivateBroker(tmp_path)
    broker.start()
    outbox = tmp_path / "outbox.jsonl"
    pipeline = PipelineProcess(
        pipeline_env(clean_mysql_url, broker.url, outbox), tmp_path / "pipeline.log"
    )
    rng = random.Random(seed)
    try:
        pipeline.start()
        publisher = threading.Thread(
            target=publish_trace, args=(lines, broker.url), kwargs={"speed": 100.0}
        )
        publisher.start()
        # kill at random moments while there is still work in flight
        for _ in range(4):
            time.sleep(rng.uniform(0.2, 1.0))
            if not publisher.is_alive():
                break
            pipeline.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            pipeline.start()
        publisher.join()
        wait_for(lambda: _committed(sessions) >= final_seq_sum, 60, "every message committed")
        wait_for(lambda: Snapshot.of(sessions).readings == expected.readings, 20, "last flush")
        wait_for(lambda: outbox_texts(outbox) == outbox_texts(reference_outbox), 20, "texts")
        assert pipeline.stop() == 0
    finally:
        if pipeline.alive():
            pipeline.kill()
        broker.close()
    got = Snapshot.of(sessions)
    engine.dispose()
    assert got.readings == expected.readings  # every window once, same values
    assert got.alerts == expected.alerts  # every alert once
    texts = outbox_texts(outbox)
    assert texts == outbox_texts(reference_outbox)
    assert set(texts.values()) == {1}  # one text per contact per alert
    record(
        "crash safety",
        "SIGKILL of `vitals run` at random moments of an MQTT replay",
        seeds=1,
        kills=pipeline.kills,
        messages=len(lines),
        readings=sum(got.readings.values()),
        alerts=sum(got.alerts.values()),
        sms=sum(texts.values()),
        lost=0,
        doubled=0,
    )
