"""Loss at the broker is visible: a private Mosquitto with a small queue bound drops
messages while the pipeline is not taking them (the issue's live run lost 55 % of a fast
publisher's messages at Mosquitto's default of 1000 and reported nothing). Each device
numbers its messages, so the pipeline counts every missing one (`vitals_seq_gaps_total`,
`devices.seqGaps`), logs it, and `vitals status` fails."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import Device
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.reliability.harness import T0_MS, InProcessPipeline, PrivateBroker, wait_for
from tests.reliability.report import record
from vitals.cli import main
from vitals.settings import Settings

pytestmark = [pytest.mark.mosquitto, pytest.mark.mariadb, pytest.mark.slow]

QUEUE_BOUND = 20
PUBLISHED = 400


def _rr(user: int, seq: int) -> bytes:
    payload = {"v": 1, "user": user, "device": "loss-watch", "seq": seq,
               "ts": T0_MS + 1000 * seq, "kind": "rr", "rr_ms": [1000.0]}  # fmt: skip
    return orjson.dumps(payload)


def _publish_until_one_arrives(user: int, broker: PrivateBroker, last_seq: dict[str, int]) -> int:
    """The device goes on publishing, one message at a time, until one gets through the
    broker's full queue (each attempt waits for its condition); returns its seq."""
    for seq in range(PUBLISHED + 1, PUBLISHED + 30):
        publish_trace([_rr(user, seq)], broker.url)
        try:
            wait_for(lambda s=seq: last_seq.get("loss-watch") == s, 10, f"seq {seq} arrived")
        except AssertionError:
            continue  # dropped as well: counted as a gap by the next one that arrives
        return seq
    raise AssertionError("no message got through the broker")


def test_messages_the_broker_drops_are_counted_logged_and_fail_status(
    clean_mysql_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        user = add_user(session, open_id="loss-1").id
        add_device(session, user_id=user, device_id="loss-watch")
    broker = PrivateBroker(tmp_path, max_queued_messages=QUEUE_BOUND)
    broker.start()
    settings = Settings(database_url=clean_mysql_url, mqtt_url=broker.url, idle_flush_seconds=3600)
    pipeline = InProcessPipeline(settings, sessions)
    processor = pipeline.pipeline.processor
    caplog.set_level(logging.WARNING, logger="ingest.processor")
    try:
        pipeline.source.start()  # connected, but the worker does not take messages yet:
        wait_for(pipeline.source.connected.is_set, 20, "pipeline connected")
        publish_trace([_rr(user, seq) for seq in range(1, PUBLISHED + 1)], broker.url)
        pipeline.worker.start()  # now it drains what the broker kept ...
        published_last = _publish_until_one_arrives(user, broker, processor.last_seq)
    finally:
        pipeline.stop()
        broker_log = broker.log.read_text() if broker.log.exists() else ""
        broker.close()
    received = int(processor.metrics.value("vitals_readings_accepted_total"))
    gaps = int(processor.metrics.value("vitals_seq_gaps_total"))
    assert received < published_last  # the broker did drop messages ...
    assert gaps == published_last - received  # ... and every one of them is counted
    assert "Outgoing messages are being dropped" in broker_log
    with sessions() as session:
        device = session.scalars(select(Device).where(Device.deviceId == "loss-watch")).one()
        assert device.seqGaps == gaps
    assert "messages missing from loss-watch" in caplog.text
    monkeypatch.setenv("VITALS_DATABASE_URL", clean_mysql_url)
    capsys.readouterr()
    assert main(["status"]) == 1
    assert f"loss-watch: {gaps} missing" in capsys.readouterr().out
    engine.dispose()
    record(
        "broker loss",
        f"private Mosquitto with max_queued_messages {QUEUE_BOUND}, pipeline not taking",
        published=published_last,
        received=received,
        counted_missing=gaps,
        lost=published_last - received - gaps,  # lost *unseen*
    )
