"""The start-up check of the broker's queue bound: Mosquitto's default (1000) drops the
pipeline session's backlog beyond it, so `vitals run` warns when the config it can read
leaves the default (or sets less)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from ingest.broker_queue import broker_queue_warning, mosquitto_queue_bound
from ingest.runner import LiveRunner
from storage.engine import create_engine_from_url
from storage.migrate import upgrade
from tests.conftest import MQTT_URL
from vitals.cli import main
from vitals.commands import run as run_command


@pytest.mark.parametrize(
    ("lines", "bound"),
    [
        ([], 1000),  # not set: Mosquitto's default
        (["max_queued_messages 100000"], 100000),
        (["# max_queued_messages 5", "max_queued_messages 500"], 500),
        (["max_queued_messages 0"], 0),  # unbounded
    ],
)
def test_queue_bound_is_read_from_the_config(tmp_path: Path, lines: list[str], bound: int) -> None:
    config = tmp_path / "mosquitto.conf"
    config.write_text("\n".join(["listener 1883", *lines]) + "\n")
    assert mosquitto_queue_bound(config) == bound


def test_include_dir_is_followed_and_an_unreadable_config_is_no_warning(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "queue.conf").write_text("max_queued_messages 200000\n")
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"max_queued_messages 1000\ninclude_dir {tmp_path / 'conf.d'}\n")
    assert mosquitto_queue_bound(config) == 200000
    assert broker_queue_warning("mqtt://broker:1883", tmp_path / "missing.conf") is None
    assert broker_queue_warning("mqtt://broker.example:1883", None) is None  # not ours to read


@pytest.mark.mosquitto
def test_vitals_run_warns_at_start_up_about_a_default_queue_bound(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "mosquitto.conf"
    config.write_text("listener 1883\npersistence true\n")

    def stop_at_once(self: LiveRunner, stop: threading.Event) -> None:
        raise RuntimeError("the test needs only the start-up")

    monkeypatch.setattr(LiveRunner, "run", stop_at_once)
    monkeypatch.setattr(run_command.signal, "signal", lambda *args: None)  # keep pytest's
    monkeypatch.setenv("VITALS_MQTT_URL", MQTT_URL)
    monkeypatch.setenv("VITALS_DATABASE_URL", sqlite_url)
    upgrade(create_engine_from_url(sqlite_url))  # `vitals run` refuses a missing database
    monkeypatch.setenv("VITALS_MQTT_CLIENT_ID", "vitals-test-queue-bound")
    monkeypatch.setenv("VITALS_MQTT_BROKER_CONFIG", str(config))
    caplog.set_level(logging.WARNING, logger="vitals.run")
    main(["run"])
    assert "queues at most 1000 messages" in caplog.text
    config.write_text("max_queued_messages 100000\n")
    caplog.clear()
    main(["run"])
    assert "queues at most" not in caplog.text
