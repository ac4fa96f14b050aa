"""Fault-injection tools of the reliability tests: a private Mosquitto, a TCP proxy that
can cut a dependency, `vitals run` as a killable process, simulated traces, and a
snapshot of what a database holds (to compare an interrupted run with a clean one)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ingest.metrics import Metrics
from ingest.mqtt_source import MqttSource
from ingest.processor import Inbound
from ingest.replay import Replayer, read_trace
from ingest.runner import LiveRunner
from simulators.generate import Options, simulate
from simulators.plan import population_plan
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import HealthAlert, HealthReading
from tests.netutil import free_port, wait_for_listener
from vitals.commands.register import register_manifest
from vitals.settings import Settings
from vitals.wiring import build_pipeline

MOSQUITTO = "/usr/sbin/mosquitto"
#: A whole minute in the past (2025-11-23), so reading time never runs ahead of wall time.
T0_MS = 1_763_900_000_000 - (1_763_900_000_000 % 60_000)


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout_s:.0f} s")


class PrivateBroker:
    """A Mosquitto of our own on a free port, persistence in ``workdir`` (the machine's
    broker is never touched), optionally with a password file and an ACL."""

    def __init__(
        self,
        workdir: Path,
        *,
        passwd: Path | None = None,
        acl: Path | None = None,
        max_queued_messages: int = 0,
    ) -> None:
        # Mosquitto started as root drops to the 'mosquitto' user: give it a writable dir
        # (pytest's tmp_path is 0700), so its files live in a world-writable temp dir.
        del workdir
        workdir = self.workdir = Path(tempfile.mkdtemp(prefix="vitals-mosquitto-"))
        workdir.chmod(0o777)
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {workdir}/",
            f"max_queued_messages {max_queued_messages}",
            "max_inflight_messages 100",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if passwd is not None:
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            lines.append(f"acl_file {acl}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_listener(self.port, self.process):
            raise AssertionError(f"private mosquitto did not start: {self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        """Stop and delete the persistence and log."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; :meth:`cut` closes every connection and
    refuses new ones (the dependency is 'down') until :meth:`restore`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = int(self.server.getsockname()[1])
        self.up = threading.Event()
        self.up.set()
        self.stopped = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.refused = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            sockets, self.sockets = self.sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.stopped.set()
        self.cut()
        self.server.close()


