"""Web and data security checks: SQL only through SQLAlchemy constructs (no raw SQL
strings built from values anywhere in the product code), and no secret or phone number
in the logs or output of a full replay with contacts and the Twilio notifier at DEBUG
level, nor in the API's logs. (Forged/replayed webhooks: tests/notifier/test_webhooks.py;
authz matrix and hashed keys: tests/api and tests/storage.)"""

from __future__ import annotations

import ast
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from simulators.generate import fake_contacts
from simulators.trace_io import companion_paths, read_manifest
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.repositories.access import create_api_key
from storage.repositories.devices import add_device
from tests.notifier.fake_twilio import FakeTwilio
from tests.reliability.harness import simulated_trace
from tests.reliability.report import record
from vitals.api import create_app
from vitals.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("storage", "ingest", "notifier", "vitals", "simulators", "detectors")
SQL_CALLS = {"text", "exec_driver_sql", "literal_column"}
#: Fixed SQL literals allowed: SQLite pragmas, the health check, server defaults.
ALLOWED = {
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "SELECT 1",
}
SERVER_DEFAULT = re.compile(r"'?\w{1,16}'?")


def raw_sql_findings(source: str, name: str) -> list[str]:
    """Calls that hand SQL text to the database: text()/exec_driver_sql()/
    literal_column() or ``.execute("...")``. A built string (f-string, +, %, .format) is
    always a finding; a constant only when it is not one of the fixed literals."""
    findings = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
        if called == "text" and owner not in ("", "sa", "sqlalchemy"):
            continue  # e.g. matplotlib's ax.text
        first = node.args[0]
        is_string = isinstance(first, ast.JoinedStr | ast.BinOp) or (
            isinstance(first, ast.Constant) and isinstance(first.value, str)
        )
        if called not in SQL_CALLS and not (called == "execute" and is_string):
            continue
        constant = isinstance(first, ast.Constant) and isinstance(first.value, str)
        if constant and (first.value in ALLOWED or SERVER_DEFAULT.fullmatch(first.value)):  # type: ignore[attr-defined]
            continue
        findings.append(f"{name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return findings


def _product_files() -> Iterator[Path]:
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_no_raw_sql_strings_in_product_code() -> None:
    files = list(_product_files())
    findings = [f for p in files for f in raw_sql_findings(p.read_text(), str(p.relative_to(ROOT)))]
    assert findings == []
    assert len(files) > 50
    record("web security", "product modules scanned for raw SQL strings",
           tried=len(files), findings=0, lost=0)  # fmt: skip


def test_the_raw_sql_scan_finds_what_it_should() -> None:
    bad = (
        "session.execute(text(f'SELECT * FROM users WHERE id={user}'))\n"
        "cursor.execute('DELETE FROM users WHERE id=' + user)\n"
        "connection.exec_driver_sql('SELECT * FROM users')\n"
        "session.execute(text('SELECT 1'))\n"
    )
    assert len(raw_sql_findings(bad, "bad.py")) == 3


def _secret_patterns(values: list[str]) -> re.Pattern[str]:
    """A number also counts when printed without its '+' or with spaces or dashes."""
    parts = []
    for value in values:
        if value.startswith("+"):
            digits = value[1:]
            parts.append(r"[\s\-().]?".join(re.escape(d) for d in digits))
        else:
            parts.append(re.escape(value))
    return re.compile("|".join(parts))


@pytest.mark.mariadb
def test_no_secret_or_phone_number_in_the_logs_of_a_full_run(
    clean_mysql_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trace = simulated_trace(tmp_path, 21)
    manifest = read_manifest(companion_paths(trace)[1])
    phones = [c.phone for u in manifest.users for c in fake_contacts(u.user)]
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    mqtt_password = "mqtt-pipeline-secret-42"
    with FakeTwilio() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
        env.update(
            VITALS_DATABASE_URL=clean_mysql_url,
            VITALS_TWILIO_ACCOUNT_SID=fake.account_sid,
            VITALS_TWILIO_AUTH_TOKEN=fake.auth_token,
            VITALS_TWILIO_FROM_NUMBER="+15005550006",
            VITALS_TWILIO_API_BASE_URL=fake.base_url,
            VITALS_ESCALATION_DELAY_SECONDS="60",  # escalations text the second contacts
            VITALS_MQTT_PASSWORD=mqtt_password,
            VITALS_DATABASE_ECHO="true",  # every SQL statement logged, parameters included
        )
        run = subprocess.run(
            [sys.executable, "-m", "vitals.cli", "-v", "replay", "--register", str(trace)],
            env=env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        texts = len(fake.messages)
    assert run.returncode == 0, run.stderr[-2000:]
    assert texts > len(manifest.users)  # contacts were texted (first texts + escalations)
    with sessions.begin() as session:
        device = add_device(session, user_id=manifest.users[0].user, device_id="logged-watch")
        key = create_api_key(session, role="admin", name="Dr Log", at=datetime.now(UTC))
    settings = Settings(database_url=clean_mysql_url, twilio_auth_token=fake.auth_token)
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings, sessions)) as client:
        headers = {"Authorization": f"Bearer {key.key}"}
        assert client.get("/v1/alerts", headers=headers).status_code == 200
        assert (
            client.get("/v1/alerts", headers={"Authorization": "Bearer x" + key.key}).status_code
            == 401
        )
    engine.dispose()
    output = run.stdout + run.stderr + caplog.text
    assert "DEBUG" in run.stderr or "DEBUG" in run.stdout  # the run really logged at DEBUG
    secrets = [fake.auth_token, mqtt_password, key.key, device.secret]
    pattern = _secret_patterns(phones + secrets)
    leaks = [line[:300] for line in output.splitlines() if pattern.search(line)]
    assert leaks == []
    record("web security", "DEBUG logs + output of a full replay with Twilio, API calls",
           tried=len(phones) + len(secrets), leaks=0, lost=0)  # fmt: skip
