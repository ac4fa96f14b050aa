"""The notifier in a replay: its due times are steps of the reading-time timeline.

A simulated fall is replayed with the outbox sender (no credentials) and an on-call
number. Nobody answers: texts, a second round, calls, the on-call number, each at its
due reading-time second; replaying again writes byte-identical ``alertEvents``. When the
second contact answers "ACK", the others hear that someone is responding and nothing
further happens.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingest.replay import Replayer, read_trace
from notifier.inbound import handle_inbound_sms
from simulators.generate import Options, fake_contacts, simulate
from simulators.plan import scenario_plan
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AlertEvent, AlertState, HealthAlert
from vitals.cli import main
from vitals.commands.register import register_manifest
from vitals.settings import Settings
from vitals.wiring import build_pipeline

SCENARIO = Path(__file__).parents[1] / "scenarios" / "one_fall.json"
ONCALL = "+15550100999"
FAST_S = 120  # falls escalate every 2 minutes (NotificationPolicy.fast_escalation_delay_s)
CONTACT_A, CONTACT_B = (c.phone for c in fake_contacts(1))


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fall") / "fall.jsonl.gz"
    simulate(scenario_plan(SCENARIO), out, Options(accel_batch_ms=5000))
    return out


def _replay_cli(trace: Path, db_url: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", db_url)
    monkeypatch.setenv("VITALS_SMS_OUTBOX_PATH", str(tmp / "outbox.jsonl"))
    monkeypatch.setenv("VITALS_ONCALL_PHONE", ONCALL)
    args = ["replay", str(trace), "--register", "--quiet", "--notifier-after", "1800"]
    assert main(args) == 0


def _events(db_url: str) -> list[tuple[object, ...]]:
    engine = create_engine_from_url(db_url)
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                AlertEvent.alertId,
                AlertEvent.eventType,
                AlertEvent.actor,
                AlertEvent.detail,
                AlertEvent.createdAt,
            ).order_by(AlertEvent.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _fall(db_url: str) -> tuple[int, datetime]:
    engine = create_engine_from_url(db_url)
    with Session(engine) as session:
        alert_id, created = session.execute(
            sa.select(HealthAlert.id, HealthAlert.createdAt)
            .join(AlertState, AlertState.alertId == HealthAlert.id)
            .where(AlertState.kind == "fall_detected")
        ).one()
    engine.dispose()
    return alert_id, created


@pytest.mark.slow
def test_nobody_answers_texts_round_two_calls_oncall_at_due_seconds(
    trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite:///{tmp_path}/a.db"
    _replay_cli(trace, db_url, tmp_path, monkeypatch)
    alert_id, created = _fall(db_url)
    steps = [
        (kind, detail, at)
        for a, kind, actor, detail, at in _events(db_url)
        if a == alert_id and actor == "notifier" and kind in {"notified", "called"}
    ]
    # the first text at the alert's own reading-time second, then one step every 2 min
    assert [at for _, _, at in steps] == [created + timedelta(seconds=FAST_S * k) for k in range(7)]
    assert [kind for kind, _, _ in steps] == ["notified"] * 4 + ["called"] * 3
    assert [str(d).split(" (")[0] for _, d, _ in steps] == [
        "contact 1",
        "contact 2",
        "contact 1",
        "contact 2",
        "contact 1",
        "contact 2",
        "oncall",
    ]
    kinds = [k for a, k, *_ in _events(db_url) if a == alert_id]
    assert kinds[-1] == "escalation_ended"
    outbox = [orjson.loads(x) for x in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    texts = [o["body"] for o in outbox if "body" in o and o["to"] == CONTACT_B]
    assert "No reply yet from Contact A of user 1." in texts[0]
    assert "possible fall" in texts[0] and "Call them; if no answer" in texts[0]
    assert any(o.get("call") and o["to"] == ONCALL for o in outbox)
    # a second replay of the same trace writes the very same alertEvents
    second_url = f"sqlite:///{tmp_path}/b.db"
    _replay_cli(trace, second_url, tmp_path, monkeypatch)
    assert _events(second_url) == _events(db_url)


@pytest.mark.slow
def test_second_contact_acks_the_other_hears_and_nothing_follows(
    trace: Path, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path}/ack.db"
    engine = create_engine_from_url(db_url)
    upgrade(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    register_manifest(trace, sessions)
    settings = Settings(
        database_url=db_url, sms_outbox_path=tmp_path / "outbox.jsonl", oncall_phone=ONCALL
    )
    pipeline = build_pipeline(settings, sessions)
    acked: list[datetime] = []

    def b_texted_at() -> datetime | None:
        with sessions() as session:
            return session.scalar(
                sa.select(AlertEvent.createdAt).where(
                    AlertEvent.eventType == "notified", AlertEvent.detail.like("contact 2 %")
                )
            )

    def clock_step(now: datetime) -> None:
        """Contact B answers ACK 30 s (reading time) after their text: the notifier is
        stepped up to each of its due times, and the reply is fed at its own second."""
        while not acked:
            due = pipeline.notifier.next_due()
            b_text = b_texted_at()
            reply_at = b_text + timedelta(seconds=30) if b_text is not None else None
            if reply_at is not None and reply_at <= now and (due is None or reply_at < due):
                outcome = handle_inbound_sms(sessions, CONTACT_B, "ACK", reply_at, "SMreplay1")
                assert outcome.acknowledged
                acked.append(reply_at)
            elif due is not None and due <= now:
                pipeline.notifier.process_due(due, reading_time=True)
            else:
                break
        pipeline.notifier.process_until(now)

    report = Replayer(pipeline.processor, clock_step=clock_step).run(read_trace(trace))
    pipeline.notifier.process_until(
        datetime.fromtimestamp(report.reading_time_ms / 1000, tz=acked[0].tzinfo)
        + timedelta(hours=1)
    )
    with sessions() as session:
        fall_id = session.scalar(
            sa.select(AlertState.alertId).where(AlertState.kind == "fall_detected")
        )
        events = session.execute(
            sa.select(AlertEvent.eventType, AlertEvent.actor, AlertEvent.createdAt)
            .where(AlertEvent.alertId == fall_id)
            .order_by(AlertEvent.id)
        ).all()
    engine.dispose()
    kinds = [k for k, _, _ in events]
    assert ("acknowledged", "contact:2") in [(k, a) for k, a, _ in events]
    assert kinds.count("notified") == 2 and "called" not in kinds  # nothing further
    assert "escalation_ended" not in kinds and "escalated" in kinds
    responding = [at for k, _, at in events if k == "responding_sent"]
    assert responding == [acked[0]]  # at once, in reading time
    outbox = [orjson.loads(x) for x in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    to_a = [o["body"] for o in outbox if o["to"] == CONTACT_A]
    assert to_a[-1].startswith("vitals: Contact B of user 1 is responding to the alert for Ben")
