"""Issue 17, ingest half: no reading can stall or blind monitoring, no loss goes unseen.

On a real database (SQLite and MariaDB; the refusal of a TIMESTAMP after 2038 only on
MariaDB, where it happens): readings dated far from their receive time, a database that
refuses one message's data, a future-dated reading before a real tachycardia, seq
counters that restart or run backwards, seq gaps, 30 s windows, dead-letter limits.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.broker_files import BrokerConfigError, mosquitto_files
from ingest.deadletters import DeadLetterLimits
from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound, ReceiveWindow
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AlertState, DeadLetter, Device, HealthAlert, HealthReading
from storage.repositories.devices import add_device, enabled_devices
from storage.repositories.people import add_user
from tests.ingest.traces import T0_MS, rest_trace
from tests.reliability.report import record
from vitals.cli import main
from vitals.settings import Settings
from vitals.wiring import build_pipeline

#: 2040-01-01: inside the decoder's range (up to 2286), after MySQL TIMESTAMP's 2038-01-19.
Y2040_MS = 2_208_988_800_000
#: 2037-06-01: storable in a TIMESTAMP, but years ahead of any receive time.
Y2037_MS = 2_127_600_000_000


@pytest.fixture
def users(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions.begin() as session:
        first = add_user(session, open_id="oauth-1", name="Aiko")
        add_device(session, user_id=first.id, device_id="watch-1")
        second = add_user(session, open_id="oauth-2", name="Ren")
        add_device(session, user_id=second.id, device_id="watch-2")
        return first.id, second.id


@pytest.fixture
def mariadb_sessions(mysql_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_from_url(mysql_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def _inbound(pairs: list[tuple[str, bytes]]) -> list[Inbound]:
    return [Inbound(topic, raw, i) for i, (topic, raw) in enumerate(pairs)]


def _message(user: int, device: str, seq: int, ts: int, kind: str, **body: Any) -> Inbound:
    payload = {"v": 1, "user": user, "device": device, "seq": seq, "ts": ts, "kind": kind}
    return Inbound(f"vitals/v1/{user}/{device}/{kind}", orjson.dumps({**payload, **body}))


def _feed(processor: BatchProcessor, messages: list[Inbound], size: int = 50) -> None:
    for start in range(0, len(messages), size):
        processor.handle(messages[start : start + size])


def _reasons(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(DeadLetter.reason)))


def _readings(sessions: sessionmaker[Session], user: int) -> list[tuple[Any, ...]]:
    with sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(HealthReading.createdAt, HealthReading.heartRate, HealthReading.readingType)
                .where(HealthReading.userId == user)
                .order_by(HealthReading.createdAt)
            )
        ]


def _alerts(sessions: sessionmaker[Session], user: int) -> list[tuple[Any, ...]]:
    with sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(HealthAlert.alertType, HealthAlert.severity, HealthAlert.heartRate)
                .where(HealthAlert.userId == user)
                .order_by(HealthAlert.id)
            )
        ]


def _stalls_never(processor: BatchProcessor) -> BatchProcessor:
    """A commit error that would be retried raises instead (should_stop), so a test fails
    rather than hanging when the pipeline would stall."""
    processor.should_stop = lambda: True
    return processor


# -- item 1: a reading dated after 2038 stalls nobody ----------------------------------------
@pytest.mark.mariadb
def test_reading_after_2038_is_a_dead_letter_and_the_batch_commits(
    mariadb_sessions: sessionmaker[Session],
) -> None:
    sessions = mariadb_sessions
    first, second = _two_users(sessions)
    bogus = _message(first, "watch-1", 1, Y2040_MS, "rr", rr_ms=[1000.0] * 80)
    good = _inbound(rest_trace(second, "watch-2", minutes=3, hr_bpm=70))
    processor = _stalls_never(BatchProcessor(sessions, Engine()))
    processor.handle([bogus, *good[:40]])
    _feed(processor, good[40:])
    processor.flush()
    assert _reasons(sessions) == ["ts_ahead"]
    assert len(_readings(sessions, second)) == 3
    record("stall", "rr payload dated 2040 in a batch with another user's data (MariaDB)",
           messages=1 + len(good), ts_ahead=1, readings=3, lost=0)  # fmt: skip


@pytest.mark.mariadb
def test_data_the_database_refuses_is_a_dead_letter_and_the_rest_commits(
    mariadb_sessions: sessionmaker[Session],
) -> None:
    """Past the receive window (turned off here), MariaDB itself refuses the 2040 window
    (error 1292): that message alone becomes a dead letter, the other user's data of the
    same batch commits, and the refused user's state is the one before it."""
    sessions = mariadb_sessions
    first, second = _two_users(sessions)
    bogus = _message(first, "watch-1", 1, Y2040_MS, "rr", rr_ms=[1000.0] * 80)
    good = _inbound(rest_trace(second, "watch-2", minutes=3, hr_bpm=70))
    later = _inbound(rest_trace(first, "watch-1", minutes=2, hr_bpm=80, start_ms=T0_MS))
    processor = _stalls_never(
        BatchProcessor(sessions, Engine(), receive_window=ReceiveWindow(max_ahead_s=1e12))
    )
    result = processor.handle([*good[:20], bogus, *good[20:40]])
    assert result.dead_letters == 1 and result.accepted == 40
    _feed(processor, good[40:])
    # the refused reading did not drag the user's clock: its later real data is stored
    _feed(processor, _renumbered(later, list(range(2, len(later) + 2))))
    processor.flush()
    with sessions() as session:
        refused = session.execute(select(DeadLetter.reason, DeadLetter.detail)).one()
    assert refused[0] == "db_refused" and "1292" in refused[1]
    assert len(_readings(sessions, second)) == 3
    assert len(_readings(sessions, first)) == 2
    assert processor.metrics.value("vitals_db_refused_total") == 1
    record("stall", "a window MariaDB refuses (error 1292) in a mixed batch",
           messages=1 + len(good) + len(later), db_refused=1, readings=5, lost=0)  # fmt: skip


