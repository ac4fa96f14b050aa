"""The ``vitals run`` path against a real Mosquitto vs the broker's own delivery rate.

Broker: a private Mosquitto 2 (``bench.support.private_broker``: ``max_inflight_messages
2000`` = the runner's ``batch_max``, unlimited queue, no persistence), because the
system broker's default of 20 in-flight messages caps any consumer that acknowledges
only after its batch is committed at 20 messages per commit.

Message mix: a seeded population trace (``USERS`` users x ``MINUTES`` min, RR every 5 s
and 25 Hz accelerometer every 1 s per user, ~0.3 KB per accel message), published by
``simulators.publisher.publish_trace`` (QoS 1, as fast as the broker acknowledges) from a
separate process, once per measurement, in the same run:

1. **broker baseline**: a paho subscriber (QoS 1, automatic acknowledgement) whose
   callback only counts;
2. **vitals run**: ``MqttSource`` (persistent session, manual ack) -> bounded inbox ->
   ``LiveRunner`` -> ``BatchProcessor`` (decode, engine, one SQLite transaction per
   batch) -> acknowledgement after commit.

Rate = messages / (time of the last - time of the first delivery) for the baseline and
(last - first acknowledgement after commit) for the pipeline. Target: pipeline >= 70 %
of the baseline.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import support
from ingest.engine import Engine
from ingest.mqtt_source import MqttSource
from ingest.processor import BatchProcessor, Inbound
from ingest.runner import LiveRunner
from ingest.topics import SUBSCRIPTION

USERS = int(os.environ.get("BENCH_MQTT_USERS", "100"))
MINUTES = int(os.environ.get("BENCH_MQTT_MINUTES", "10"))
TARGET_SHARE = 0.70
TIMEOUT_S = 600.0


def _publish(trace: Path, url: str) -> subprocess.Popen[str]:
    code = (
        "import sys; from pathlib import Path; from ingest.replay import read_trace; "
        "from simulators.publisher import publish_trace; "
        "r = publish_trace(read_trace(Path(sys.argv[1])), sys.argv[2]); "
        "print(r.messages, r.wall_s)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(trace), url], stdout=subprocess.PIPE, text=True
    )


class _Clock:
    """Count events; remember the first and the last time."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first = self.last = 0.0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def tick(self, n: int = 1) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.count == 0:
                self.first = now
            self.count += n
            self.last = now
            if self.count >= self.expected:
                self.done.set()

    def rate(self) -> float:
        return (self.count - 1) / (self.last - self.first) if self.last > self.first else 0.0


def broker_baseline(trace: Path, url: str, expected: int) -> dict[str, Any]:
    clock = _Clock(expected)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-noop-{uuid.uuid4().hex}")
    client.on_message = lambda *_: clock.tick()
    port = int(url.rsplit(":", 1)[1])
    client.connect("127.0.0.1", port)
    client.subscribe(SUBSCRIPTION, qos=1)
    client.loop_start()
    time.sleep(0.5)
    publisher = _publish(trace, url)
    clock.done.wait(TIMEOUT_S)
    publisher.wait()
    client.disconnect()
    client.loop_stop()
    return {
        "messages": clock.count,
        "wall_s": round(clock.last - clock.first, 2),
        "messages_per_s": round(clock.rate()),
    }


def vitals_run(trace: Path, url: str, expected: int) -> dict[str, Any]:
    clock = _Clock(expected)
    with support.database("sqlite") as sessions:
        support.register(trace, sessions)
        processor = BatchProcessor(sessions, Engine())
        inbox: queue.Queue[Inbound] = queue.Queue(maxsize=10_000)
        source = MqttSource(url, inbox, client_id=f"bench-vitals-{uuid.uuid4().hex[:8]}")

        def ack(message: Inbound) -> None:
            source.ack(message)
            clock.tick()

        runner = LiveRunner(processor, inbox, ack)
        stop = threading.Event()
        worker = threading.Thread(target=runner.run, args=(stop,), name="ingest")
        source.start()
        source.connected.wait(10)
        time.sleep(0.5)
        worker.start()
        publisher = _publish(trace, url)
        clock.done.wait(TIMEOUT_S)
        publisher.wait()
        stop.set()
        worker.join()
        source.stop()
        accepted = int(processor.metrics.accepted._value.get())
    return {
        "messages": clock.count,
        "accepted": accepted,
        "wall_s": round(clock.last - clock.first, 2),
        "messages_per_s": round(clock.rate()),
        "batches": int(processor.metrics.batches._value.get()),
    }


def main() -> dict[str, Any]:
    trace = support.trace(USERS, MINUTES)
    expected = len(support.trace_lines(trace))
    with support.private_broker() as url:
        base = broker_baseline(trace, url, expected)
        print(f"broker -> no-op subscriber: {base['messages_per_s']:,} msg/s")
        ours = vitals_run(trace, url, expected)
        print(f"broker -> vitals run (committed, acked): {ours['messages_per_s']:,} msg/s")
    share = ours["messages_per_s"] / base["messages_per_s"] if base["messages_per_s"] else 0.0
    return {
        "users": USERS,
        "minutes": MINUTES,
        "messages": expected,
        "broker_noop_subscriber": base,
        "vitals_run_sqlite": ours,
        "share_of_broker_rate": round(share, 3),
        "target_share": TARGET_SHARE,
    }


if __name__ == "__main__":
    main()
