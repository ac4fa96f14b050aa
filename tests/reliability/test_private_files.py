"""Files that hold patient data are readable by their owner only (issue 17, item 15):
the SMS outbox (phone numbers and message texts) and the SQLite database with its WAL,
created ``0600`` even under a permissive umask, and tightened when found wider."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from notifier.senders import OutboxSender
from storage import create_engine_from_url
from storage.migrate import upgrade
from storage.repositories.people import add_user
from tests.reliability.report import record


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """A umask that leaves new files world-readable (``0644``), as on most hosts."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sms_outbox_is_created_owner_only(tmp_path: Path) -> None:
    outbox = tmp_path / "sms" / "outbox.jsonl"
    OutboxSender(outbox).send("+819012345678", "vitals: SOS from Aiko", None)
    assert _mode(outbox) == 0o600
    OutboxSender(outbox).send("+819012345678", "second text", None)
    assert len(outbox.read_text().splitlines()) == 2 and _mode(outbox) == 0o600


def test_an_existing_world_readable_outbox_is_tightened(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text("")
    outbox.chmod(0o644)
    OutboxSender(outbox).send("+819012345678", "vitals: SOS", None)
    assert _mode(outbox) == 0o600


def test_the_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "vitals.db"
    engine = create_engine_from_url(f"sqlite:///{database}")
    upgrade(engine)
    with Session(engine) as session, session.begin():
        add_user(session, open_id="oauth-1", name="Aiko Tanaka")
    with engine.connect():  # the WAL exists while a connection is open
        wal = tmp_path / "vitals.db-wal"
        modes = {path.name: _mode(path) for path in (database, wal) if path.exists()}
    engine.dispose()
    assert modes == {"vitals.db": 0o600, "vitals.db-wal": 0o600}
    record("web security", "files with patient data: outbox, SQLite database + WAL",
           tried=3, world_readable=0, lost=0)  # fmt: skip


def test_an_existing_world_readable_sqlite_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    database.touch()
    database.chmod(0o644)
    engine = create_engine_from_url(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    assert _mode(database) == 0o600
