"""Local network helpers shared by the tests and benchmarks that start servers."""

from __future__ import annotations

import socket
import subprocess
import time

from ingest.embedded_broker import free_port

__all__ = ["free_port", "wait_for_listener"]


def wait_for_listener(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> bool:
    """True once 127.0.0.1:``port`` accepts connections; False if ``process`` exits or
    ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if process.poll() is not None:
                return False
            time.sleep(0.05)
    return False
