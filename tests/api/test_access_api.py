"""Who may do what: the authz matrix on every endpoint, and the audit rows it leaves."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AccessAudit, HealthAlert
from tests.api.conftest import World, auth

BAD_KEY = "vk_0123456789ab_" + "A" * 43
Request = Callable[[World], tuple[str, str]]

#: endpoint name -> (method, url) built from the seeded world; patient 0 is assigned to
#: ``clinician``, not to ``other``.
ENDPOINTS: dict[str, Request] = {
    "list": lambda w: ("GET", "/v1/alerts"),
    "list_user": lambda w: ("GET", f"/v1/alerts?user={w.users[0]}"),
    "csv_user": lambda w: ("GET", f"/v1/alerts.csv?user={w.users[0]}"),
    "detail": lambda w: ("GET", f"/v1/alerts/{w.alerts[0]}"),
    "readings": lambda w: ("GET", f"/v1/users/{w.users[0]}/readings"),
    "ack": lambda w: ("POST", f"/v1/alerts/{w.alerts[0]}/ack"),
}
#: principal -> expected status per endpoint
MATRIX: dict[str, dict[str, int]] = {
    "none": dict.fromkeys(ENDPOINTS, 401),
    "bad": dict.fromkeys(ENDPOINTS, 401),
    "revoked": dict.fromkeys(ENDPOINTS, 401),
    "assigned": dict.fromkeys(ENDPOINTS, 200),
    "unassigned": {
        "list": 200,  # lists only its own patients
        "list_user": 403,
        "csv_user": 403,
        "detail": 403,
        "readings": 403,
        "ack": 403,
    },
    "admin": dict.fromkeys(ENDPOINTS, 200),
}


def _headers(world: World, principal: str) -> dict[str, str]:
    keys = {
        "none": None,
        "bad": BAD_KEY,
        "revoked": world.revoked,
        "assigned": world.clinician,
        "unassigned": world.other,
        "admin": world.admin,
    }
    key = keys[principal]
    return auth(key) if key else {}


def test_authz_matrix_on_every_endpoint(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    wrong = []
    # ack last: it changes the alert (still 200 for a second ack)
    for principal, expected in MATRIX.items():
        for endpoint, build in ENDPOINTS.items():
            method, url = build(world)
            response = client.request(method, url, headers=_headers(world, principal))
            if response.status_code != expected[endpoint]:
                wrong.append((principal, endpoint, response.status_code, response.text[:120]))
            if expected[endpoint] == 401:
                assert response.headers.get("www-authenticate") == "Bearer"
    assert not wrong, wrong
    with sessions() as session:
        acked = session.get(HealthAlert, world.alerts[0])
        assert acked is not None and acked.acknowledged is True


def test_other_clinicians_list_never_shows_patient_0(client: TestClient, world: World) -> None:
    body = client.get("/v1/alerts", params={"limit": 500}, headers=auth(world.other)).json()
    assert {item["userId"] for item in body["items"]} == {world.users[2]}
    csv_text = client.get("/v1/alerts.csv", headers=auth(world.other)).text
    assert "Aiko" not in csv_text and "Chlo" in csv_text


def test_x_api_key_header_works_too(client: TestClient, world: World) -> None:
    response = client.get("/v1/me", headers={"X-API-Key": world.clinician})
    assert response.status_code == 200
    assert response.json() == {
        "id": world.clinician_id,
        "name": "Dr Who",
        "role": "clinician",
        "patientIds": sorted(world.users[:2]),
    }


def _audit(sessions: sessionmaker[Session]) -> list[tuple[int | None, str, int | None, str]]:
    with sessions() as session:
        rows = session.execute(
            select(
                AccessAudit.apiKeyId, AccessAudit.action, AccessAudit.userId, AccessAudit.outcome
            ).order_by(AccessAudit.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_every_patient_read_is_audited(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    u0, _, u2 = world.users
    calls = [
        (world.clinician, "GET", f"/v1/alerts?user={u0}"),
        (world.clinician, "GET", f"/v1/alerts/{world.alerts[0]}"),
        (world.clinician, "GET", f"/v1/users/{u0}/readings"),
        (world.clinician, "GET", f"/v1/alerts.csv?user={u0}"),
        (world.clinician, "POST", f"/v1/alerts/{world.alerts[0]}/ack"),
        (world.clinician, "GET", f"/v1/users/{u2}/readings"),
        (world.admin, "GET", "/v1/alerts/999999"),
        (world.revoked, "GET", "/v1/alerts"),
        (None, "GET", "/v1/alerts"),
    ]
    for key, method, url in calls:
        client.request(method, url, headers=auth(key) if key else {})
    cid, aid = world.clinician_id, world.admin_id
    assert _audit(sessions) == [
        (cid, "list_alerts", u0, "ok"),
        (cid, "read_alert", u0, "ok"),
        (cid, "read_readings", u0, "ok"),
        (cid, "export_alerts", u0, "ok"),
        (cid, "ack_alert", u0, "ok"),
        (cid, "read_readings", u2, "denied"),
        (aid, "read_alert", None, "not_found"),
        (world.revoked_id, "authenticate", None, "unauthenticated"),
        (None, "authenticate", None, "unauthenticated"),
    ]
    with sessions() as session:
        resources = session.scalars(select(AccessAudit.resource).order_by(AccessAudit.id)).all()
        times = session.scalars(select(AccessAudit.createdAt)).all()
    assert resources[0] == f"/v1/alerts?user={u0}"
    assert all(t is not None and t.tzinfo is not None for t in times)


def test_operations_need_no_key(client: TestClient, world: World) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    client.get("/v1/alerts", headers=auth(world.admin))
    client.get("/v1/alerts")
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'vitals_api_requests_total{method="GET",route="/v1/alerts",status="200"} 1' in text
    assert 'vitals_api_requests_total{method="GET",route="/v1/alerts",status="401"} 1' in text
    assert "vitals_api_auth_failures_total 1" in text
    spec = client.get("/openapi.json").json()
    assert {"/v1/alerts", "/v1/alerts.csv", "/v1/alerts/{alert_id}", "/v1/alerts/{alert_id}/ack"}
    assert "/v1/users/{user_id}/readings" in spec["paths"]
    assert "/v1/alerts/{alert_id}/ack" in spec["paths"]


def test_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "clinician console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


def test_twilio_webhooks_are_mounted_when_configured(
    sessions: sessionmaker[Session], world: World
) -> None:
    from notifier.policy import INBOUND_PATH, WEBHOOK_PREFIX  # noqa: PLC0415
    from vitals.api import create_app  # noqa: PLC0415
    from vitals.settings import Settings  # noqa: PLC0415

    url = WEBHOOK_PREFIX + INBOUND_PATH
    plain = TestClient(create_app(Settings(), sessions))
    assert plain.post(url, data={"Body": "ACK"}).status_code == 404
    settings = Settings(
        twilio_auth_token="token-for-tests",  # type: ignore[arg-type]
        public_base_url="https://vitals.example.org",
    )
    with TestClient(create_app(settings, sessions)) as configured:
        # mounted, and it refuses an unsigned request
        assert configured.post(url, data={"Body": "ACK"}).status_code == 403
