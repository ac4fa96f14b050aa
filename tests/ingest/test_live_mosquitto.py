"""`vitals run` as a real process against the real Mosquitto and MariaDB: a published
trace becomes readings and one alert; a hard kill mid-stream loses and doubles nothing;
malformed messages land in dead letters with the right reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter, HealthAlert
from storage.repositories.devices import add_device
from storage.repositories.people import add_contact, add_user
from tests.conftest import MQTT_URL, service_unavailable
from tests.ingest.traces import rest_trace, stored_counts

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb, pytest.mark.slow]


def _publisher() -> mqtt.Client:
    address = urlsplit(MQTT_URL)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    try:
        client.connect(address.hostname or "127.0.0.1", address.port or 1883)
    except OSError as error:
        service_unavailable(f"Mosquitto at {MQTT_URL}: {error}")
    client.loop_start()
    return client


def _publish(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, raw, qos=1) for topic, raw in messages]
    for info in infos:
        info.wait_for_publish(timeout=10)


class Pipeline:
    """`vitals run` in a subprocess, its log collected."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vitals.cli", "run"], env=self.env, stdout=log, stderr=log
        )
        self.starts += 1
        deadline = time.monotonic() + 120  # a busy machine: imports alone take seconds
        while self.log_path.read_bytes().count(b"connected to") < self.starts:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(self.log_path.read_text())
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def database(clean_mysql_url: str) -> sessionmaker[Session]:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    return session_factory(engine)


@pytest.fixture
def pipeline(clean_mysql_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    env = dict(os.environ)
    env.update(
        VITALS_DATABASE_URL=clean_mysql_url,
        VITALS_MQTT_URL=MQTT_URL,
        VITALS_MQTT_CLIENT_ID=f"vitals-test-{uuid.uuid4().hex[:8]}",
        VITALS_SMS_OUTBOX_PATH=str(tmp_path / "outbox.jsonl"),
        VITALS_IDLE_FLUSH_SECONDS="2",
    )
    running = Pipeline(env, tmp_path / "pipeline.log")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.kill()
    _forget_session(env["VITALS_MQTT_CLIENT_ID"])


def _forget_session(client_id: str) -> None:
    """Drop the test's persistent session from the shared broker (a clean connect)."""
    address = urlsplit(MQTT_URL)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(address.hostname or "127.0.0.1", address.port or 1883)
    client.disconnect()


def _wait_for(check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    raise AssertionError("condition not reached in time")


def test_published_trace_survives_a_hard_kill(
    database: sessionmaker[Session], pipeline: Pipeline, tmp_path: Path
) -> None:
    with database.begin() as session:
        user = add_user(session, open_id="oauth-live", name="Aiko")
        add_device(session, user_id=user.id, device_id="live-watch-1")
        add_contact(session, user_id=user.id, name="Ren", phone="+15550100001", is_primary=True)
        user_id = user.id
    messages = rest_trace(user_id, "live-watch-1", minutes=16, hr_bpm=134, seed=11)
    publisher = _publisher()
    pipeline.start()
    third = len(messages) // 3
    _publish(publisher, messages[:third])
    _wait_for(lambda: stored_counts(database)[0] >= 3)
    _publish(publisher, messages[third : 2 * third])
    time.sleep(0.3)
    pipeline.kill()  # hard kill mid-stream: in-flight batch lost, acks not sent
    _publish(publisher, messages[2 * third :])  # queued by the broker for the session
    pipeline.start()
    _wait_for(lambda: stored_counts(database)[0] >= 16)
    time.sleep(3)  # idle flush closes the last window
    assert pipeline.stop() == 0  # SIGTERM: clean exit
    publisher.loop_stop()

    readings, distinct, alerts = stored_counts(database)
    assert readings == distinct  # nothing doubled
    assert 16 <= readings <= 17  # nothing lost: every minute of the trace
    with database() as session:
        assert session.scalars(select(HealthAlert.alertType)).all() == ["high_heart_rate"]
    assert alerts == 1
    outbox = (tmp_path / "outbox.jsonl").read_text().splitlines()
    assert len(outbox) == 1  # the primary contact texted once
    log = (tmp_path / "pipeline.log").read_text()
    assert "+15550100001" not in log  # phone numbers never reach logs


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_malformed_messages_land_in_dead_letters(
    database: sessionmaker[Session], pipeline: Pipeline, protocol: str
) -> None:
    pipeline.env["VITALS_MQTT_PROTOCOL"] = protocol
    with database.begin() as session:
        user = add_user(session, open_id="oauth-dead")
        add_device(session, user_id=user.id, device_id="dead-watch-1")
        user_id = user.id
    good = {"v": 1, "user": user_id, "device": "dead-watch-1", "ts": 1763900000000, "kind": "rr"}
    topic = f"vitals/v1/{user_id}/dead-watch-1/rr"
    cases = {
        "not_json": (topic, b"\xff\xfe garbage"),
        "impossible_value": (topic, orjson.dumps({**good, "seq": 1, "rr_ms": [800, 4000]})),
        "wrong_type": (topic, orjson.dumps({**good, "seq": 2, "rr_ms": "800"})),
        "topic_mismatch": (
            f"vitals/v1/{user_id + 1}/dead-watch-1/rr",
            orjson.dumps({**good, "seq": 3, "rr_ms": [800]}),
        ),
        "unknown_device": (
            f"vitals/v1/{user_id}/ghost-1/rr",
            orjson.dumps({**good, "device": "ghost-1", "seq": 4, "rr_ms": [800]}),
        ),
        "wrong_version": (topic, orjson.dumps({**good, "v": 9, "seq": 5, "rr_ms": [800]})),
        "bad_topic": (f"{topic}/x", orjson.dumps({**good, "seq": 6, "rr_ms": [800]})),  # deeper
    }
    publisher = _publisher()
    pipeline.start()
    _publish(publisher, list(cases.values()))
    expected = sorted(cases)

    def arrived() -> bool:  # the broker is shared: only this test's devices count
        with database() as session:
            rows = session.execute(select(DeadLetter.reason, DeadLetter.topic)).all()
        ours = [r for r, t in rows if t and ("/dead-watch-1/" in t or "/ghost-1/" in t)]
        return sorted(ours) == expected

    _wait_for(arrived, timeout=30)
    assert pipeline.stop() == 0
    publisher.loop_stop()
    with database() as session:
        payloads = {bytes(p) for p in session.scalars(select(DeadLetter.payload))}
    assert b"\xff\xfe garbage" in payloads  # raw bytes kept
