"""Payload kind ``loc``: validated at the edge; only the newest fix per user is kept."""

from __future__ import annotations

import math

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.engine import Engine
from ingest.errors import InvalidPayload
from ingest.payload import decode
from ingest.processor import BatchProcessor, Inbound
from storage.models import DeadLetter, UserLocation
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.ingest.traces import T0_MS


def _loc(seq: int, ts: int, user: int = 1, **fields: object) -> bytes:
    body = {"v": 1, "user": user, "device": "phone-1", "seq": seq, "ts": ts, "kind": "loc"}
    body.update(fields)
    return orjson.dumps(body)


def test_a_fix_decodes_to_lat_lon_accuracy() -> None:
    reading = decode("vitals/v1/1/phone-1/loc", _loc(1, T0_MS, lat=35.6581, lon=139.7017, acc_m=12))
    assert reading.kind == "loc"
    assert list(reading.values) == [35.6581, 139.7017, 12.0]
    no_accuracy = decode(None, _loc(2, T0_MS, lat=-33.9, lon=18.4))
    assert math.isnan(no_accuracy.values[2])


@pytest.mark.parametrize(
    "fields,reason,named",
    [
        ({"lat": 91.0, "lon": 0.0}, "impossible_value", "lat"),
        ({"lat": 0.0, "lon": -180.5}, "impossible_value", "lon"),
        ({"lat": "52.5", "lon": 13.4}, "wrong_type", "lat"),
        ({"lat": True, "lon": 13.4}, "wrong_type", "lat"),
        ({"lon": 13.4}, "wrong_type", "lat"),
        ({"lat": 52.5, "lon": 13.4, "acc_m": -1}, "impossible_value", "acc_m"),
    ],
)
def test_a_bad_fix_names_what_is_wrong(fields: dict[str, object], reason: str, named: str) -> None:
    with pytest.raises(InvalidPayload) as error:
        decode(None, _loc(1, T0_MS, **fields))
    assert error.value.reason == reason and named in str(error.value)


def test_only_the_newest_fix_per_user_is_kept(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-loc", name="Ben")
        add_device(session, user_id=user.id, device_id="phone-1")
        user_id = user.id
    topic = f"vitals/v1/{user_id}/phone-1/loc"
    processor = BatchProcessor(sessions, Engine())
    processor.handle(
        [
            Inbound(topic, _loc(1, T0_MS, user_id, lat=52.5, lon=13.4, acc_m=30)),
            Inbound(topic, _loc(2, T0_MS + 60_000, user_id, lat=52.6, lon=13.5, acc_m=8)),
        ]
    )
    # a fix dated earlier (delivered late) never moves the wearer back
    processor.handle([Inbound(topic, _loc(3, T0_MS + 30_000, user_id, lat=1.0, lon=1.0))])
    with sessions() as session:
        rows = session.scalars(select(UserLocation)).all()
        assert [(r.userId, r.lat, r.lon, r.accM) for r in rows] == [(user_id, 52.6, 13.5, 8.0)]
        assert session.scalar(select(func.count(DeadLetter.id))) == 0
