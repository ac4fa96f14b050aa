"""A real ``vitals api`` process (uvicorn, Twilio webhooks on, MariaDB) under abusive
requests (issue 17, items 11 and 14): an unsigned webhook POST is refused before its body
is read, every body over the cap is refused with 413 whether announced or streamed, the
process's memory stays bounded, and a key in a URL never reaches the access log."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from notifier.policy import INBOUND_PATH, WEBHOOK_PREFIX
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from tests.api.conftest import World, auth, seed_world
from tests.netutil import free_port, wait_for_listener
from tests.reliability.report import record

pytestmark = pytest.mark.mariadb

WEBHOOK = WEBHOOK_PREFIX + INBOUND_PATH
CHUNK = b"Body=" + b"A" * (64 * 1024 - 5)
MiB = 1024 * 1024


@dataclass(frozen=True)
class ApiProcess:
    port: int
    pid: int
    world: World
    log: Path


@pytest.fixture
def api_process(clean_mysql_url: str, tmp_path: Path) -> Iterator[ApiProcess]:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    world = seed_world(session_factory(engine))
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(
        VITALS_DATABASE_URL=clean_mysql_url,
        VITALS_TWILIO_AUTH_TOKEN="token-for-tests",
        VITALS_PUBLIC_BASE_URL="https://vitals.example.org",
    )
    log = tmp_path / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "vitals.cli", "api", "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert wait_for_listener(port, process, timeout_s=60), log.read_text()[-2000:]
        yield ApiProcess(port=port, pid=process.pid, world=world, log=log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _peak_rss_mib(pid: int) -> float:
    """Highest resident set size of the process so far (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _post_until_answered(
    port: int, headers: dict[str, str], *, announced: int | None, send_at_most: int
) -> tuple[int | None, int]:
    """POST a form body to the webhook: ``Content-Length: announced``, or chunked when
    ``announced`` is None. Send at most ``send_at_most`` bytes, stopping as soon as the
    server answers or hangs up; then wait (30 s at most) for the status line. Returns
    (status or None, body bytes sent)."""
    lines = [f"POST {WEBHOOK} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Content-Type: application/x-www-form-urlencoded")
    lines.append(
        "Transfer-Encoding: chunked" if announced is None else f"Content-Length: {announced}"
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < send_at_most and not select.select([sock], [], [], 0)[0]:
                frame = CHUNK if announced else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
                sock.sendall(frame)
                sent += len(CHUNK)
            if announced is None and sent >= send_at_most:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and hung up: read its answer
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except (TimeoutError, ConnectionResetError):
            return None, sent
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
    return (int(status) if status.isdigit() else None), sent


def test_big_bodies_are_refused_early_and_memory_stays_bounded(api_process: ApiProcess) -> None:
    port, pid = api_process.port, api_process.pid
    forged = {"X-Twilio-Signature": "c2lnbmVkLWxvb2tpbmc="}
    rss_before = _peak_rss_mib(pid)
    # unsigned, 200 MB announced: refused from the headers, before any body is read
    unsigned = _post_until_answered(port, {}, announced=200 * MiB, send_at_most=4 * MiB)
    # signed-looking, 200 MB announced: the Content-Length alone is over the cap
    announced = _post_until_answered(port, forged, announced=200 * MiB, send_at_most=4 * MiB)
    # signed-looking, streamed without a length: cut off once 64 KiB have arrived
    streamed = _post_until_answered(port, forged, announced=None, send_at_most=64 * MiB)
    rss_after = _peak_rss_mib(pid)
    assert unsigned[0] == 403 and unsigned[1] < 4 * MiB
    assert announced[0] == 413 and announced[1] < 4 * MiB
    assert streamed[0] == 413 and streamed[1] < 16 * MiB
    assert rss_after - rss_before < 16, (rss_before, rss_after)
    # a small signed-looking body is read and its signature checked
    small = httpx.post(
        f"http://127.0.0.1:{port}{WEBHOOK}", data={"Body": "ACK"}, headers=forged, timeout=30
    )
    assert small.status_code == 403
    # the cap holds on every endpoint, not only the webhooks
    world = api_process.world
    ack = httpx.post(
        f"http://127.0.0.1:{port}/v1/alerts/{world.alerts[0]}/ack",
        content=b"x" * (1 * MiB),
        headers=auth(world.admin),
        timeout=30,
    )
    assert ack.status_code == 413
    record("web security", "200 MB unsigned / announced and 64 MB streamed POSTs to `vitals api`",
           tried=3, refused=3, rss_growth_mib=round(rss_after - rss_before), lost=0)  # fmt: skip


def test_keys_in_urls_never_reach_the_access_log(api_process: ApiProcess) -> None:
    world, base = api_process.world, f"http://127.0.0.1:{api_process.port}"
    secret = world.admin.split("_", 2)[2]
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get(f"/v1/alerts?key={world.admin}").status_code == 401
        assert client.get(f"/v1/alerts?api_key={world.admin}").status_code == 401
        answer = client.get(f"/v1/alerts?user=1&key={world.admin}", headers=auth(world.admin))
        assert answer.status_code == 200
        assert client.get(f"/no/such/page/{world.admin}").status_code == 404
    deadline = time.monotonic() + 30  # the access log line is written after the answer
    while "/no/such/page/" not in api_process.log.read_text():
        assert time.monotonic() < deadline, api_process.log.read_text()[-2000:]
        time.sleep(0.05)
    log = api_process.log.read_text()
    assert "GET /v1/alerts?user=1&key=redacted" in log  # the request is logged, redacted
    assert secret not in log
    record("web security", "API keys in URLs vs the uvicorn access log",
           tried=4, leaks=0, lost=0)  # fmt: skip
