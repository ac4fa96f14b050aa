"""The alert endpoints against SQLite and the real MariaDB: lists, filters, keyset
pagination under concurrent inserts, detail, acknowledge, CSV, validation."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AlertEvent, HealthAlert
from storage.repositories.alerts import AlertChange, open_alert
from tests.api.conftest import ALERTS, T0, World, auth


def _ids(client: TestClient, key: str, **params: object) -> list[int]:
    response = client.get("/v1/alerts", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_admin_lists_all_newest_first(client: TestClient, world: World) -> None:
    body = client.get("/v1/alerts", headers=auth(world.admin)).json()
    times = [item["createdAt"] for item in body["items"]]
    assert len(times) == len(ALERTS)
    assert times == sorted(times, reverse=True)
    assert body["nextCursor"] is None
    sos = [item for item in body["items"] if item["type"] == "sos"]
    assert len(sos) == 2 and all(item["severity"] == "critical" for item in sos)


def test_clinician_list_is_limited_to_assigned_patients(client: TestClient, world: World) -> None:
    ids = _ids(client, world.clinician)
    assert sorted(ids) == sorted(world.of_user(0) + world.of_user(1))
    assert sorted(_ids(client, world.other)) == sorted(world.of_user(2))


def test_filters(client: TestClient, world: World) -> None:
    u0, u1, _ = world.users
    assert sorted(_ids(client, world.admin, user=u0)) == sorted(world.of_user(0))
    assert len(_ids(client, world.admin, type="sos")) == 2
    assert len(_ids(client, world.admin, type=["sos", "fall_detected"])) == 3
    assert len(_ids(client, world.admin, type="high_heart_rate", user=u1)) == 1
    assert len(_ids(client, world.admin, severity="critical")) == 5
    assert len(_ids(client, world.admin, acknowledged="true")) == 2
    assert len(_ids(client, world.admin, acknowledged="false")) == 7
    window = {"since": (T0 + timedelta(minutes=30)).isoformat(), "until": "2026-11-24T04:00:00Z"}
    # 30 <= minutes < 60: alerts at 30, 40, 50
    assert len(_ids(client, world.admin, **window)) == 3
    # a naive time is UTC
    assert len(_ids(client, world.admin, since="2026-11-24T04:00:00")) == 4


def test_keyset_pages_are_stable_under_concurrent_inserts(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    u0 = world.users[0]
    seen: list[int] = []
    cursor = None
    inserted = 0
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v1/alerts", params=params, headers=auth(world.admin)).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        # Meanwhile the pipeline writes newer alerts, one at the same second as the newest.
        with sessions.begin() as session:
            at = T0 + timedelta(minutes=100 if inserted == 0 else 200 + inserted)
            open_alert(
                session,
                AlertChange(
                    u0, "low_heart_rate", "high", at - timedelta(seconds=inserted), at, "x"
                ),
            )
        inserted += 1
    assert inserted >= 4
    assert len(seen) == len(set(seen)), "an alert was repeated across pages"
    assert sorted(seen) == sorted(world.alerts), "an alert was skipped or a new one leaked in"
    assert len(_ids(client, world.admin, limit=500)) == len(ALERTS) + inserted


def test_detail_has_events_and_masked_sms(client: TestClient, world: World) -> None:
    sos_id = world.alerts[2]
    body = client.get(f"/v1/alerts/{sos_id}", headers=auth(world.clinician)).json()
    assert body["type"] == "sos" and body["userName"] == "Aiko Tanaka"
    assert [e["eventType"] for e in body["events"]] == ["created"]
    assert len(body["sms"]) == 1
    sms = body["sms"][0]
    assert sms["status"] == "delivered" and sms["contactName"] == "Ren Tanaka"
    assert sms["phone"].endswith("78") and "12345" not in sms["phone"]
    acked = client.get(f"/v1/alerts/{world.alerts[1]}", headers=auth(world.admin)).json()
    assert [e["eventType"] for e in acked["events"]] == ["created", "acknowledged"]


def test_ack_records_who_and_persists(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    alert_id = world.alerts[0]
    response = client.post(f"/v1/alerts/{alert_id}/ack", headers=auth(world.clinician))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": alert_id,
        "acknowledged": True,
        "changed": True,
        "actor": f"apikey:{world.clinician_id}:Dr Who",
    }
    again = client.post(f"/v1/alerts/{alert_id}/ack", headers=auth(world.clinician)).json()
    assert again["changed"] is False
    with sessions() as session:
        assert session.get(HealthAlert, alert_id).acknowledged is True  # type: ignore[union-attr]
        actors = session.scalars(
            select(AlertEvent.actor).where(
                AlertEvent.alertId == alert_id, AlertEvent.eventType == "acknowledged"
            )
        ).all()
    assert actors == [f"apikey:{world.clinician_id}:Dr Who"]


def test_csv_export_follows_filters(client: TestClient, world: World) -> None:
    response = client.get(
        "/v1/alerts.csv", params={"severity": "critical"}, headers=auth(world.clinician)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # critical alerts of patients 0 and 1: sos, low_heart_rate, fall, high_heart_rate
    assert len(rows) == 4
    assert {row["userId"] for row in rows} == {str(world.users[0]), str(world.users[1])}
    assert {row["type"] for row in rows} == {
        "sos",
        "low_heart_rate",
        "fall_detected",
        "high_heart_rate",
    }
    assert rows[0]["createdAt"] > rows[-1]["createdAt"]


def test_validation_errors_are_422_with_a_message(client: TestClient, world: World) -> None:
    headers = auth(world.admin)
    cases = {
        "/v1/alerts?limit=501": "limit",
        "/v1/alerts?limit=0": "limit",
        "/v1/alerts?type=heart_attack": "type",
        "/v1/alerts?severity=urgent": "severity",
        "/v1/alerts?since=yesterday": "since",
        "/v1/alerts?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z": "before",
        "/v1/alerts?since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z": "366 days",
        "/v1/alerts?cursor=not-a-cursor": "cursor",
        "/v1/alerts.csv?since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z": "366 days",
        f"/v1/users/{world.users[0]}/readings?maxPoints=1": "maxPoints",
        f"/v1/users/{world.users[0]}/readings?since=2024-01-01T00:00:00Z"
        "&until=2026-01-01T00:00:00Z": "366 days",
        "/v1/alerts/abc": "alert_id",
    }
    for url, word in cases.items():
        response = client.get(url, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert word in response.json()["detail"], (url, response.json())


def test_unknown_ids_are_404(client: TestClient, world: World) -> None:
    headers = auth(world.admin)
    assert client.get("/v1/alerts/999999", headers=headers).status_code == 404
    assert client.post("/v1/alerts/999999/ack", headers=headers).status_code == 404
    assert client.get("/v1/users/999999/readings", headers=headers).status_code == 404
