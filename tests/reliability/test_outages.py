"""Dependencies failing under load, scaled down to seconds so CI stays fast (the soak
command runs the long versions): MariaDB cut off behind a TCP proxy, the private
Mosquitto restarted, the Twilio API answering 429/5xx/timeouts. Each time the pipeline
recovers by itself, drains its backlog, and stores exactly what an uninterrupted replay
of the same trace stores; the outage shows in the metrics and logs."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from ingest.replay import read_trace
from notifier.policy import NotificationPolicy
from notifier.senders import TwilioSender
from notifier.service import NotificationService
from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import SmsNotification
from storage.repositories.devices import add_device
from storage.repositories.people import add_contact, add_user
from tests.notifier.fake_twilio import FakeTwilio, Reply
from tests.reliability.harness import (
    T0_MS,
    InProcessPipeline,
    PrivateBroker,
    Snapshot,
    TcpProxy,
    outbox_texts,
    reference_run,
    simulated_trace,
    wait_for,
)
from tests.reliability.report import record
from vitals.commands.register import register_manifest
from vitals.settings import Settings

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb, pytest.mark.slow]

DB_OUTAGE_S = 5.0  # the 60 s, scaled down; `bench.soak` runs long outages


def _settings(
    database_url: str, broker: PrivateBroker, outbox: Path, idle_flush_s: float = 2
) -> Settings:
    return Settings(
        database_url=database_url,
        mqtt_url=broker.url,
        sms_outbox_path=outbox,
        idle_flush_seconds=idle_flush_s,
        escalation_delay_seconds=1_000_000,
        sms_per_user_per_hour=1000,
    )


def test_mariadb_cut_off_under_load_recovers_and_loses_nothing(
    clean_mysql_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trace = simulated_trace(tmp_path, 5)
    expected, reference_outbox = reference_run(trace, tmp_path)
    direct = create_engine_from_url(clean_mysql_url)
    upgrade(direct)
    truth = session_factory(direct)
    register_manifest(trace, truth)
    url = make_url(clean_mysql_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    broker = PrivateBroker(tmp_path)
    broker.start()
    outbox = tmp_path / "outbox.jsonl"
    engine = create_engine_from_url(proxied)
    pipeline = InProcessPipeline(_settings(proxied, broker, outbox), session_factory(engine))
    pipeline.runner.device_reload_s = 0.5  # the periodic device reload also meets the outage
    lines = list(read_trace(trace))
    caplog.set_level(logging.INFO)
    try:
        pipeline.start()
        publisher = threading.Thread(
            target=publish_trace, args=(lines, broker.url), kwargs={"speed": 300.0}
        )
        proxy.cut()  # MariaDB unreachable: open connections die, new ones refused
        time.sleep(1.5)  # idle: the periodic device reload meets the outage
        publisher.start()  # load: device lookups, checkpoint loads and commits meet it
        time.sleep(DB_OUTAGE_S - 1.5)
        queued_during_outage = pipeline.inbox.qsize()
        proxy.restore()
        publisher.join()
        wait_for(lambda: Snapshot.of(truth).readings == expected.readings, 40, "backlog drained")
        wait_for(lambda: outbox_texts(outbox) == outbox_texts(reference_outbox), 20, "texts")
        assert pipeline.worker.is_alive()  # recovered by itself, no restart
    finally:
        pipeline.stop()
        proxy.close()
        broker.close()
        engine.dispose()
    got = Snapshot.of(truth)
    direct.dispose()
    assert got.alerts == expected.alerts
    db_errors = pipeline.metrics.value("vitals_db_errors_total")
    assert db_errors >= 1  # the outage is visible in the metrics ...
    assert re.search(r"database (read|write) failed", caplog.text)  # ... and in the logs
    assert proxy.refused >= 1
    record(
        "outage",
        f"MariaDB cut off for {DB_OUTAGE_S:g} s under load (TCP proxy)",
        messages=len(lines),
        queued_at_peak=queued_during_outage,
        db_errors=int(db_errors),
        readings=sum(got.readings.values()),
        alerts=sum(got.alerts.values()),
        sms=sum(outbox_texts(outbox).values()),
        lost=0,
    )


def test_mosquitto_restart_mid_stream_loses_nothing(clean_mysql_url: str, tmp_path: Path) -> None:
    """The private broker is stopped (SIGTERM, it saves its persistence file) while the
    pipeline's session has messages queued, and started again on the same port.

    Deterministic: every step waits for a condition (the pipeline saw the broker go, came
    back, and drained the session's backlog) rather than for a lucky moment; windows are
    held while disconnected and for a grace after reconnecting, so the backlog is never
    refused as late (the reordering itself: tests/ingest/test_runner_grace.py)."""
    trace = simulated_trace(tmp_path, 9)
    expected, reference_outbox = reference_run(trace, tmp_path)
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    register_manifest(trace, sessions)
    broker = PrivateBroker(tmp_path)
    broker.start()
    outbox = tmp_path / "outbox.jsonl"
    pipeline = InProcessPipeline(
        _settings(clean_mysql_url, broker, outbox, idle_flush_s=5), sessions
    )
    lines = list(read_trace(trace))
    half = len(lines) // 2
    backlog: dict[str, int] = {}  # the highest seq of each device in the first half
    for line in lines[:half]:
        obj = orjson.loads(line)
        backlog[obj["device"]] = max(backlog.get(obj["device"], 0), obj["seq"])
    last_seq = pipeline.pipeline.processor.last_seq
    try:
        pipeline.start()
        publish_trace(lines[:half], broker.url)  # acknowledged by the broker: its to keep
        broker.stop()
        wait_for(lambda: not pipeline.source.connected.is_set(), 20, "pipeline saw it go")
        broker.start()
        wait_for(pipeline.source.connected.is_set, 20, "pipeline reconnected")
        wait_for(
            lambda: all(last_seq.get(d) == seq for d, seq in backlog.items()),
            60,
            "the session's backlog committed",
        )
        publish_trace(lines[half:], broker.url)
        wait_for(lambda: Snapshot.of(sessions).readings == expected.readings, 40, "all stored")
        wait_for(lambda: outbox_texts(outbox) == outbox_texts(reference_outbox), 20, "texts")
    finally:
        pipeline.stop()
        broker.close()
    got = Snapshot.of(sessions)
    engine.dispose()
    assert got.alerts == expected.alerts
    record(
        "outage",
        "private Mosquitto stopped and restarted mid-stream (persistence on)",
        messages=len(lines),
        readings=sum(got.readings.values()),
        alerts=sum(got.alerts.values()),
        sms=sum(outbox_texts(outbox).values()),
        lost=0,
    )


class OutageTwilio(FakeTwilio):
    """The fake Twilio with a switchable outage: every POST gets ``reply`` while set."""

    def outage(self, reply: Reply | None, numbers: list[str]) -> None:
        with self._lock:
            for number in numbers:
                if reply is None:
                    self._rules.pop(number, None)
                else:
                    self._rules[number] = reply


def test_twilio_429_5xx_and_timeouts_for_a_while_every_text_sent_once(
    clean_mysql_url: str, tmp_path: Path
) -> None:
    """SOS alerts of 8 users from the pipeline; Twilio answers 429, then 503, then hangs
    past the client timeout, 6 s in all (scaled down from minutes, retry backoff scaled
    with it); then it recovers. Every contact gets exactly one created message."""
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    phones = [f"+1555010{9000 + n:04d}" for n in range(8)]
    messages = []
    with sessions.begin() as session:
        for n, phone in enumerate(phones):
            user = add_user(session, open_id=f"twilio-outage-{n}")
            add_device(session, user_id=user.id, device_id=f"tw-watch-{n}")
            add_contact(session, user_id=user.id, name=f"C{n}", phone=phone, is_primary=True)
            payload = {"v": 1, "user": user.id, "device": f"tw-watch-{n}", "seq": 1,
                       "ts": T0_MS + 1000 * n, "kind": "event", "event": "sos"}  # fmt: skip
            messages.append(Inbound(None, orjson.dumps(payload)))
    processor = BatchProcessor(sessions, Engine())
    assert len(processor.handle(messages).alerts_opened) == len(phones)
    policy = NotificationPolicy(escalation_delay_s=1_000_000, backoff_base_s=0.2, backoff_cap_s=1.0)
    fake = OutageTwilio()
    with fake:
        sender = TwilioSender(
            fake.account_sid,
            fake.auth_token,
            from_number="+15005550006",
            api_base_url=fake.base_url,
            timeout_s=0.5,
        )
        service = NotificationService(sessions, sender, policy, rng=random.Random(3))
        stop = threading.Event()
        loop = threading.Thread(target=service.run_forever, args=(stop,))
        fake.outage(Reply(429), phones)
        loop.start()
        try:
            time.sleep(2.0)
            fake.outage(Reply(503), phones)
            time.sleep(2.0)
            fake.outage(Reply(504, delay_s=1.0), phones)  # answer later than the timeout
            time.sleep(2.0)
            fake.outage(None, phones)
            wait_for(lambda: all(fake.created_to(p) == 1 for p in phones), 30, "texts sent")
            time.sleep(1.0)  # nothing more arrives later
        finally:
            stop.set()
            loop.join(timeout=10)
        attempts = len(fake.sends())
    assert [fake.created_to(p) for p in phones] == [1] * len(phones)
    with sessions() as session:
        statuses = session.scalars(select(SmsNotification.status)).all()
    engine.dispose()
    assert sorted(statuses) == ["queued"] * len(phones)
    assert attempts > 2 * len(phones)  # the outage was really hit, and retried through
    record(
        "outage",
        "Twilio API answering 429, then 503, then timing out, 6 s in all",
        alerts=len(phones),
        api_calls=attempts,
        sms=len(phones),
        lost=0,
    )
