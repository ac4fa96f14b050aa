"""Soak: `vitals run` under simulated load for a long time with periodic faults, then
readings in = readings stored, alerts expected = alerts stored, SMS expected = SMS sent.

``python -m bench.soak --minutes 30`` (not in CI). A seeded population trace is published
over a private Mosquitto, paced so that publishing lasts ``--minutes``; every
``--fault-every`` seconds one fault from the cycle is injected:

- ``kill``: SIGKILL of `vitals run`, restarted 1 s later;
- ``db``: MariaDB cut off behind a TCP proxy for ``--db-outage`` seconds;
- ``broker``: the private Mosquitto stopped and restarted (persistence on);
- ``twilio``: the fake Twilio answering 503 for ``--twilio-outage`` seconds.

"Expected" is an uninterrupted in-process replay of the same trace into SQLite. The tools
(private broker, TCP proxy, fake Twilio) are the reliability tests' own.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ingest.replay import read_trace
from simulators.generate import Options, simulate
from simulators.plan import population_plan
from simulators.publisher import publish_trace
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import EmergencyContact
from tests.notifier.fake_twilio import FakeTwilio, Reply
from tests.reliability.harness import (
    T0_MS,
    PipelineProcess,
    PrivateBroker,
    Snapshot,
    TcpProxy,
    outbox_texts,
    pipeline_env,
    reference_run,
    wait_for,
)
from vitals.commands.register import register_manifest

FAULTS = ("kill", "db", "broker", "twilio")
RATES = {"sos": 0.3, "fall": 0.3, "tachy": 0.2, "brady": 0.1, "af": 0.1}


def _trace(workdir: Path, users: int, hours: float, seed: int) -> Path:
    trace = workdir / "soak.jsonl"
    plan = population_plan(users, hours, seed, RATES, T0_MS)
    simulate(plan, trace, Options(accel_batch_ms=5000, compresslevel=0))
    return trace


def run(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="vitals-soak-"))
    trace = _trace(workdir, args.users, args.hours, args.seed)
    lines = list(read_trace(trace))
    print(f"soak: {len(lines):,} messages, {args.users} users, {args.hours:g} h reading time")
    expected, reference_outbox = reference_run(trace, workdir)
    server = create_engine_from_url(args.mysql)
    name = f"vitals_soak_{secrets.token_hex(4)}"
    with server.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = make_url(args.mysql).set(database=name)
    direct = create_engine_from_url(url.render_as_string(hide_password=False))
    upgrade(direct)
    truth = session_factory(direct)
    register_manifest(trace, truth)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    broker = PrivateBroker(workdir)
    broker.start()
    fake = FakeTwilio()
    fake.__enter__()
    env = pipeline_env(
        proxied,
        broker.url,
        workdir / "unused-outbox.jsonl",
        VITALS_TWILIO_ACCOUNT_SID=fake.account_sid,
        VITALS_TWILIO_AUTH_TOKEN=fake.auth_token,
        VITALS_TWILIO_FROM_NUMBER="+15005550006",
        VITALS_TWILIO_API_BASE_URL=fake.base_url,
        # the trace is published in chunks every few seconds: a user is not 'silent'
        # between two chunks (the tests' 2 s would close windows before their data came)
        VITALS_IDLE_FLUSH_SECONDS=str(args.idle_flush),
    )
    pipeline = PipelineProcess(env, workdir / "pipeline.log")
    pipeline.start()
    rng = random.Random(args.seed)
    faults: Counter[str] = Counter()
    phones: set[str] = set()
    chunk = max(200, len(lines) // max(1, int(args.minutes * 60 / 5)))
    started = time.monotonic()
    next_fault = started + args.fault_every
    fault_index = 0
    published = 0
    twilio_until = 0.0
    try:
        while published < len(lines):
            due = started + published / len(lines) * args.minutes * 60
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            if time.monotonic() >= next_fault:
                fault = FAULTS[fault_index % len(FAULTS)]
                fault_index += 1
                faults[fault] += 1
                print(f"  t={time.monotonic() - started:6.0f} s  fault: {fault}", flush=True)
                if fault == "kill":
                    pipeline.kill()
                    time.sleep(1.0)
                    pipeline.start()
                elif fault == "db":
                    proxy.cut()
                    threading.Timer(args.db_outage, proxy.restore).start()
                elif fault == "broker":
                    broker.stop()
                    time.sleep(rng.uniform(1.0, 3.0))
                    broker.start()
                else:
                    phones = {c for u in _contacts(truth) for c in u}
                    for phone in phones:
                        fake.rule(phone, Reply(503))
                    twilio_until = time.monotonic() + args.twilio_outage
                next_fault += args.fault_every
            if twilio_until and time.monotonic() >= twilio_until:
                with fake._lock:  # end of the Twilio outage
                    fake._rules.clear()
                twilio_until = 0.0
            part = lines[published : published + chunk]
            publish_trace(part, broker.url)
            published += len(part)
        with fake._lock:
            fake._rules.clear()
        proxy.restore()
        wait_for(lambda: Snapshot.of(truth).readings == expected.readings, 600, "all stored")
        want = _alert_texts(outbox_texts(reference_outbox))
        wait_for(lambda: _sent(fake) == want, 900, "all texts sent")
        pipeline.stop()
    finally:
        if pipeline.alive():
            pipeline.kill()
        broker.close()
        proxy.close()
        fake.__exit__(None, None, None)
    got = Snapshot.of(truth)
    direct.dispose()
    with server.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    return {
        "wall_minutes": round((time.monotonic() - started) / 60, 1),
        "users": args.users,
        "reading_hours": args.hours,
        "messages_published": len(lines),
        "faults": dict(faults),
        "pipeline_kills": pipeline.kills,
        "readings_expected": sum(expected.readings.values()),
        "readings_stored": sum(got.readings.values()),
        "readings_equal": got.readings == expected.readings,
        "alerts_expected": sum(expected.alerts.values()),
        "alerts_stored": sum(got.alerts.values()),
        "alerts_equal": got.alerts == expected.alerts,
        "sms_expected": sum(outbox_texts(reference_outbox).values()),
        "sms_sent": sum(_sent(fake).values()),
        "twilio_api_calls": len(fake.sends()),
    }


def _contacts(sessions: sa.orm.sessionmaker[sa.orm.Session]) -> list[list[str]]:
    with sessions() as session:
        return [[p for p in session.scalars(sa.select(EmergencyContact.phone)) if p]]


_HR = re.compile(r"HR \d+ bpm")


def _alert_texts(texts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(contact, text) with the heart rate blanked: the alert's HR is updated while the
    condition lasts, so a text sent later (after an outage) quotes a newer value."""
    out: Counter[tuple[str, str]] = Counter()
    for (to, body), count in texts.items():
        out[(to, _HR.sub("HR … bpm", body))] += count
    return out


def _sent(fake: FakeTwilio) -> Counter[tuple[str, str]]:
    with fake._lock:
        return _alert_texts(Counter((m["to"], m["body"]) for m in fake.messages))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="wall time of the load")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--hours", type=float, default=2.0, help="reading time of the trace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--db-outage", type=float, default=60.0, help="seconds")
    parser.add_argument("--twilio-outage", type=float, default=120.0, help="seconds")
    parser.add_argument("--idle-flush", type=float, default=30.0, help="wall seconds")
    parser.add_argument("--mysql", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--out", type=Path, help="write the result as JSON here too")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = result["readings_equal"] and result["alerts_equal"]
    ok = ok and result["sms_expected"] == result["sms_sent"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
