"""``GET /v1/users/{id}/readings``: raw series, and bucket means for long ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.conftest import READINGS_PER_USER, T0, World, auth


def _readings(client: TestClient, world: World, **params: object) -> dict[str, object]:
    response = client.get(
        f"/v1/users/{world.users[1]}/readings", params=params, headers=auth(world.clinician)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_raw_series_when_it_fits(client: TestClient, world: World) -> None:
    body = _readings(
        client, world, since=T0.isoformat(), until=(T0 + timedelta(hours=4)).isoformat()
    )
    points = body["points"]
    assert isinstance(points, list)
    assert body["bucketSeconds"] == 0 and len(points) == READINGS_PER_USER
    assert all(70 <= p["heartRateBpm"] <= 74 for p in points)  # patient 1: 70 + minute % 5
    assert points[0]["at"] < points[-1]["at"]
    assert sum(p["arrhythmia"] for p in points) == 1


def test_downsampled_to_bucket_means(client: TestClient, world: World) -> None:
    body = _readings(
        client,
        world,
        since=T0.isoformat(),
        until=(T0 + timedelta(hours=3)).isoformat(),
        maxPoints=18,
    )
    points = body["points"]
    assert isinstance(points, list)
    assert body["bucketSeconds"] == 600  # 3 h / 18 points
    assert 17 <= len(points) <= 18
    # readings at T0 + 1..180 min; the one at T0 + 3 h is outside [since, until)
    assert sum(p["count"] for p in points) == READINGS_PER_USER - 1
    for point in points:
        # 10 one-minute readings cycling 70..74 average to 72 bpm
        if point["count"] == 10:
            assert abs(point["heartRateBpm"] - 72.0) < 0.01
        assert abs(point["hrvRmssdMs"] - 42.5) < 0.01 and abs(point["stressLevel"] - 3) < 0.01
    assert sum(p["arrhythmia"] for p in points) == 1


def test_default_range_is_the_last_24_hours(client: TestClient, world: World) -> None:
    before = datetime.now(UTC)
    body = _readings(client, world)
    since = datetime.fromisoformat(str(body["since"]))
    until = datetime.fromisoformat(str(body["until"]))
    assert until - since == timedelta(hours=24)
    assert abs((until - before).total_seconds()) < 60
