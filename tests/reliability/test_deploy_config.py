"""The docker-compose Mosquitto configuration is the secure one the tests exercise."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_mosquitto_requires_passwords_and_an_acl() -> None:
    lines = {
        line.split(None, 1)[0]: line.split(None, 1)[1].strip()
        for line in (ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert lines["allow_anonymous"] == "false"
    assert lines["password_file"] == "/mosquitto/config/passwd"
    assert lines["acl_file"] == "/mosquitto/config/acl"
    assert lines["persistence"] == "true"
    assert int(lines["max_queued_messages"]) >= 100_000
    passwd = (ROOT / "deploy/mosquitto/passwd").read_text()
    assert all(line.startswith("#") for line in passwd.splitlines() if line)  # no real hashes
