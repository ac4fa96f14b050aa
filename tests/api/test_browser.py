"""The web page in headless Chromium (Debian ``chromium``, driven by Playwright) against
the app served by uvicorn on a real MariaDB: enter a key, see the seeded alerts, filter,
acknowledge one, open a patient's chart; the acknowledgement is in the database. Writes
screenshots (tmp_path, and docs/screenshots/ for people to look at)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AlertEvent, HealthAlert
from tests.api.conftest import World, seed_world
from tests.conftest import service_unavailable
from vitals.api import create_app
from vitals.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.mariadb


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def served(mysql_url: str) -> Iterator[tuple[str, World, sessionmaker[Session]]]:
    engine = create_engine_from_url(mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    world = seed_world(sessions)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(), sessions), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", world, sessions
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_unavailable(f"Debian chromium not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        service_unavailable("playwright (pip) is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_clinician_finds_filters_and_acknowledges(
    served: tuple[str, World, sessionmaker[Session]], browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 (the fixture checked it exists)

    base_url, world, sessions = served
    u0 = world.users[0]
    sos_id = world.alerts[2]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(base_url + "/")

    # a wrong key is refused and the form says so
    page.fill("#key-input", "vk_0123456789ab_" + "A" * 43)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-form .hint.error")
    assert page.locator("#app").is_hidden()

    page.fill("#key-input", world.clinician)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector(".alert")
    assert "Dr Who · clinician" in page.inner_text("#who-text")
    # patients 0 and 1 of the seed, never patient 2
    assert page.locator(".alert").count() == 7
    assert "Chloé" not in page.inner_text("#alerts")

    page.fill("#f-user", str(u0))
    page.select_option("#f-ack", "false")
    page.click("#apply")
    expect(page.locator(".alert")).to_have_count(3)
    sos_item = page.locator(f'.alert[data-alert-id="{sos_id}"]')
    assert "SOS" in sos_item.inner_text()

    sos_item.locator("button.ack").click()
    sos_item.locator(".state").wait_for()
    assert "acknowledged" in sos_item.inner_text()
    with sessions() as session:
        alert = session.get(HealthAlert, sos_id)
        assert alert is not None and alert.acknowledged is True
        actors = session.scalars(
            select(AlertEvent.actor).where(
                AlertEvent.alertId == sos_id, AlertEvent.eventType == "acknowledged"
            )
        ).all()
    assert actors == [f"apikey:{world.clinician_id}:Dr Who"]

    sos_item.locator("button.patient").click()
    page.wait_for_selector("#chart svg path")
    assert page.locator("#chart svg path").count() == 3  # HR, HRV, stress
    assert page.locator("#chart svg line.marker").count() == 4  # patient 0's alerts
    assert "Aiko Tanaka" in page.inner_text("#chart-title")
    page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)

    # the change persisted: reloading (the key stays in this tab) no longer lists it
    page.reload()
    page.wait_for_selector(".alert")
    page.fill("#f-user", str(u0))
    page.select_option("#f-ack", "false")
    page.click("#apply")
    expect(page.locator(".alert")).to_have_count(2)
    assert page.locator(f'.alert[data-alert-id="{sos_id}"]').count() == 0

    # readable on a phone: nothing wider than the screen
    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.goto(base_url + "/")
    phone.fill("#key-input", world.clinician)
    phone.click("#key-form button[type=submit]")
    phone.wait_for_selector(".alert")
    phone.locator(".alert button.patient").first.click()
    phone.wait_for_selector("#chart svg path")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.evaluate("window.scrollTo(0, 0)")
    phone.screenshot(path=str(tmp_path / "alerts-phone.png"), full_page=True)

    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "alerts.png", DOCS_SCREENSHOTS / "alerts.png")
    shutil.copy(tmp_path / "alerts-phone.png", DOCS_SCREENSHOTS / "alerts-phone.png")
