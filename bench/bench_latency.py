# ruff: noqa: E501 - PUBLISHER is a script run by a child interpreter, kept on few lines
"""Alert latency with a city of wearers publishing in real time.

Set-up (one run): a private Mosquitto (``bench.support.private_broker``), a fresh SQLite
database with ``USERS`` users, a watch and one emergency contact each, the live pipeline
(``MqttSource`` -> ``LiveRunner`` -> ``BatchProcessor``) and the notifier
(``NotificationService.run_forever`` woken by committed alerts) sending through the
official ``twilio`` library to the local fake Twilio server
(``tests/notifier/fake_twilio.py``).

Load: a publisher process plays ``USERS`` wearers in real time for ``SECONDS`` s -- each
user one 25 Hz accelerometer chunk every second and one RR batch every 5 s (staggered),
QoS 1 -- and, from second 10 on, an ``sos`` event of a different user every
``1 / SOS_PER_S`` s: the *triggering reading* (an SOS opens a critical alert at once,
so the latency is the pipeline's, not a detector's observation window).

Figures (``time.monotonic``, one clock for all processes on Linux):

- publish of the SOS -> its ``healthAlerts`` row committed (``on_alerts`` after commit);
- publish of the SOS -> the Twilio API call reaching the fake server.

p50/p99 over all SOS events. Targets: p99 < 1 s (commit), < 2 s (Twilio). The baseline in
the same run is the broker's own publish -> delivery time for the same SOS messages, seen
by a second, no-op subscriber.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from bench import support
from ingest.engine import Engine
from ingest.mqtt_source import MqttSource
from ingest.processor import BatchProcessor, Inbound
from ingest.runner import LiveRunner
from notifier.policy import NotificationPolicy
from notifier.senders import TwilioSender
from notifier.service import NotificationService
from storage.models import HealthAlert
from tests.notifier.fake_twilio import FakeTwilio

USERS = int(os.environ.get("BENCH_LATENCY_USERS", "5000"))
SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "60"))
SOS_PER_S = 2.0
T_START_SOS_S = 10

PUBLISHER = r"""
import json, sys, time
import numpy as np, orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
users, seconds, port, sos_per_s, t_sos = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-load")
c.max_inflight_messages_set(5000); c.max_queued_messages_set(0)
c.connect("127.0.0.1", port); c.loop_start()
rng = np.random.default_rng(1)
noise = np.round(rng.normal(0, 0.01, (64, 3, 25)) + [[0.0], [0.0], [1.0]], 3).tolist()
seq = [0] * (users + 1)
sos_at = {}
t0 = time.monotonic(); wall0 = int(time.time() * 1000)
next_sos = t_sos; sos_user = 1
for second in range(seconds):
    due = t0 + second
    while time.monotonic() < due: time.sleep(0.002)
    ts = wall0 + second * 1000
    for u in range(1, users + 1):
        dev = f"watch-{u:06d}"
        seq[u] += 1
        x, y, z = noise[(u + second) % 64]
        c.publish(f"vitals/v1/{u}/{dev}/accel", orjson.dumps({"v": 1, "user": u, "device": dev, "seq": seq[u], "ts": ts, "kind": "accel", "fs": 25, "x": x, "y": y, "z": z}), qos=1)
        if (u + second) % 5 == 0:
            seq[u] += 1
            c.publish(f"vitals/v1/{u}/{dev}/rr", orjson.dumps({"v": 1, "user": u, "device": dev, "seq": seq[u], "ts": ts, "kind": "rr", "rr_ms": [800, 810, 790, 805, 795, 800]}), qos=1)
        if second >= next_sos and u == sos_user:
            seq[u] += 1
            sos_at[u] = time.monotonic()
            c.publish(f"vitals/v1/{u}/{dev}/event", orjson.dumps({"v": 1, "user": u, "device": dev, "seq": seq[u], "ts": ts + 500, "kind": "event", "event": "sos"}), qos=1)
            sos_user += max(1, users // int(seconds * sos_per_s))
            next_sos += 1.0 / sos_per_s
    # SOS events within this second are spread over users; a user is reached once per second
lag = time.monotonic() - (t0 + seconds)
time.sleep(1.0)
c.disconnect(); c.loop_stop()
print(json.dumps({"sos_at": sos_at, "publisher_lag_s": lag}))
"""


def _users(sessions: Any, n: int) -> None:
    with sessions.begin() as session:
        conn = session.connection()
        meta = sa.MetaData()
        meta.reflect(conn, only=["users", "devices", "emergencyContacts"])
        users, devices, contacts = (
            meta.tables[t] for t in ("users", "devices", "emergencyContacts")
        )
        conn.execute(
            users.insert(),
            [{"id": u, "openId": f"bench-{u}", "name": f"Bench {u}"} for u in range(1, n + 1)],
        )
        conn.execute(
            devices.insert(),
            [{"deviceId": f"watch-{u:06d}", "userId": u, "enabled": True} for u in range(1, n + 1)],
        )
        conn.execute(
            contacts.insert(),
            [
                {"userId": u, "name": f"Contact {u}", "phone": f"+1555{u:07d}", "isPrimary": True}
                for u in range(1, n + 1)
            ],
        )


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    arr = np.asarray(values) * 1000.0
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "max_ms": round(float(arr.max()), 1),
    }


def main() -> dict[str, Any]:
    commit_at: dict[int, float] = {}
    broker_at: dict[int, float] = {}
    with (
        support.private_broker(max_inflight=2000) as url,
        support.database("sqlite") as sessions,
        FakeTwilio() as fake,
    ):
        _users(sessions, USERS)
        port = int(url.rsplit(":", 1)[1])
        wake, stop = threading.Event(), threading.Event()

        def on_alerts(ids: list[int]) -> None:
            now = time.monotonic()
            for alert_id in ids:
                commit_at[alert_id] = now
            wake.set()

        processor = BatchProcessor(sessions, Engine(), on_alerts=on_alerts)
        sender = TwilioSender(
            fake.account_sid,
            fake.auth_token,
            from_number="+15005550006",
            api_base_url=fake.base_url,
        )
        notifier = NotificationService(sessions, sender, NotificationPolicy())
        inbox: queue.Queue[Inbound] = queue.Queue(maxsize=20_000)
        source = MqttSource(url, inbox, client_id=f"bench-lat-{uuid.uuid4().hex[:8]}")
        runner = LiveRunner(processor, inbox, source.ack)
        watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sos-watch")

        def on_sos(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            broker_at[int(message.topic.split("/")[2])] = time.monotonic()

        watcher.on_message = on_sos
        watcher.connect("127.0.0.1", port)
        watcher.subscribe("vitals/v1/+/+/event", qos=1)
        watcher.loop_start()
        threads = [
            threading.Thread(target=runner.run, args=(stop,), name="ingest"),
            threading.Thread(
                target=notifier.run_forever, kwargs={"stop": stop, "wake": wake}, name="notifier"
            ),
        ]
        source.start()
        source.connected.wait(10)
        for thread in threads:
            thread.start()
        load = subprocess.run(
            [
                sys.executable,
                "-c",
                PUBLISHER,
                str(USERS),
                str(SECONDS),
                str(port),
                str(SOS_PER_S),
                str(T_START_SOS_S),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        published = json.loads(load.stdout.strip().splitlines()[-1])
        sos_at = {int(u): t for u, t in published["sos_at"].items()}
        deadline = time.monotonic() + 30
        while len(fake.sends()) < len(sos_at) and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        source.stop()
        watcher.disconnect()
        watcher.loop_stop()
        with sessions() as session:
            alert_user = dict(session.execute(sa.select(HealthAlert.id, HealthAlert.userId)).all())
        sent_at = {
            int(r.form["To"][5:]): r.at
            for r in fake.sends()
            if r.form.get("To", "").startswith("+1555")
        }
    to_commit = [
        commit_at[a] - sos_at[u] for a, u in alert_user.items() if u in sos_at and a in commit_at
    ]
    to_twilio = [sent_at[u] - sos_at[u] for u in sos_at if u in sent_at]
    to_broker = [broker_at[u] - sos_at[u] for u in sos_at if u in broker_at]
    # the pipeline's own share: broker delivery of the SOS -> its alert committed
    after_broker = [
        commit_at[a] - broker_at[u]
        for a, u in alert_user.items()
        if u in broker_at and a in commit_at
    ]
    results = {
        "users": USERS,
        "seconds": SECONDS,
        "sos_events": len(sos_at),
        "publisher_lag_s": round(published["publisher_lag_s"], 2),
        "broker_delivery": _pct(to_broker),
        "publish_to_alert_commit": _pct(to_commit),
        "broker_delivery_to_alert_commit": _pct(after_broker),
        "publish_to_twilio_call": _pct(to_twilio),
        "target_p99_commit_ms": 1000,
        "target_p99_twilio_ms": 2000,
    }
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
