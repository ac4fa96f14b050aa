"""Versioned checkpoints: a release-0.1.0 checkpoint (no version field) restores as it was;
one that cannot be read (unknown version, renamed field, garbage) is upgraded where a step
exists, else its user starts afresh with one warning — the batch goes on."""

from __future__ import annotations

import logging
from itertools import zip_longest
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from detectors.serialize import StateMismatch, UnknownStateVersion, upgrade_state
from ingest import userstate
from ingest.checkpoint import restore_checkpoint
from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from ingest.userstate import CHECKPOINT_VERSION, UserState
from storage.models import DetectorState, HealthReading
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.ingest.traces import rest_trace

#: Written by release 0.1.0 (commit 5bfe30c) for user 1 two thirds into
#: ``rest_trace(1, "watch-1", minutes=16, hr_bpm=132, seed=3)``: an open tachycardia
#: track, a stress baseline, a fall detector's gravity estimate, a window being filled.
RELEASE_0_1_0 = Path(__file__).parent / "data" / "checkpoint_release_0_1_0.json"


def _old_checkpoint() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(RELEASE_0_1_0.read_bytes())
    return data


def _renamed(data: dict[str, Any], part: str, old: str, new: str) -> dict[str, Any]:
    fields = dict(data[part])
    fields[new] = fields.pop(old)
    return {**data, part: fields}


# -- the format of release 0.1.0 -----------------------------------------------------------
def test_a_release_0_1_0_checkpoint_restores_every_field_as_it_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = _old_checkpoint()
    assert "version" not in old
    with caplog.at_level(logging.WARNING):
        state = restore_checkpoint(1, RELEASE_0_1_0.read_bytes())
    assert state.to_json() == {"version": 1, **old}
    assert state.rules.high_heart_rate.present_since_ms is not None  # not a fresh state
    assert caplog.records == []


def test_new_checkpoints_carry_the_version() -> None:
    written = UserState.from_json(_old_checkpoint()).to_json()
    assert written["version"] == CHECKPOINT_VERSION == 1
    assert UserState.from_json(orjson.loads(orjson.dumps(written))).to_json() == written


