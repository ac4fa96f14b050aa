"""The docker-compose deployment is the secure one the tests exercise: Mosquitto with
passwords, an ACL and a TLS listener that really serves mqtts://, no default passwords,
nothing but the broker's TLS port published beyond this host by default."""

from __future__ import annotations

import ipaddress
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from tests.netutil import free_port, wait_for_listener
from tests.reliability.harness import MOSQUITTO
from tests.reliability.report import record

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


# -- docker-compose.yml (issue 17, item 17) ---------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """What ``docker compose`` does for ``${VAR:?message}`` when VAR is unset or empty."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return VARIABLE.sub(one, value)


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (service.get("environment") or {}).items()}


def test_compose_refuses_to_start_without_real_passwords() -> None:
    text = COMPOSE.read_text()
    assert "change-me" not in text
    secrets_used = {
        (name, key, value)
        for name, service in _services().items()
        for key, value in _environment(service).items()
        if "PASSWORD" in key or "TOKEN" in key or "PASSWORD" in value
    }
    assert len(secrets_used) >= 5  # mariadb's two, the database URL, MQTT, Twilio token
    for name, key, value in secrets_used:
        for match in VARIABLE.finditer(value):
            if "PASSWORD" in match.group("name"):
                assert match.group("op") == ":?", f"{name}.{key}: {value} has a fallback"
    # unset: compose stops with the message; set: the value is used
    mariadb = _environment(_services()["mariadb"])
    with pytest.raises(MissingVariable, match="VITALS_DB_PASSWORD"):
        interpolate(mariadb["MARIADB_PASSWORD"], {})
    assert interpolate(mariadb["MARIADB_PASSWORD"], {"VITALS_DB_PASSWORD": "s3cret"}) == "s3cret"
    api_url = _environment(_services()["api"])["VITALS_DATABASE_URL"]
    with pytest.raises(MissingVariable):
        interpolate(api_url, {"VITALS_MQTT_PASSWORD": "x"})


def test_compose_publishes_the_api_on_localhost_unless_configured() -> None:
    (ports,) = _services()["api"]["ports"]
    assert interpolate(ports, {}) == "127.0.0.1:8000:8000"
    assert interpolate(ports, {"VITALS_API_BIND": "0.0.0.0"}) == "0.0.0.0:8000:8000"


def test_the_broker_listens_with_tls_on_8883() -> None:
    mosquitto = _services()["mosquitto"]
    published = [interpolate(p, {}) for p in mosquitto["ports"]]
    assert "127.0.0.1:1883:1883" in published  # plain MQTT: this host (and compose) only
    assert any(p.endswith(":8883:8883") for p in published)
    assert any(v.startswith("./deploy/mosquitto/certs:") for v in mosquitto["volumes"])
    config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
    listeners = [line.split() for line in config if line.startswith("listener ")]
    assert ["listener", "8883"] in listeners and ["listener", "1883"] in listeners
    tls = config[config.index("listener 8883") :]
    settings = {line.split()[0] for line in tls if line.strip() and not line.startswith("#")}
    assert {"certfile", "keyfile"} <= settings
    readme = (ROOT / "README.md").read_text()
    assert "8883" in readme and "mqtts://" in readme


def _self_signed(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM (a CA of its own)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "server.crt", workdir / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for path in (cert_path, key_path):
        path.chmod(0o644)  # the broker drops to user 'mosquitto'; a throwaway test key
    return cert_path, key_path


def _connack(port: int, ca_file: Path | None) -> int | None:
    """CONNACK reason code of an MQTT connect (TLS when ``ca_file``), None if none came."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tls-{time.monotonic_ns()}")
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
    got: dict[str, int] = {}
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        got["rc"] = int(reason.value)  # type: ignore[attr-defined]
        done.set()

    def on_disconnect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        done.set()  # hung up on before any CONNACK

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect("127.0.0.1", port)
    except (OSError, ssl.SSLError):
        return None
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return got.get("rc")


@pytest.mark.mosquitto
def test_the_deploy_tls_listener_serves_mqtts() -> None:
    """The TLS lines of deploy/mosquitto/mosquitto.conf, run by the real Mosquitto on a
    free port with a throwaway certificate: a TLS client is accepted, a plain one is not."""
    workdir = Path(tempfile.mkdtemp(prefix="vitals-mosquitto-tls-"))
    workdir.chmod(0o777)
    try:
        cert, key = _self_signed(workdir)
        config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
        block = [
            line
            for line in config[config.index("listener 8883") + 1 :]
            if line.strip() and not line.startswith("#")
        ]
        port = free_port()
        lines = [f"listener {port} 127.0.0.1"]
        lines += [
            line.replace("/mosquitto/certs/server.crt", str(cert)).replace(
                "/mosquitto/certs/server.key", str(key)
            )
            for line in block
        ]
        lines += ["allow_anonymous true", f"log_dest file {workdir / 'mosquitto.log'}"]
        conf = workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert wait_for_listener(port, process), (workdir / "mosquitto.log").read_text()
            assert _connack(port, cert) == 0
            assert _connack(port, None) is None  # plain MQTT on the TLS port gets nothing
            record("deploy", "Mosquitto TLS listener of deploy/ (real broker): mqtts, then plain",
                   tried=2, tls_accepted=1, plain_accepted=0, lost=0)  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
