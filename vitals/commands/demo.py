"""``vitals demo``: the whole product on the embedded default, in about a minute.

An in-process MQTT broker (amqtt), SQLite and the SMS outbox; a scripted hour of five
wearers (an AF episode, a fall, tachycardia at rest, an SOS, and a cancelled fall plus a
jump that must *not* alert) is simulated and published by its devices at 120× real time;
the live pipeline (the same one as ``vitals run``) turns it into readings, alerts and
texts, with a live progress line and a summary at the end.
"""

from __future__ import annotations

import argparse
import io
import logging
import queue
import shutil
import sys
import threading
import time
from datetime import datetime
from importlib import resources
from pathlib import Path

from ingest.embedded_broker import EmbeddedBroker
from ingest.mqtt_source import MqttSource
from ingest.processor import Inbound
from ingest.replay import read_trace
from ingest.runner import LiveRunner
from simulators.generate import Options, simulate
from simulators.plan import scenario_plan
from simulators.publisher import publish_trace
from storage.repositories.status import raised_alerts
from storage.types import utc_from_ms
from vitals.commands.common import DbMode, Subparsers, add_command, open_database
from vitals.commands.register import register_manifest
from vitals.errors import VitalsError
from vitals.settings import Settings
from vitals.wiring import Pipeline, build_pipeline


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        _demo,
        "run the embedded demo: in-process broker, SQLite, SMS outbox",
        __doc__ or "",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("demo-output"), help="recreated for each run"
    )
    parser.add_argument("--speed", type=float, default=120.0, help="reading time x real time")
    parser.add_argument("--scenario", type=Path, help="a scenario JSON instead of the built-in")


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{workdir / 'vitals.db'}",
            "sms_outbox_path": workdir / "outbox.jsonl",
            "twilio_account_sid": None,
            "twilio_auth_token": None,
        }
    )
    scenario = args.scenario or Path(str(resources.files("vitals") / "scenarios" / "demo.json"))
    print(f"vitals demo: simulating {scenario.name} ...")
    trace = workdir / "trace.jsonl.gz"
    simulate(scenario_plan(scenario), trace, Options(accel_batch_ms=5000))
    _, sessions = open_database(settings, DbMode.CREATE)
    register_manifest(trace, sessions)

    broker = EmbeddedBroker()
    broker.start()
    for noisy in ("notifier", "ingest"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pipeline = build_pipeline(settings, sessions, console=_LineConsole())
    inbox: queue.Queue[Inbound] = queue.Queue(maxsize=settings.mqtt_queue_size)
    source = MqttSource(broker.url, inbox, client_id="vitals-demo")
    source.start()
    source.connected.wait(10)

    def reading_clock() -> datetime:
        return utc_from_ms(pipeline.processor.reading_now_ms or 1)

    pipeline.start_notifier(clock=reading_clock)  # escalation in reading time
    runner_stop = threading.Event()
    runner = LiveRunner(pipeline.processor, inbox, source.ack, idle_flush_s=3600)
    worker = threading.Thread(target=runner.run, args=(runner_stop,), name="ingest")
    worker.start()

    lines = list(read_trace(trace))
    print(
        f"vitals demo: {len(lines):,} messages from 5 wearers over 1 h of reading time, "
        f"published at {args.speed:g}x through the in-process broker {broker.url}"
    )
    publisher = threading.Thread(
        target=publish_trace, args=(lines, broker.url), kwargs={"speed": args.speed}
    )
    started = time.perf_counter()
    publisher.start()
    while publisher.is_alive() or not inbox.empty():
        if not worker.is_alive():
            raise VitalsError("the pipeline's worker stopped; see the error above")
        _progress(pipeline, started)
        time.sleep(0.5)
    _wait_settled(pipeline, len(lines))
    runner_stop.set()
    worker.join()
    pipeline.processor.flush()
    pipeline.notifier.process_due(reading_clock())
    pipeline.stop.set()
    source.stop()
    broker.stop()
    _progress(pipeline, started)
    print()
    _summary(pipeline, settings, workdir)
    return 0


class _LineConsole(io.StringIO):
    """Texts printed on lines of their own above the progress line."""

    def write(self, text: str) -> int:
        sys.stdout.write("\r\033[K" + text)
        sys.stdout.flush()
        return len(text)


def _wait_settled(pipeline: Pipeline, expected: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pipeline.metrics.value("vitals_messages_total") >= expected:
            return
        time.sleep(0.2)


def _progress(pipeline: Pipeline, started: float) -> None:
    summary = pipeline.metrics.summary()
    elapsed = time.perf_counter() - started
    now_ms = pipeline.processor.reading_now_ms
    clock = utc_from_ms(now_ms).strftime("%H:%M") if now_ms else "--:--"
    sys.stdout.write(
        f"\r  reading time {clock}  {summary['messages']:>7,.0f} msgs "
        f"({summary['messages'] / max(elapsed, 1e-9):>5,.0f}/s)  "
        f"{summary['readings']:>4,.0f} readings  {summary['alerts_opened']:>2,.0f} alerts  "
        f"{summary['dead_letters']:>3,.0f} dead letters"
    )
    sys.stdout.flush()


def _summary(pipeline: Pipeline, settings: Settings, workdir: Path) -> None:
    _, sessions = open_database(settings, announce=False)
    with sessions() as session:
        alerts = raised_alerts(session)
    print(f"\nAlerts raised ({len(alerts)}):")
    for a in alerts:
        when = a.created_at.strftime("%H:%M") if a.created_at else "?"
        print(
            f"  {when}  {a.severity:<8} {a.kind:<16} {a.user_name:<14} {a.message}"
            f"  [{a.texts_sent} text(s)]"
        )
    print(f"\nTexts are in {settings.sms_outbox_path} (no Twilio credentials set).")
    print(next_steps(settings.database_url))


def next_steps(database_url: str) -> str:
    """The commands that look at the demo's own database (printed at the end)."""
    db = f"--db {database_url}"
    return "\n".join(
        (
            f"Database: {database_url}. Look at it with (the CLI is .venv/bin/vitals):",
            f"  vitals alerts {db}",
            f"  vitals keys create --role admin --name demo {db}    # prints an API key once",
            f"  vitals api {db}    # open http://127.0.0.1:8000/ and paste the key",
        )
    )