def _two_users(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions.begin() as session:
        first = add_user(session, open_id="oauth-1", name="Aiko")
        add_device(session, user_id=first.id, device_id="watch-1")
        second = add_user(session, open_id="oauth-2", name="Ren")
        add_device(session, user_id=second.id, device_id="watch-2")
        return first.id, second.id


# -- item 2: one future-dated reading cannot switch a user's monitoring off ----------------
def test_future_dated_reading_cannot_blind_a_tachycardia_alert(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    user = users[0]
    bogus = _message(user, "watch-1", 1, Y2037_MS, "hr", fs=1, bpm=[75.0])
    episode = _inbound(rest_trace(user, "watch-1", minutes=13, hr_bpm=171))
    episode = _renumbered(episode, list(range(2, len(episode) + 2)))
    last_ts = T0_MS + 13 * 60_000
    sos = _message(user, "watch-1", 99_999, last_ts, "event", event="sos")
    processor = BatchProcessor(sessions, Engine())
    _feed(processor, [bogus, *episode, sos])
    processor.flush()
    assert _reasons(sessions) == ["ts_ahead"]  # and no `late` ones
    alerts = _alerts(sessions, user)
    assert ("high_heart_rate", "critical") in {(kind, severity) for kind, severity, _ in alerts}
    sos_hr = [hr for kind, _, hr in alerts if kind is None]
    assert len(sos_hr) == 1 and sos_hr[0] > 150  # quotes the real heart rate, not 75
    record("clock and order", "one reading dated 2037, then 13 min at 171 bpm and an SOS",
           messages=len(episode) + 2, ts_ahead=1, late=0, alerts=len(alerts), lost=0)  # fmt: skip


def test_wrong_clock_is_no_false_gap_and_never_moves_the_numbering_back(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    user = users[0]
    bogus = _message(user, "watch-1", 2, Y2037_MS, "rr", rr_ms=[800.0])
    processor = BatchProcessor(sessions, Engine())
    processor.handle(
        [
            _message(user, "watch-1", 1, T0_MS, "rr", rr_ms=[800.0]),
            bogus,
            _message(user, "watch-1", 3, T0_MS + 1000, "rr", rr_ms=[800.0]),
        ]
    )
    processor.handle([bogus])  # redelivered: refused again, the numbering stays at 3
    processor.handle([_message(user, "watch-1", 4, T0_MS + 2000, "rr", rr_ms=[800.0])])
    assert processor.metrics.value("vitals_seq_gaps_total") == 0
    assert processor.metrics.value("vitals_seq_resets_total") == 0
    assert _reasons(sessions) == ["ts_ahead", "ts_ahead"]


def test_reading_older_than_the_configured_age_is_a_dead_letter(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    user = users[0]
    processor = BatchProcessor(sessions, Engine(), receive_window=ReceiveWindow(max_age_s=86400))
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    result = processor.handle(
        [
            _message(user, "watch-1", 1, T0_MS, "rr", rr_ms=[800.0]),
            _message(user, "watch-1", 2, now_ms - 60_000, "rr", rr_ms=[800.0]),
        ]
    )
    assert result.accepted == 1
    assert _reasons(sessions) == ["ts_too_old"]


# -- item 3: seq going backwards ------------------------------------------------------------
def _renumbered(messages: list[Inbound], seqs: list[int]) -> list[Inbound]:
    out = []
    for message, seq in zip(messages, seqs, strict=True):
        obj = orjson.loads(message.payload)
        obj["seq"] = seq
        out.append(Inbound(message.topic, orjson.dumps(obj), message.token))
    return out


@pytest.mark.parametrize("restart", ["reboot", "huge_seq"])
def test_seq_counter_restart_loses_nothing(
    sessions: sessionmaker[Session], users: tuple[int, int], tmp_path: Path, restart: str
) -> None:
    user = users[0]
    messages = _inbound(rest_trace(user, "watch-1", minutes=6, hr_bpm=75))
    half = len(messages) // 2
    if restart == "reboot":  # 5000.. then the device reboots and counts from 1 again
        seqs = [5000 + i for i in range(half)] + list(range(1, len(messages) - half + 1))
    else:  # one message numbered 2**63 - 1, the device's own numbering continues
        seqs = list(range(1, len(messages) + 1))
        seqs[half - 1] = 2**63 - 1
    processor = _stalls_never(BatchProcessor(sessions, Engine()))
    _feed(processor, _renumbered(messages, seqs), size=20)
    processor.flush()
    assert processor.metrics.value("vitals_duplicates_total") == 0
    assert processor.metrics.value("vitals_seq_resets_total") == 1
    assert _reasons(sessions) == []

    reference_engine = create_engine_from_url(f"sqlite:///{tmp_path}/ref.db")
    upgrade(reference_engine)
    reference = session_factory(reference_engine)
    with reference.begin() as session:
        add_device(session, user_id=add_user(session, open_id="r").id, device_id="watch-1")
    once = BatchProcessor(reference, Engine())
    _feed(once, _inbound(rest_trace(1, "watch-1", minutes=6, hr_bpm=75)), size=20)
    once.flush()
    assert _readings(sessions, user) == _readings(reference, 1)
    reference_engine.dispose()
    record("clock and order", "device seq counter restarted (reboot to 1; once 2^63-1)",
           messages=len(messages), resets=1, duplicates=0, lost=0)  # fmt: skip


def test_seq_regression_is_a_dead_letter_and_sos_is_always_handled(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    user = users[0]
    processor = _stalls_never(BatchProcessor(sessions, Engine()))
    processor.handle([_message(user, "watch-1", 5000, T0_MS, "rr", rr_ms=[800.0])])
    regressed = _message(user, "watch-1", 4990, T0_MS + 5000, "rr", rr_ms=[800.0])
    redelivered = _message(user, "watch-1", 5000, T0_MS, "rr", rr_ms=[800.0])
    sos = _message(user, "watch-1", 4991, T0_MS + 6000, "event", event="sos")
    result = processor.handle([regressed, redelivered, sos])
    assert result.duplicates == 1
    assert _reasons(sessions) == ["seq_regression"]
    assert len(result.alerts_opened) == 1  # the SOS with a lower seq raised its alert
    again = processor.handle([sos])  # and a redelivered SOS has no second alert
    assert again.alerts_opened == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertState)) == 1
    record("clock and order", "seq below the last with a newer ts; SOS with a lower seq",
           tried=2, seq_regression=1, sos_alerts=1, lost=0)  # fmt: skip


# -- item 4: seq gaps counted, stored per device, and `vitals status` fails ----------------
def test_seq_gaps_are_counted_per_device_and_fail_status(
    engine: Any,
    sessions: sessionmaker[Session],
    users: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = users[0]
    messages = _inbound(rest_trace(user, "watch-1", minutes=3, hr_bpm=70))
    dropped = {i for i in range(5, len(messages) - 1) if i % 4 == 0}  # every 4th, not last
    kept = [m for i, m in enumerate(messages) if i not in dropped]
    lost = len(dropped)
    processor = BatchProcessor(sessions, Engine())
    _feed(processor, kept, size=7)
    assert processor.metrics.value("vitals_seq_gaps_total") == lost
    with sessions() as session:
        device = session.get(Device, "watch-1")
        assert device is not None and device.seqGaps == lost and device.lastGapAt is not None
    monkeypatch.setenv("VITALS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    capsys.readouterr()
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert f"watch-1: {lost} missing" in out and "lost messages in the last hour" in out


# -- item 6: one window length, from VITALS_WINDOW_SECONDS to the rules --------------------
def test_thirty_second_windows_reach_the_alert_rules(
    sessions: sessionmaker[Session], users: tuple[int, int], tmp_path: Path
) -> None:
    user = users[0]
    settings = Settings(window_seconds=30, sms_outbox_path=tmp_path / "outbox.jsonl")
    pipeline = build_pipeline(settings, sessions)
    _feed(pipeline.processor, _inbound(rest_trace(user, "watch-1", minutes=13, hr_bpm=134)))
    pipeline.processor.flush()
    ends = [at for at, _, _ in _readings(sessions, user)]
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(ends)} == {30.0}
    with sessions() as session:
        onset, opened = session.execute(
            select(AlertState.onsetAt, HealthAlert.createdAt)
            .join(HealthAlert, HealthAlert.id == AlertState.alertId)
            .where(AlertState.kind == "high_heart_rate")
        ).one()
    start = datetime.fromtimestamp(T0_MS / 1000, UTC)
    assert onset.replace(tzinfo=UTC) >= start  # not 30 s before the first reading
    assert opened.replace(tzinfo=UTC) - start >= timedelta(seconds=600)  # 10 min sustained


# -- item 16: what one device can store as dead letters --------------------------------------
def test_dead_letters_are_truncated_with_a_hash_and_capped_per_device(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    user = users[0]
    limits = DeadLetterLimits(max_payload_bytes=1024, rows_per_hour=5)
    processor = BatchProcessor(sessions, Engine(), dead_letter_limits=limits)
    huge = b'{"v":1,"pad":"' + b"x" * 300_000 + b'"}'
    processor.handle([Inbound(f"vitals/v1/{user}/watch-1/rr", huge)])
    junk = [Inbound(f"vitals/v1/{user}/watch-1/rr", b"junk %d" % i) for i in range(10)]
    processor.handle(junk)
    with sessions() as session:
        rows = session.execute(select(DeadLetter.payload, DeadLetter.detail)).all()
    assert len(rows) == 5  # the quota of watch-1 this hour
    big = next(detail for payload, detail in rows if len(payload) == 1024)
    assert "truncated to 1024 of 300016 bytes, sha256 " in big
    assert processor.metrics.value("vitals_dead_letters_dropped_total", reason="not_json") == 6
    record("abuse", "one device's dead letters: a 300 KB payload, then over its hourly quota",
           tried=11, stored=5, truncated=1, dropped_counted=6, lost=0)  # fmt: skip


def test_prune_dead_letters_command(
    engine: Any, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for age_days in (40, 31, 1):
            session.add(
                DeadLetter(
                    receivedAt=now - timedelta(days=age_days),
                    payload=b"x",
                    reason="not_json",
                    detail="",
                )
            )
    monkeypatch.setenv("VITALS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["db", "prune-dead-letters", "--older-than", "30d"]) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 1
    with pytest.raises(SystemExit):
        main(["db", "prune-dead-letters", "--older-than", "soon"])


# -- items 7 and 8: the pipeline's broker account, device ACLs of exactly the kinds -----------
def test_pipeline_broker_user_is_reserved(
    engine: Any,
    sessions: sessionmaker[Session],
    users: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    user = str(users[0])
    assert main(["devices", "add", "--user", user, "--device", "vitals-ingest"]) == 2
    monkeypatch.setenv("VITALS_MQTT_USERNAME", "pipeline-7")
    assert main(["devices", "add", "--user", user, "--device", "pipeline-7"]) == 2
    assert "reserved" in capsys.readouterr().err
    with sessions.begin() as session:  # one that got in before names were reserved
        session.add(Device(deviceId="vitals-ingest", userId=users[0], enabled=True))
    with sessions() as session:
        devices = enabled_devices(session)
    with pytest.raises(BrokerConfigError, match="pipeline's broker user"):
        mosquitto_files(devices, "vitals-ingest", "secret", kinds=["rr"])
    # under another pipeline user name the files are fine
    passwd, _ = mosquitto_files(devices, "pipeline-7", "secret", kinds=["rr"])
    names = [line.split(":", 1)[0] for line in passwd.splitlines()]
    assert len(names) == len(set(names))


def test_device_acl_allows_exactly_the_contract_kinds(
    sessions: sessionmaker[Session], users: tuple[int, int]
) -> None:
    with sessions() as session:
        devices = enabled_devices(session)
    _, acl = mosquitto_files(devices, "vitals-ingest", None, kinds=["event", "rr"])
    first = acl.split("user watch-1\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert first == [
        f"topic write vitals/v1/{users[0]}/watch-1/event",
        f"topic write vitals/v1/{users[0]}/watch-1/rr",
    ]
    assert "#" not in acl.replace("topic read vitals/v1/#", "")
