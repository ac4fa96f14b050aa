"""Device placement: registered (migration 0002, ``vitals devices add --placement``), loaded
by the batch processor and handed to the fall detector of the device's user."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.errors import StorageError
from storage.migrate import upgrade
from storage.models import Device
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from vitals.cli import main

T0_MS = 1_763_900_000_000


def test_a_registered_placement_reaches_the_fall_detector(tmp_path: Path) -> None:
    db = create_engine_from_url(f"sqlite:///{tmp_path}/p.db")
    upgrade(db)
    sessions = session_factory(db)
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-1").id
        add_device(session, user_id=user, device_id="belt-1", placement="waist")
        with pytest.raises(StorageError, match="placement 'ankle'"):
            add_device(session, user_id=user, device_id="belt-2", placement="ankle")
    processor = BatchProcessor(sessions, Engine())
    payload = {
        "v": 1, "user": user, "device": "belt-1", "seq": 1, "ts": T0_MS, "kind": "accel",
        "fs": 50, "x": [0.0] * 50, "y": [-1.0] * 50, "z": [0.0] * 50,
    }  # fmt: skip
    topic = f"vitals/v1/{user}/belt-1/accel"
    processor.handle([Inbound(topic, orjson.dumps(payload), 0)])
    assert processor.engine.placements == {"belt-1": "waist"}
    assert processor.engine.users[user].fall.placement == "waist"
    db.dispose()


def test_devices_add_takes_a_placement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("VITALS_DATABASE_URL", url)
    db = create_engine_from_url(url)
    upgrade(db)
    with session_factory(db).begin() as session:
        user = add_user(session, open_id="oauth-1").id
    assert (
        main(["devices", "add", "--user", str(user), "--device", "chest-1", "--placement", "chest"])
        == 0
    )
    with pytest.raises(SystemExit):  # argparse refuses an unknown placement
        main(["devices", "add", "--user", str(user), "--device", "x-1", "--placement", "ankle"])
    with session_factory(db)() as session:
        assert session.scalars(select(Device.placement)).all() == ["chest"]
    db.dispose()
