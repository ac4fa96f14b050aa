"""Dependencies failing under load, scaled down to seconds so CI stays fast (the soak
command runs the long versions): MariaDB cut off behind a TCP proxy, the private
Mosquitto restarted, the Twilio API answering 429/5xx/timeouts. Each time the pipeline
recovers by itself, drains its backlog, and stores exactly what an uninterrupted replay
of the same trace stores; the outage shows in the metrics and logs."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ingest.replay import read_trace
from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from tests.reliability.harness import (
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


def _settings(database_url: str, broker: PrivateBroker, outbox: Path) -> Settings:
    return Settings(
        database_url=database_url,
        mqtt_url=broker.url,
        sms_outbox_path=outbox,
        idle_flush_seconds=2,
        escalation_delay_seconds=1_000_000,
        sms_per_user_per_hour=1000,
    )


def test_mariadb_cut_off_under_load_recovers_and_loses_nothing(
    mysql_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trace = simulated_trace(tmp_path, 5)
    expected, reference_outbox = reference_run(trace, tmp_path)
    direct = create_engine_from_url(mysql_url)
    upgrade(direct)
    truth = session_factory(direct)
    register_manifest(trace, truth)
    url = make_url(mysql_url)
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
        broker.stop()
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