class PipelineProcess:
    """`vitals run` in a subprocess with its own log file; SIGKILL-able."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vitals.cli", "run"],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.starts += 1
        deadline = time.monotonic() + 120  # a busy machine: imports alone take seconds
        while self.log_path.read_bytes().count(b"connected to") < self.starts:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(self.log_path.read_text())
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def pipeline_env(database_url: str, mqtt_url: str, outbox: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(
        VITALS_DATABASE_URL=database_url,
        VITALS_MQTT_URL=mqtt_url,
        VITALS_MQTT_CLIENT_ID=f"vitals-rel-{os.getpid()}-{time.monotonic_ns()}",
        VITALS_SMS_OUTBOX_PATH=str(outbox),
        VITALS_IDLE_FLUSH_SECONDS="2",
        VITALS_ESCALATION_DELAY_SECONDS="1000000",
        VITALS_SMS_PER_USER_PER_HOUR="1000",
    )
    env.update(extra)
    return env


def simulated_trace(workdir: Path, seed: int, *, users: int = 3, hours: float = 0.25) -> Path:
    """A seeded population trace with falls and SOS presses (alerts that text contacts)."""
    plan = population_plan(users, hours, seed, {"sos": 1.0, "fall": 0.5}, T0_MS)
    trace = workdir / f"trace-{seed}.jsonl"
    simulate(plan, trace, Options(accel_batch_ms=5000, compresslevel=0))
    return trace


@dataclass(frozen=True)
class Snapshot:
    """What a database holds after a run, in comparable form."""

    readings: Counter[tuple[object, ...]]
    alerts: Counter[tuple[object, ...]]

    @classmethod
    def of(cls, sessions: sessionmaker[Session]) -> Snapshot:
        with sessions() as session:
            readings = Counter(
                _normal(row)
                for row in session.execute(
                    select(
                        HealthReading.userId,
                        HealthReading.createdAt,
                        HealthReading.readingType,
                        HealthReading.heartRate,
                        HealthReading.hrv,
                        HealthReading.stressLevel,
                        HealthReading.arrhythmiaDetected,
                    )
                )
            )
            alerts = Counter(
                _normal(row)
                for row in session.execute(
                    select(
                        HealthAlert.userId,
                        HealthAlert.alertType,
                        HealthAlert.severity,
                        HealthAlert.createdAt,
                    )
                )
            )
        return cls(readings, alerts)


def _normal(row: Sequence[object]) -> tuple[object, ...]:
    """Backend-neutral values: aware UTC times, floats rounded to 0.01, bools as ints."""
    out: list[object] = []
    for value in row:
        if isinstance(value, datetime):
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
            out.append(aware.astimezone(UTC))
        elif isinstance(value, Decimal | float):
            out.append(round(float(value), 2))
        elif isinstance(value, bool):
            out.append(int(value))
        else:
            out.append(value)
    return tuple(out)


_HR = re.compile(r"HR \d+ bpm")


def outbox_texts(path: Path) -> Counter[tuple[str, str]]:
    """(to, body) of every text in an outbox file, counted; the heart rate in the body is
    blanked (an open alert's HR is updated while it lasts, so a text sent a moment later
    quotes a newer value: same alert, same contact)."""
    if not path.exists():
        return Counter()
    texts: Counter[tuple[str, str]] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts[(record["to"], _HR.sub("HR … bpm", record["body"]))] += 1
    return texts


class InProcessPipeline:
    """`vitals run` wired in this process (same pieces as the command), so a test can read
    its metrics while it cuts a dependency."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.pipeline = build_pipeline(settings, sessions)
        self.pipeline.processor.retry_max_s = 1.0  # scaled down with the outages
        self.inbox: queue.Queue[Inbound] = queue.Queue(maxsize=settings.mqtt_queue_size)
        self.source = MqttSource(
            settings.mqtt_url,
            self.inbox,
            client_id=f"vitals-rel-{time.monotonic_ns()}",
        )
        self.runner = LiveRunner(
            self.pipeline.processor,
            self.inbox,
            self.source.ack,
            idle_flush_s=settings.idle_flush_seconds,
            connected=self.source.connected,
            reconnect_grace_s=settings.reconnect_grace_seconds,
        )
        self.worker = threading.Thread(target=self.runner.run, args=(self.pipeline.stop,))

    @property
    def metrics(self) -> Metrics:
        return self.pipeline.metrics

    def start(self) -> None:
        self.pipeline.start_notifier()
        self.source.start()
        if not self.source.connected.wait(10):
            raise AssertionError("pipeline did not connect to the broker")
        self.worker.start()

    def stop(self) -> None:
        self.pipeline.stop.set()
        self.worker.join(timeout=30)
        self.source.stop()


def reference_run(trace: Path, workdir: Path) -> tuple[Snapshot, Path]:
    """The trace through the in-process Replayer into a fresh SQLite database, uninterrupted
    (escalation off, no rate limit: one text per alert to its first contact)."""
    outbox = workdir / "reference-outbox.jsonl"
    settings = Settings(
        database_url=f"sqlite:///{workdir}/reference.db",
        sms_outbox_path=outbox,
        escalation_delay_seconds=1_000_000,
        sms_per_user_per_hour=1000,
    )
    engine = create_engine_from_url(settings.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    register_manifest(trace, sessions)
    pipeline = build_pipeline(settings, sessions)
    Replayer(pipeline.processor, clock_step=pipeline.notifier.process_due).run(read_trace(trace))
    snapshot = Snapshot.of(sessions)
    engine.dispose()
    return snapshot, outbox
