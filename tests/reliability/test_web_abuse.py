"""The clinician API under abuse, in process against the real MariaDB (issue 17, items
12-14): out-of-range ids and dates, every refusal audited, failed authentications rate
limited with aggregated audit rows, ``no-store`` on patient data, the docs locked down,
keys in URLs kept out of the audit. Bodies, memory and the uvicorn access log of a real
``vitals api`` process: ``test_web_process.py``."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AccessAudit
from tests.api.conftest import World, auth, seed_world
from tests.conftest import _empty_all_tables
from tests.reliability.report import record
from vitals.api import create_app
from vitals.settings import Settings

pytestmark = pytest.mark.mariadb

INT_MAX = 2**31 - 1


@pytest.fixture
def sessions_mariadb(shared_mysql_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(shared_mysql_engine)
    _empty_all_tables(shared_mysql_engine)


@pytest.fixture
def world_mariadb(sessions_mariadb: sessionmaker[Session]) -> World:
    return seed_world(sessions_mariadb)


def _client(app: FastAPI, ip: str = "192.0.2.10") -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(ip, 40000))


def _audit_rows(sessions: sessionmaker[Session]) -> list[AccessAudit]:
    with sessions() as session:
        return list(session.scalars(select(AccessAudit).order_by(AccessAudit.id)))


def _rows_per_minute(rows: list[AccessAudit]) -> Counter[str]:
    """Folded rows by the minute their ``aggregateKey`` names (``auth:<minute>:…``)."""
    assert all(r.aggregateKey for r in rows)
    return Counter(str(r.aggregateKey).split(":")[1] for r in rows)


def _random_bad_key() -> str:
    return f"vk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


# -- item 12: ids and dates out of range are 422, and every refusal is audited ---------

#: (name, method, url template, parameter the 422 must name); {u} is patient 0.
OUT_OF_RANGE = (
    ("readings, user id > INT", "GET", "/v1/users/2147483648/readings", "user_id"),
    ("readings, user id < 1", "GET", "/v1/users/0/readings", "user_id"),
    ("list, ?user > INT", "GET", "/v1/alerts?user=2147483648", "user"),
    ("csv, ?user > INT", "GET", "/v1/alerts.csv?user=2147483648", "user"),
    ("readings, until year 1", "GET", "/v1/users/{u}/readings?until=0001-01-01T00:00Z", "until"),
    ("readings, since year 9999", "GET", "/v1/users/{u}/readings?since=9999-12-31T23:59Z", "since"),
    ("list, until year 1", "GET", "/v1/alerts?until=0001-01-01T00:00:00Z", "until"),
    ("csv, since year 9999", "GET", "/v1/alerts.csv?since=9999-12-31T00:00:00Z", "since"),
    ("alert id > INT", "GET", "/v1/alerts/2147483648", "alert_id"),
    ("ack, alert id > INT", "POST", "/v1/alerts/99999999999999999999/ack", "alert_id"),
    ("list, page size too big", "GET", "/v1/alerts?limit=100000", "limit"),
)  # fmt: skip


def test_out_of_range_ids_and_dates_are_422_naming_the_parameter_and_audited(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    client = _client(create_app(Settings(), sessions_mariadb))
    u0 = world_mariadb.users[0]
    wrong = []
    for name, method, template, parameter in OUT_OF_RANGE:
        before = len(_audit_rows(sessions_mariadb))
        response = client.request(method, template.format(u=u0), headers=auth(world_mariadb.admin))
        rows = _audit_rows(sessions_mariadb)[before:]
        detail = response.json().get("detail", "") if response.status_code < 500 else ""
        audited = [(r.apiKeyId, r.outcome) for r in rows]
        if (
            response.status_code != 422
            or parameter not in str(detail)
            or audited != [(world_mariadb.admin_id, "invalid")]
        ):
            wrong.append((name, response.status_code, str(detail)[:100], audited))
    assert wrong == []
    record("web security", "out-of-range ids and dates on every patient-data endpoint",
           tried=len(OUT_OF_RANGE), answered_500=0, unaudited=0, lost=0)  # fmt: skip


def test_the_edges_of_the_ranges_are_accepted(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    client = _client(create_app(Settings(), sessions_mariadb))
    headers = auth(world_mariadb.admin)
    assert client.get(f"/v1/users/{INT_MAX}/readings", headers=headers).status_code == 404
    assert client.get(f"/v1/alerts?user={INT_MAX}", headers=headers).status_code == 200
    assert client.get(f"/v1/alerts/{INT_MAX}", headers=headers).status_code == 404
    in_range = "since=2099-06-01T00:00:00Z&until=2099-12-31T00:00:00Z"
    u0 = world_mariadb.users[0]
    assert client.get(f"/v1/users/{u0}/readings?{in_range}", headers=headers).status_code == 200
    assert client.get(f"/v1/alerts?{in_range}", headers=headers).status_code == 200


# -- item 13: failed authentications are rate limited; their audit rows aggregated -----


def test_bad_keys_from_one_client_get_429_and_a_handful_of_audit_rows(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    settings = Settings(api_auth_failures_per_client=20, api_auth_failure_window_seconds=60)
    app = create_app(settings, sessions_mariadb)
    attacker, colleague = _client(app, "203.0.113.7"), _client(app, "198.51.100.20")
    tried = 600
    statuses = []
    retry_after = set()
    for _ in range(tried):
        response = attacker.get("/v1/alerts", headers=auth(_random_bad_key()))
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry_after.add(int(response.headers["retry-after"]))
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * (tried - 20)
    assert retry_after and all(1 <= seconds <= 60 for seconds in retry_after)
    # the limit is the attacker's address: a colleague elsewhere is served meanwhile
    assert colleague.get("/v1/alerts", headers=auth(world_mariadb.clinician)).status_code == 200
    rows = _audit_rows(sessions_mariadb)
    failures = [r for r in rows if r.outcome in ("unauthenticated", "rate_limited")]
    assert sum(r.hits for r in failures) == tried  # every refused request is counted
    per_minute = _rows_per_minute(failures)
    assert max(per_minute.values()) <= 2  # one row per client, outcome and minute
    assert {r.clientIp for r in failures} == {"203.0.113.7"}
    record("web security", "bad API keys from one client (rate limit, aggregated audit)",
           tried=tried, answered_429=tried - 20, audit_rows=len(failures), lost=0)  # fmt: skip


def test_guessing_one_keys_secret_from_many_addresses_is_limited_per_prefix(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    settings = Settings(api_auth_failures_per_key=10, api_auth_failure_window_seconds=60)
    app = create_app(settings, sessions_mariadb)
    prefix = world_mariadb.clinician.split("_")[1]
    statuses = []
    for host in range(40):
        guess = f"vk_{prefix}_{secrets.token_urlsafe(32)}"
        response = _client(app, f"192.0.2.{host + 1}").get("/v1/alerts", headers=auth(guess))
        statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429] * 30
    # the key's owner is not locked out by someone who knows its prefix
    owner = _client(app, "198.51.100.99").get("/v1/alerts", headers=auth(world_mariadb.clinician))
    assert owner.status_code == 200
    record("web security", "wrong secrets for one key prefix from 40 addresses",
           tried=40, answered_429=30, owner_locked_out=0, lost=0)  # fmt: skip


def test_bad_keys_from_many_addresses_cannot_grow_the_audit_table(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    settings = Settings(api_audit_failure_rows_per_minute=25)
    app = create_app(settings, sessions_mariadb)
    tried = 300
    for host in range(tried):
        ip = f"2001:db8:{host:x}::1"  # a different /64 each time
        response = _client(app, ip).get("/v1/alerts", headers=auth(_random_bad_key()))
        assert response.status_code == 401
    failures = [r for r in _audit_rows(sessions_mariadb) if r.outcome == "unauthenticated"]
    assert sum(r.hits for r in failures) == tried
    per_minute = _rows_per_minute(failures)
    assert max(per_minute.values()) <= 25 + 1  # the cap per minute plus one overflow row
    record("web security", "bad API keys from 300 addresses (audit rows capped at 25+1/min)",
           tried=tried, audit_rows=len(failures), minutes=len(per_minute), lost=0)  # fmt: skip


def test_the_client_limit_lifts_after_its_window(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    settings = Settings(api_auth_failures_per_client=3, api_auth_failure_window_seconds=1)
    client = _client(create_app(settings, sessions_mariadb), "203.0.113.8")
    statuses = [client.get("/v1/alerts").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    deadline = time.monotonic() + 30
    while client.get("/v1/alerts").status_code == 429:
        assert time.monotonic() < deadline, "the limit never lifted"
        time.sleep(0.1)


# -- item 14: no-store, docs, keys in URLs ----------------------------------------------


def test_every_patient_data_answer_is_no_store(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    client = _client(create_app(Settings(), sessions_mariadb))
    w = world_mariadb
    calls = (
        (w.clinician, "GET", "/v1/alerts"),
        (w.clinician, "GET", "/v1/alerts.csv"),
        (w.clinician, "GET", f"/v1/alerts/{w.alerts[0]}"),
        (w.clinician, "GET", f"/v1/users/{w.users[0]}/readings"),
        (w.clinician, "POST", f"/v1/alerts/{w.alerts[0]}/ack"),
        (w.clinician, "GET", "/v1/me"),
        (w.other, "GET", f"/v1/users/{w.users[0]}/readings"),  # 403
        (None, "GET", "/v1/alerts"),  # 401
        (w.admin, "GET", "/v1/alerts?limit=0"),  # 422
        (w.admin, "GET", "/v1/alerts/999999"),  # 404
    )
    cached = []
    for key, method, url in calls:
        response = client.request(method, url, headers=auth(key) if key else {})
        if "no-store" not in response.headers.get("cache-control", ""):
            cached.append((method, url, response.status_code))
    assert cached == []


def test_docs_are_off_by_default_and_under_a_policy_when_on(
    sessions_mariadb: sessionmaker[Session],
) -> None:
    default = _client(create_app(Settings(), sessions_mariadb))
    assert default.get("/docs").status_code == 404
    assert default.get("/redoc").status_code == 404
    assert default.get("/openapi.json").status_code == 200  # the spec itself stays
    on = _client(create_app(Settings(api_docs=True), sessions_mariadb))
    page = on.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert on.get("/redoc").status_code == 404
    assert on.get("/docs/oauth2-redirect").status_code == 404


def test_a_key_in_the_query_string_never_reaches_the_audit(
    sessions_mariadb: sessionmaker[Session], world_mariadb: World
) -> None:
    client = _client(create_app(Settings(), sessions_mariadb))
    w = world_mariadb
    secret = w.admin.split("_", 2)[2]
    answers = [
        client.get(f"/v1/alerts?user={w.users[0]}&key={w.admin}", headers=auth(w.admin)),
        client.get(f"/v1/alerts?key={w.admin}"),  # keys are not accepted in URLs: 401
        client.get(f"/v1/alerts?api_key={w.admin}&limit=0", headers=auth(w.admin)),  # 422
        client.get(f"/v1/alerts?user={w.admin}", headers=auth(w.admin)),  # 422 echoing input
    ]
    assert [a.status_code for a in answers] == [200, 401, 422, 422]
    assert "not accepted in the URL" in answers[1].json()["detail"]
    assert all(secret not in a.text for a in answers)
    resources = [r.resource for r in _audit_rows(sessions_mariadb)]
    assert len(resources) == 4
    assert all(secret not in resource for resource in resources)
    assert resources[0] == f"/v1/alerts?user={w.users[0]}&key=redacted"
    record("web security", "API keys in the query string (audit, answers)",
           tried=len(answers), leaks=0, lost=0)  # fmt: skip


def test_a_request_that_fails_is_audited_as_an_error(mysql_url: str) -> None:
    """A real fault, not a mock: the readings table is gone from a scratch database."""
    engine = create_engine_from_url(mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    world = seed_world(sessions)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE `healthReadings`"))
    client = _client(create_app(Settings(), sessions))
    url = f"/v1/users/{world.users[0]}/readings"
    assert client.get(url, headers=auth(world.admin)).status_code == 500
    rows = [(r.apiKeyId, r.action, r.userId, r.outcome) for r in _audit_rows(sessions)]
    engine.dispose()
    assert rows == [(world.admin_id, "read_readings", world.users[0], "error")]
