"""The clinician console in headless Chromium (Debian ``chromium``, driven by Playwright)
against the app served by uvicorn on a real MariaDB, at 1400x1000 and on a 390x844 phone:
the key form, the patient overview, alert states and filters, bulk acknowledgement, the
alert detail at its own URL (timeline, texts, comment, resolve), the patient chart (zoom,
gridlines, hover values, labelled alert markers), live updates, times in the viewer's zone,
and errors that clear stale results. ``test_screenshots_from_the_demo`` regenerates
``docs/screenshots/`` from the demo's own database."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import AlertEvent, AlertNote, HealthAlert
from storage.repositories.access import create_api_key
from storage.repositories.alerts import AlertChange, open_alert
from tests.api.conftest import T0, World, seed_world
from tests.conftest import service_unavailable
from vitals.api import create_app
from vitals.cli import main
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


def serve(sessions: sessionmaker[Session]) -> tuple[str, uvicorn.Server, threading.Thread]:
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
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def served(clean_mysql_url: str) -> Iterator[tuple[str, World, sessionmaker[Session]]]:
    engine = create_engine_from_url(clean_mysql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    world = seed_world(sessions)
    url, server, thread = serve(sessions)
    try:
        yield url, world, sessions
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


def _sign_in(page: Any, base_url: str, key: str) -> None:
    page.goto(base_url + "/")
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#patients tbody tr")


def test_console_overview_states_bulk_ack_and_live_updates(
    served: tuple[str, World, sessionmaker[Session]], browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 (the fixture checked it exists)

    base_url, world, sessions = served
    u0, u1, _ = world.users
    sos_id = world.alerts[2]
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Tokyo", locale="en-GB"
    )
    page = context.new_page()
    page.goto(base_url + "/")
    # the key form says where a key comes from
    assert "vitals keys create" in page.inner_text("#key-form")
    page.fill("#key-input", "vk_0123456789ab_" + "A" * 43)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-problem")).to_be_visible()
    assert page.locator("#overview").is_hidden()

    _sign_in(page, base_url, world.clinician)
    assert "Dr Who · clinician" in page.inner_text("#who-text")
    # patients 0 and 1 only; Aiko (3 open, one critical) first; both silent for a week
    rows = page.locator("#patients tbody tr")
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("data-user-id") == str(u0)
    assert "not transmitting" in rows.first.inner_text()
    assert "Chloé" not in page.inner_text("#overview")
    # default: what needs attention (active, unacknowledged): 5 of the clinician's 7
    expect(page.locator("#alerts .alert")).to_have_count(5)
    sos = page.locator(f'#alerts .alert[data-alert-id="{sos_id}"]')
    assert "active" in sos.inner_text() and "unacknowledged" in sos.inner_text()
    # times in the viewer's zone (Tokyo, UTC+9), UTC on hover
    assert "13:10" in sos.locator("time").inner_text()
    assert sos.locator("time").get_attribute("title") == "2026-11-24 04:10:00 UTC"
    page.select_option("#f-state", "")
    page.click("#apply")
    expect(page.locator("#alerts .alert")).to_have_count(7)
    expect(page.locator("#alerts .chip.acked")).to_have_count(2)
    page.select_option("#f-state", "cleared")
    page.click("#apply")
    expect(page.locator("#count")).to_have_text("none match")

    # bulk acknowledge two alerts of two patients
    page.select_option("#f-state", "needs")
    page.click("#apply")
    expect(page.locator("#alerts .alert")).to_have_count(5)
    picked = (world.alerts[0], world.alerts[4])
    for alert_id in picked:
        page.check(f'#alerts .alert[data-alert-id="{alert_id}"] input.pick')
    expect(page.locator("#bulk-ack")).to_have_text("Acknowledge 2 selected")
    page.click("#bulk-ack")
    expect(page.locator("#alerts .alert")).to_have_count(3)
    with sessions() as session:
        for alert_id in picked:
            alert = session.get(HealthAlert, alert_id)
            assert alert is not None and alert.acknowledged is True
        actors = session.scalars(
            select(AlertEvent.actor).where(
                AlertEvent.alertId.in_(picked), AlertEvent.eventType == "acknowledged"
            )
        ).all()
    assert actors == [f"apikey:{world.clinician_id}:Dr Who"] * 2

    # live: a new alert appears without a reload, and "updated hh:mm" is shown
    with sessions.begin() as session:
        fresh, _ = open_alert(
            session,
            AlertChange(
                user_id=u1,
                kind="sos",
                severity="critical",
                onset_at=T0 + timedelta(hours=5),
                at=T0 + timedelta(hours=5),
                message="SOS pressed",
            ),
        )
    page.wait_for_selector(f'#alerts .alert[data-alert-id="{fresh}"]', timeout=40_000)
    assert page.inner_text("#updated").startswith("updated ")

    # an error clears the stale list instead of sitting above it
    page.fill("#f-since", "2026-11-25")
    page.fill("#f-until", "2026-11-20")
    page.click("#apply")
    expect(page.locator("#error")).to_be_visible()
    assert "since" in page.inner_text("#error")
    expect(page.locator("#alerts .alert")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    context.close()


def test_alert_detail_chart_and_phone(
    served: tuple[str, World, sessionmaker[Session]], browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    base_url, world, sessions = served
    u0 = world.users[0]
    sos_id = world.alerts[2]
    for size in ({"width": 1400, "height": 1000}, {"width": 390, "height": 844}):
        context = browser.new_context(viewport=size, timezone_id="Europe/Paris", locale="en-GB")
        page = context.new_page()
        _sign_in(page, base_url, world.clinician)
        width = size["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        # the alert detail has its own URL: timeline, texts with delivery status, actions
        if width == 1400:
            page.click(f'#alerts .alert[data-alert-id="{sos_id}"] a.type')
        else:  # resolved above, so no longer in "needs attention": open the texted link
            page.goto(f"{base_url}/?alert={sos_id}")
        page.wait_for_selector("#alert-detail .timeline")
        assert page.evaluate("location.hash") == f"#/alerts/{sos_id}"
        detail = page.inner_text("#alert-detail")
        assert "Raised" in detail and "Text to Ren Tanaka (+8*********78)" in detail
        assert "delivered" in detail
        assert ("Acknowledged\nnot yet" in detail) == (width == 1400)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"detail-{width}.png"), full_page=True)
        if width == 1400:
            page.fill("form.comments textarea", "Called Ren, on the way")
            page.click("form.comments button")
            expect(page.locator("#alert-detail .timeline")).to_contain_text("Called Ren")
            page.fill("form.resolve textarea", "False press, patient fine")
            page.click("form.resolve button")
            expect(page.locator("#alert-detail .facts")).to_contain_text("False press")
            expect(page.locator("#alert-detail .chip.cleared")).to_have_count(1)
            assert "Acknowledged by" in page.inner_text("#alert-detail .facts")
            with sessions() as session:
                notes = session.scalars(
                    select(AlertNote.kind).where(AlertNote.alertId == sos_id).order_by(AlertNote.id)
                ).all()
            assert notes == ["comment", "resolution"]
            # a URL that fails clears the previous alert instead of showing it under an error
            page.evaluate("location.hash = '#/alerts/999999'")
            expect(page.locator("#error")).to_contain_text("alert 999999 does not exist")
            expect(page.locator("#alert-detail > *")).to_have_count(0)

        # the patient chart spans the data; zoom, gridlines, labelled markers, hover values
        page.goto(f"{base_url}/#/patients/{u0}")
        page.wait_for_selector("#chart svg path.series")
        assert page.locator("#chart svg path.series").count() == 3  # HR, HRV, stress
        markers = page.locator("#chart svg g.marker")
        expect(markers).to_have_count(4)  # patient 0's alerts, all inside the data
        labels = page.locator("#chart svg .marker-label").all_text_contents()
        assert sorted(labels) == sorted(["HR↑", "AF", "SOS", "stress"])
        assert page.locator("#chart svg line.grid").count() >= 8
        assert "Aiko Tanaka" in page.inner_text("#chart-title")
        box = page.locator("#chart svg .catcher").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20)
        expect(page.locator("#chart .tip")).to_be_visible()
        tip = page.inner_text("#chart .tip")
        assert "HR bpm:" in tip and "UTC" in tip
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"chart-{width}.png"), full_page=True)
        page.click(".zoom button[data-span='3600']")  # the last hour: 02:01-03:01 after T0
        expect(markers).to_have_count(0)
        expect(page.locator(".zoom button.on")).to_have_text("1 h")
        page.click(".zoom button[data-span='0']")
        expect(markers).to_have_count(4)
        # a patient the key may not see: an error, and no stale chart
        page.evaluate(f"location.hash = '#/patients/{world.users[2]}'")
        expect(page.locator("#error")).to_contain_text("not one of the patients")
        expect(page.locator("#chart svg")).to_have_count(0)
        context.close()


@pytest.mark.slow
def test_screenshots_from_the_demo(browser: Any, tmp_path: Path) -> None:
    """Run the demo, serve its own database, and screenshot the console; with
    ``VITALS_UPDATE_SCREENSHOTS=1`` they replace the README's ``docs/screenshots/``."""
    from playwright.sync_api import expect  # noqa: PLC0415

    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir), "--speed", "400"]) == 0
    engine = create_engine_from_url(f"sqlite:///{workdir / 'vitals.db'}")
    sessions = session_factory(engine)
    with sessions.begin() as session:
        key = create_api_key(session, role="admin", name="Dr Demo", at=datetime.now(UTC))
        fall = session.scalars(
            select(HealthAlert.id).where(HealthAlert.alertType == "fall_detected")
        ).one()
        aiko = session.scalars(
            select(HealthAlert.userId).where(HealthAlert.alertType == "arrhythmia")
        ).one()
    base_url, server, thread = serve(sessions)
    shots = {}
    try:
        for name, size in (("", (1400, 1000)), ("-phone", (390, 844))):
            context = browser.new_context(
                viewport={"width": size[0], "height": size[1]},
                device_scale_factor=1 if not name else 2,
                timezone_id="Europe/London",
                locale="en-GB",
            )
            page = context.new_page()
            _sign_in(page, base_url, key.key)
            expect(page.locator("#patients tbody tr")).to_have_count(5)
            page.select_option("#f-state", "")
            page.click("#apply")
            expect(page.locator("#alerts .alert")).to_have_count(4)
            shots[f"console{name}.png"] = page.screenshot(full_page=True)
            page.evaluate(f"location.hash = '#/alerts/{fall}'")
            page.wait_for_selector("#alert-detail .timeline")
            shots[f"alert-detail{name}.png"] = page.screenshot(full_page=True)
            page.evaluate(f"location.hash = '#/patients/{aiko}'")
            page.wait_for_selector("#chart svg path.series")
            box = page.locator("#chart svg .catcher").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + 30)
            expect(page.locator("#chart .tip")).to_be_visible()
            shots[f"patient-chart{name}.png"] = page.screenshot(full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
            context.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    # into docs/ only when asked, so that a test run leaves the checkout clean
    target = DOCS_SCREENSHOTS if os.environ.get("VITALS_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    for file_name, png in shots.items():
        (target / file_name).write_bytes(png)
