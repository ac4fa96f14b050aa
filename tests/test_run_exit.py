"""`vitals run` exits non-zero when its ingest worker dies, so a supervisor restarts it
(the unacknowledged messages stay with the broker)."""

from __future__ import annotations

import threading

import pytest

from ingest.runner import LiveRunner
from tests.conftest import MQTT_URL
from vitals.cli import main
from vitals.commands import run as run_command


@pytest.mark.mosquitto
def test_run_exits_1_when_the_worker_dies(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    def broken(self: LiveRunner, stop: threading.Event) -> None:
        raise RuntimeError("simulated defect in the worker")

    monkeypatch.setattr(LiveRunner, "run", broken)
    monkeypatch.setattr(run_command.signal, "signal", lambda *args: None)  # keep pytest's
    monkeypatch.setenv("VITALS_MQTT_URL", MQTT_URL)
    monkeypatch.setenv("VITALS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("VITALS_MQTT_CLIENT_ID", "vitals-test-exit")
    assert main(["db", "upgrade"]) == 0  # `vitals run` never creates a database
    assert main(["run"]) == 1