# -- upgrade_state: the pure migration -------------------------------------------------------
_STEPS = {
    1: lambda f: {("gravity_g" if k == "gravity" else k): v for k, v in f.items()},
    2: lambda f: {**f, "placement": f.get("placement", "")},
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"gravity": [0, 0, 1]}, {"gravity_g": [0, 0, 1], "placement": ""}),  # unversioned = 1
        ({"version": 1, "gravity": [0, 0, 1]}, {"gravity_g": [0, 0, 1], "placement": ""}),
        ({"version": 2, "gravity_g": [1, 0, 0]}, {"gravity_g": [1, 0, 0], "placement": ""}),
        (
            {"version": 3, "gravity_g": [1, 0, 0], "placement": "waist"},
            {"gravity_g": [1, 0, 0], "placement": "waist"},
        ),
    ],
)
def test_upgrade_state_applies_each_step_from_the_written_version(
    data: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = dict(data)
    assert upgrade_state(data, current=3, upgrades=_STEPS) == expected
    assert data == before  # pure


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        ({"version": 4}, UnknownStateVersion, "version 4 is newer than this release reads (3)"),
        ({"version": 0}, UnknownStateVersion, "no upgrade from version 0 to 1"),
        ({"version": "2"}, UnknownStateVersion, "version '2' is not an integer"),
        ({"version": True}, UnknownStateVersion, "version True is not an integer"),
        ([1, 2], StateMismatch, "expected a JSON object, got list"),
        (None, StateMismatch, "expected a JSON object, got NoneType"),
    ],
)
def test_upgrade_state_names_what_it_cannot_read(
    data: object, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as raised:
        upgrade_state(data, current=3, upgrades=_STEPS)
    assert str(raised.value) == reason


def test_a_registered_upgrade_restores_a_renamed_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration path of UserState: were FallState.gravity_g once called ``gravity``,
    bumping the version with a step that renames it restores the old checkpoint."""
    old = _renamed(_old_checkpoint(), "fall", "gravity_g", "gravity")
    with pytest.raises(StateMismatch, match=r"FallState: unknown field\(s\) \['gravity'\]"):
        UserState.from_json(old)
    monkeypatch.setattr(userstate, "CHECKPOINT_VERSION", 2)
    monkeypatch.setitem(
        userstate.CHECKPOINT_UPGRADES,
        1,
        lambda f: _renamed(f, "fall", "gravity", "gravity_g"),
    )
    assert UserState.from_json(old).to_json() == {"version": 2, **_old_checkpoint()}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: {**d, "version": 99}, "version 99 is newer than this release reads (1)"),
        (lambda d: _renamed(d, "fall", "phase", "stage"), "FallState: unknown field(s) ['stage']"),
        (lambda d: _renamed(d, "rules", "arrhythmia", "afib"), "RuleState: unknown field(s)"),
        (lambda d: {k: v for k, v in d.items() if k != "stress"}, "missing field 'stress'"),
        (lambda d: {**d, "extras": {"1": {"accel_count": 3}}}, "accel_count"),
        (lambda d: {**d, "beat_ms": "many"}, "many"),
    ],
)
def test_from_json_raises_state_mismatch_naming_the_field(
    change: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    changed = change(_old_checkpoint())
    with pytest.raises(StateMismatch) as raised:
        UserState.from_json(changed)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"\x00\x9f not json", "not JSON"),
        (b"[]", "expected a JSON object, got list"),
        (orjson.dumps({**_old_checkpoint(), "version": 7}), "version 7 is newer"),
        (orjson.dumps({**_old_checkpoint(), "user_id": 2}), "holds the state of user 2"),
    ],
)
def test_restore_checkpoint_starts_an_unreadable_user_afresh_keeping_the_clock(
    blob: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.checkpoint"):
        state = restore_checkpoint(1, blob)
    [record] = caplog.records
    assert record.getMessage().startswith("checkpoint of user 1 reset to a fresh state: ")
    assert reason in record.getMessage()
    fresh = UserState(1)
    assert (state.rules, state.fall, state.stress) == (fresh.rules, fresh.fall, fresh.stress)
    assert state.beat_ms.size == 0
    if blob.startswith(b"{"):  # a readable clock is kept: stored windows stay closed
        assert state.closed_until_ms == _old_checkpoint()["closed_until_ms"]
    else:
        assert state.closed_until_ms == 0


# -- through the batch processor, on the real databases --------------------------------------
@pytest.fixture
def two_users(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions.begin() as session:
        first = add_user(session, open_id="oauth-1")
        add_device(session, user_id=first.id, device_id="watch-1")
        second = add_user(session, open_id="oauth-2")
        add_device(session, user_id=second.id, device_id="watch-2")
        return first.id, second.id


def _messages(users: tuple[int, int]) -> list[Inbound]:
    one = rest_trace(users[0], "watch-1", minutes=16, hr_bpm=132, seed=3)
    two = rest_trace(users[1], "watch-2", minutes=16, hr_bpm=64, seed=4)
    pairs = [pair for both in zip_longest(one, two) for pair in both if pair is not None]
    return [Inbound(topic, raw, i) for i, (topic, raw) in enumerate(pairs)]


def _feed(processor: BatchProcessor, messages: list[Inbound]) -> None:
    for start in range(0, len(messages), 50):
        processor.handle(messages[start : start + 50])


def _stored(sessions: sessionmaker[Session], user: int) -> list[tuple[object, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(
                HealthReading.createdAt,
                HealthReading.heartRate,
                HealthReading.hrv,
                HealthReading.stressLevel,
            )
            .where(HealthReading.userId == user)
            .order_by(HealthReading.createdAt)
        ).all()
    return [tuple(row) for row in rows]


def _checkpoint(sessions: sessionmaker[Session], user: int) -> bytes:
    with sessions() as session:
        return bytes(session.scalars(select(DetectorState.state).filter_by(userId=user)).one())


def _overwrite(sessions: sessionmaker[Session], user: int, blob: bytes) -> None:
    with sessions.begin() as session:
        session.execute(update(DetectorState).filter_by(userId=user).values(state=blob))


def _run(
    sessions: sessionmaker[Session], users: tuple[int, int], rewrite: Any
) -> tuple[BatchProcessor, int]:
    """First processor feeds two thirds; the first user's checkpoint is rewritten; a new
    processor (a restart) feeds the rest. Returns it and the rows stored before."""
    messages = _messages(users)
    cut = len(messages) * 2 // 3
    _feed(BatchProcessor(sessions, Engine()), messages[:cut])
    before = len(_stored(sessions, users[0]))
    _overwrite(sessions, users[0], rewrite(_checkpoint(sessions, users[0])))
    restarted = BatchProcessor(sessions, Engine())
    _feed(restarted, messages[cut:])
    restarted.flush()
    return restarted, before


def test_a_release_0_1_0_checkpoint_resumes_the_batch_as_if_never_stopped(
    sessions: sessionmaker[Session],
    two_users: tuple[int, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def as_release_0_1_0(blob: bytes) -> bytes:
        data = orjson.loads(blob)
        assert data.pop("version") == 1
        return orjson.dumps(data)

    with caplog.at_level(logging.WARNING, logger="ingest.checkpoint"):
        _run(sessions, two_users, as_release_0_1_0)
    assert caplog.records == []
    resumed = _stored(sessions, two_users[0])

    never_stopped = BatchProcessor(sessions, Engine())
    with sessions.begin() as session:  # the same trace for a third user, in one run
        third = add_user(session, open_id="oauth-3")
        add_device(session, user_id=third.id, device_id="watch-3")
    trace = rest_trace(third.id, "watch-3", minutes=16, hr_bpm=132, seed=3)
    _feed(never_stopped, [Inbound(topic, raw, i) for i, (topic, raw) in enumerate(trace)])
    never_stopped.flush()
    assert len(resumed) >= 15
    assert resumed == _stored(sessions, third.id)
    assert orjson.loads(_checkpoint(sessions, two_users[0]))["version"] == 1


@pytest.mark.parametrize(
    ("rewrite", "reason", "label"),
    [
        (lambda b: orjson.dumps({**orjson.loads(b), "version": 99}), "version 99", "version"),
        (
            lambda b: orjson.dumps(_renamed(orjson.loads(b), "fall", "gravity_g", "gravity")),
            "FallState: unknown field(s) ['gravity']",
            "fields",
        ),
        (lambda b: b"\xff garbage", "not JSON", "unreadable"),
    ],
    ids=["unknown-version", "renamed-field", "garbage"],
)
def test_an_unreadable_checkpoint_resets_its_user_and_the_batch_goes_on(
    sessions: sessionmaker[Session],
    two_users: tuple[int, int],
    caplog: pytest.LogCaptureFixture,
    rewrite: Any,
    reason: str,
    label: str,
) -> None:
    first, second = two_users
    with caplog.at_level(logging.WARNING, logger="ingest.checkpoint"):
        restarted, before = _run(sessions, two_users, rewrite)
    [warning] = caplog.records
    assert f"checkpoint of user {first} reset to a fresh state" in warning.getMessage()
    assert reason in warning.getMessage()
    assert restarted.metrics.value("vitals_checkpoints_reset_total", reason=label) == 1
    after = _stored(sessions, first)
    assert len(after) > before + 3  # the reset user's later windows were stored
    assert len({row[0] for row in after}) == len(after)  # none twice
    assert len(_stored(sessions, second)) >= 15  # the other user was not held up
    assert orjson.loads(_checkpoint(sessions, first))["version"] == 1
