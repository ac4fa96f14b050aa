"""The console endpoints against SQLite and the real MariaDB: the patient overview, alert
states, comments, resolution with a note, bulk acknowledgement, conditional polling —
each role-checked and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AccessAudit, AlertState, Device, HealthAlert, HealthReading
from storage.repositories.alerts import AlertChange, clear_alert
from tests.api.conftest import ALERTS, T0, World, auth


def _audit(sessions: sessionmaker[Session]) -> list[tuple[str, int | None, str]]:
    with sessions() as session:
        rows = session.execute(
            select(AccessAudit.action, AccessAudit.userId, AccessAudit.outcome).order_by(
                AccessAudit.id
            )
        ).all()
        return [(action, user_id, outcome) for action, user_id, outcome in rows]


def test_patients_are_sorted_by_open_severity_and_scoped(client: TestClient, world: World) -> None:
    u0, u1, u2 = world.users
    body = client.get("/v1/patients", headers=auth(world.admin)).json()
    # all have a critical open alert; Aiko has 3 open, Ben and Chloé 2 (then by name)
    assert [p["userId"] for p in body["items"]] == [u0, u1, u2]
    aiko = body["items"][0]
    assert aiko["name"] == "Aiko Tanaka"
    assert aiko["openAlerts"] == 3 and aiko["worstOpenSeverity"] == "critical"
    assert aiko["heartRate"] == 60 + 179 % 5  # the latest of the seeded readings
    assert aiko["hrvMs"] == 42.5 and aiko["stressLevel"] == 3
    assert aiko["readingAt"].startswith("2026-11-24T06:00:00")
    assert aiko["transmitting"] is False  # a week-old reading is silence
    assert body["notTransmittingAfterSeconds"] == 300
    mine = client.get("/v1/patients", headers=auth(world.clinician)).json()["items"]
    assert [p["userId"] for p in mine] == [u0, u1]  # never patient 2
    found = client.get("/v1/patients", params={"q": "okaf"}, headers=auth(world.admin)).json()
    assert [p["userId"] for p in found["items"]] == [u1]


def test_patient_overview_transmitting_unreadable_and_acknowledged(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    u0, u1, u2 = world.users
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(Device(deviceId="w-chloe", userId=u2, lastSeenAt=now - timedelta(seconds=20)))
        session.add(
            HealthReading(
                userId=u2,
                heartRate=70,
                arrhythmiaDetected=None,  # an unreadable window: never "no arrhythmia"
                readingType="automatic",
                createdAt=now - timedelta(seconds=30),
            )
        )
    assert client.post(
        "/v1/alerts/ack", json={"ids": list(world.of_user(0))}, headers=auth(world.admin)
    ).json()["changed"] == [
        a for a, s in zip(world.alerts, ALERTS, strict=True) if s[0] == 0 and not s[4]
    ]
    items = client.get("/v1/patients", headers=auth(world.admin)).json()["items"]
    by_id = {p["userId"]: p for p in items}
    assert by_id[u2]["transmitting"] is True and by_id[u2]["arrhythmia"] is None
    assert by_id[u0]["openAlerts"] == 0 and by_id[u0]["worstOpenSeverity"] is None
    assert by_id[u0]["arrhythmia"] is False
    # the acknowledged patient drops to the end; Ben and Chloé tie on open alerts, and
    # Ben (silent) comes before Chloé (transmitting)
    assert [p["userId"] for p in items] == [u1, u2, u0]


def test_alert_states_filter(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    u0 = world.users[0]
    with sessions.begin() as session:
        cleared = clear_alert(
            session,
            AlertChange(
                user_id=u0,
                kind="high_heart_rate",
                severity="high",
                onset_at=T0,
                at=T0 + timedelta(minutes=15),
                message="over",
            ),
        )
    assert cleared == world.alerts[0]

    def ids(**params: object) -> set[int]:
        response = client.get("/v1/alerts", params=params, headers=auth(world.admin))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids(state="cleared") == {world.alerts[0]}
    assert ids(state="active") == set(world.alerts) - {world.alerts[0]}
    assert ids(state="active", acknowledged="true") == {world.alerts[1], world.alerts[5]}
    assert ids(state="cleared", acknowledged="false") == {world.alerts[0]}
    bad = client.get("/v1/alerts", params={"state": "open"}, headers=auth(world.admin))
    assert bad.status_code == 422 and "state" in bad.json()["detail"]


def test_comment_and_resolve_are_role_checked_audited_and_shown(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    sos = world.alerts[2]  # patient 0, unacknowledged, active
    u0 = world.users[0]
    refused = client.post(
        f"/v1/alerts/{sos}/comments", json={"text": "not mine"}, headers=auth(world.other)
    )
    assert refused.status_code == 403
    empty = client.post(
        f"/v1/alerts/{sos}/comments", json={"text": ""}, headers=auth(world.clinician)
    )
    assert empty.status_code == 422
    comment = client.post(
        f"/v1/alerts/{sos}/comments",
        json={"text": "Called Ren, on the way"},
        headers=auth(world.clinician),
    )
    assert comment.status_code == 201, comment.text
    assert comment.json()["author"] == f"apikey:{world.clinician_id}:Dr Who"
    resolved = client.post(
        f"/v1/alerts/{sos}/resolve",
        json={"text": "False press, patient fine"},
        headers=auth(world.clinician),
    )
    assert resolved.status_code == 200 and resolved.json()["changed"] is True
    again = client.post(
        f"/v1/alerts/{sos}/resolve", json={"text": "second"}, headers=auth(world.admin)
    ).json()
    assert again["changed"] is False and again["note"]["text"] == "False press, patient fine"
    with sessions() as session:
        alert = session.get(HealthAlert, sos)
        state = session.get(AlertState, sos)
        assert alert is not None and alert.acknowledged is True
        assert state is not None and state.clearedAt is not None
    detail = client.get(f"/v1/alerts/{sos}", headers=auth(world.clinician)).json()
    assert [(n["kind"], n["text"]) for n in detail["notes"]] == [
        ("comment", "Called Ren, on the way"),
        ("resolution", "False press, patient fine"),
    ]
    kinds = [e["eventType"] for e in detail["events"]]
    assert kinds[0] == "created" and kinds[-3:] == ["commented", "acknowledged", "resolved"]
    assert detail["clearedAt"] is not None and detail["acknowledged"] is True
    assert (
        client.post(
            "/v1/alerts/999999/resolve", json={"text": "x"}, headers=auth(world.admin)
        ).status_code
        == 404
    )
    assert _audit(sessions) == [
        ("comment_alert", u0, "denied"),
        ("comment_alert", None, "invalid"),  # the empty comment, refused before its route
        ("comment_alert", u0, "ok"),
        ("resolve_alert", u0, "ok"),
        ("resolve_alert", u0, "ok"),
        ("read_alert", u0, "ok"),
        ("resolve_alert", None, "not_found"),
    ]


def test_bulk_ack_is_all_or_nothing(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    u0, u1, u2 = world.users
    mixed = [world.alerts[0], world.alerts[7]]  # patient 0 and patient 2
    refused = client.post("/v1/alerts/ack", json={"ids": mixed}, headers=auth(world.clinician))
    assert refused.status_code == 403
    missing = client.post(
        "/v1/alerts/ack", json={"ids": [world.alerts[0], 999999]}, headers=auth(world.admin)
    )
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    with sessions() as session:
        assert session.get(HealthAlert, world.alerts[0]).acknowledged is False  # type: ignore[union-attr]
    mine = [world.alerts[0], world.alerts[1], world.alerts[4]]  # alerts[1] was acked already
    done = client.post("/v1/alerts/ack", json={"ids": mine}, headers=auth(world.clinician)).json()
    assert done["changed"] == [world.alerts[0], world.alerts[4]]
    assert (
        client.post("/v1/alerts/ack", json={"ids": []}, headers=auth(world.admin)).status_code
        == 422
    )
    audit = _audit(sessions)
    assert audit[:2] == [("bulk_ack", u2, "denied"), ("bulk_ack", None, "not_found")]
    assert sorted(audit[2:4], key=str) == sorted(
        [("bulk_ack", u0, "ok"), ("bulk_ack", u1, "ok")], key=str
    )


def test_polling_with_etag_answers_304_until_something_changes(
    client: TestClient, world: World
) -> None:
    for path in ("/v1/alerts", "/v1/patients"):
        first = client.get(path, headers=auth(world.admin))
        tag = first.headers["etag"]
        same = client.get(path, headers={**auth(world.admin), "If-None-Match": tag})
        assert same.status_code == 304 and same.content == b""
    tag = client.get("/v1/alerts", headers=auth(world.admin)).headers["etag"]
    client.post(f"/v1/alerts/{world.alerts[0]}/ack", headers=auth(world.admin))
    changed = client.get("/v1/alerts", headers={**auth(world.admin), "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
