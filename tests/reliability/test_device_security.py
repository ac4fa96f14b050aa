"""Device security with a private Mosquitto configured by `vitals devices mosquitto`
(per-device hashed passwords, per-device ACL): the broker refuses wrong passwords and
anonymous clients and drops a device's publish under another user's topic; the pipeline
refuses forged users that get past the broker; only hashes are stored."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter, Device
from storage.repositories.devices import add_device, verify_secret
from storage.repositories.people import add_user
from tests.reliability.harness import T0_MS, PrivateBroker, wait_for
from tests.reliability.report import record

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb]

PIPELINE_PASSWORD = "pipeline-secret-for-tests-only"


def _client(port: int, user: str | None, password: str | None) -> tuple[mqtt.Client, int]:
    """Connect; return the client and the CONNACK reason code value (0 = accepted)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sec-{time.monotonic_ns()}")
    if user is not None:
        client.username_pw_set(user, password)
    result: dict[str, int] = {}
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        result["rc"] = int(reason.value)  # type: ignore[attr-defined]
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert done.wait(5), "no CONNACK"
    if result["rc"] == 0:  # paho marks the client connected just after on_connect returns
        wait_for(client.is_connected, 5, "client connected")
    return client, result["rc"]


def test_broker_acl_passwords_and_pipeline_refuse_forgeries(
    clean_mysql_url: str, tmp_path: Path
) -> None:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        alice, bob = add_user(session, open_id="sec-a"), add_user(session, open_id="sec-b")
        a_watch = add_device(session, user_id=alice.id, device_id="sec-a-watch")
        b_watch = add_device(session, user_id=bob.id, device_id="sec-b-watch")
        alice_id, bob_id = alice.id, bob.id
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(VITALS_DATABASE_URL=clean_mysql_url, VITALS_MQTT_PASSWORD=PIPELINE_PASSWORD)
    subprocess.run(
        [sys.executable, "-m", "vitals.cli", "devices", "mosquitto",
         "--passwd", str(passwd), "--acl", str(acl)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    stored = passwd.read_text()
    for secret in (a_watch.secret, b_watch.secret, PIPELINE_PASSWORD):
        assert secret not in stored  # hashed, never in clear
    with sessions() as session:
        hashes = dict(session.execute(select(Device.deviceId, Device.credentialHash)).all())
    assert verify_secret(a_watch.secret, hashes["sec-a-watch"] or "")
    assert a_watch.secret not in str(hashes)
    broker_dir = PrivateBroker(tmp_path)  # a world-readable copy of the files for it
    (broker_dir.workdir / "passwd").write_text(stored)
    (broker_dir.workdir / "acl").write_text(acl.read_text())
    broker = PrivateBroker(
        tmp_path, passwd=broker_dir.workdir / "passwd", acl=broker_dir.workdir / "acl"
    )
    broker.start()
    received: list[tuple[str, bytes]] = []
    try:
        refused = [
            _client(broker.port, None, None),
            _client(broker.port, "sec-a-watch", "not-the-secret"),
            _client(broker.port, "sec-a-watch", b_watch.secret),
        ]
        for client, _ in refused:
            client.loop_stop()  # no reconnect attempts in the background
        anonymous_rc, wrong_rc, stolen_rc = (rc for _, rc in refused)
        assert anonymous_rc != 0 and wrong_rc != 0 and stolen_rc != 0
        pipeline, rc = _client(broker.port, "vitals-ingest", PIPELINE_PASSWORD)
        assert rc == 0
        pipeline.on_message = lambda c, u, m: received.append((m.topic, bytes(m.payload)))
        pipeline.subscribe("vitals/v1/#", qos=1)
        time.sleep(0.3)
        device, rc = _client(broker.port, "sec-a-watch", a_watch.secret)
        assert rc == 0
        base = {"v": 1, "device": "sec-a-watch", "ts": T0_MS, "kind": "rr", "rr_ms": [800]}
        own = f"vitals/v1/{alice_id}/sec-a-watch/rr"
        other = f"vitals/v1/{bob_id}/sec-b-watch/rr"
        spoof = f"vitals/v1/{bob_id}/sec-a-watch/rr"
        cases = [
            (other, orjson.dumps({**base, "user": bob_id, "device": "sec-b-watch", "seq": 1})),
            (spoof, orjson.dumps({**base, "user": bob_id, "seq": 2})),
            (own, orjson.dumps({**base, "user": bob_id, "seq": 3})),  # forged payload user
            (own, orjson.dumps({**base, "user": alice_id, "seq": 4})),  # legitimate
            (f"{own}/x", orjson.dumps({**base, "user": alice_id, "seq": 5})),  # deeper topic
        ]
        for topic, payload in cases:
            wait_for(device.is_connected, 10, "device connected")  # paho reconnects
            sent = device.publish(topic, payload, qos=1)
            # the connection may drop between the check and the publish on a busy machine:
            # paho keeps a QoS 1 message and sends it after reconnecting, so wait for its
            # PUBACK rather than on the publish call's own return code
            wait_for(sent.is_published, 20, f"PUBACK for {topic}")
        wait_for(lambda: len(received) >= 2, 10, "own-topic messages")
        time.sleep(0.5)  # anything else would have arrived by now
    finally:
        broker.close()
        broker_dir.close()
    assert [topic for topic, _ in received] == [own, own]  # the broker dropped the others
    processor = BatchProcessor(sessions, Engine())
    arrived = [Inbound(topic, payload) for topic, payload in received]
    # and if a broker were misconfigured: a device publishing for a user it is not bound to
    leaked = Inbound(spoof, cases[1][1])
    result = processor.handle([*arrived, leaked])
    assert result.accepted == 1 and result.dead_letters == 2
    with sessions() as session:
        reasons = sorted(session.scalars(select(DeadLetter.reason)))
    engine.dispose()
    assert reasons == ["device_user_mismatch", "topic_mismatch"]
    record("device security", "wrong password, another device's secret, anonymous",
           tried=3, let_in=0, lost=0)  # fmt: skip
    record("device security", "publish under another user's topic or below its own (ACL)",
           tried=3, delivered=0, lost=0)  # fmt: skip
    record("device security", "forged payload user / device of another user (pipeline)",
           tried=2, accepted=0, lost=0)  # fmt: skip
