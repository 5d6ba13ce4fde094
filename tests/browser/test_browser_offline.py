"""Every page of the UI and every OpenAPI page renders in Chromium from the server alone.

The browser visits them all with realistic data and records every request: none may leave the
server (the ``demo`` fixture asserts it after each test) and none may fail. On the way it takes
the screenshots the README shows; ``WORKFLOWS_UPDATE_SCREENSHOTS=1`` copies them into
``docs/screenshots/`` (otherwise they stay in the test's temporary directory, so a test run never
changes the checkout).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser_kit import INSTANCE_URL, UI, Demo, approve, start_claim
from playwright.sync_api import Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"


def shoot(page: Page, directory: Path, name: str) -> None:
    """A full-page screenshot once the page's graphs (if any) are drawn."""
    for graph in page.locator("[data-graph]").all():
        expect(graph).to_have_attribute("data-rendered", "true")
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True, animations="disabled")


def test_every_ui_page_renders_from_the_server_alone(demo: Demo, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    erik = demo.as_user("erik")
    large = start_claim(erik, "2500", "travel")
    start_claim(erik, "120", "equipment")
    maria = demo.as_user("maria")
    maria.goto(f"{UI}/tasks")
    maria.get_by_role("link", name="Approve expense claim").first.click()
    approve(maria, "fine by me")
    hana = demo.as_user("hana")
    hana.goto(f"{UI}/workflows/leave_request/start")
    hana.get_by_label("Days").fill("3")
    hana.get_by_role("button", name="Start").click()
    hana.wait_for_url(INSTANCE_URL)

    maria.goto(f"{UI}/")
    expect(maria.get_by_role("heading", level=1)).to_be_visible()
    shoot(maria, shots, "overview")
    maria.goto(f"{UI}/workflows")
    shoot(maria, shots, "workflows")
    maria.goto(f"{UI}/workflows/expense_approval")
    shoot(maria, shots, "workflow")
    maria.goto(f"{UI}/workflows/expense_approval/start")
    expect(maria.get_by_label("Amount")).to_be_visible()
    shoot(maria, shots, "start-form")
    maria.goto(f"{UI}/instances")
    expect(maria.locator("table")).to_contain_text("Expense approval")
    shoot(maria, shots, "instances")
    maria.goto(large)
    maria.locator('[data-status="waiting"]').wait_for()
    shoot(maria, shots, "instance")
    maria.goto(f"{UI}/tasks")
    expect(maria.get_by_role("link", name="Approve expense claim")).to_have_count(1)
    # ui.js told the server the browser's zone: "Completed today" counts her day in Berlin.
    expect(maria.locator("[data-today-zone]")).to_have_text("(Europe/Berlin)")
    shoot(maria, shots, "inbox")
    maria.get_by_role("link", name="Approve expense claim").click()
    expect(maria.get_by_role("button", name="Complete task")).to_be_visible()
    shoot(maria, shots, "task")
    phone = demo.as_user("fiona", viewport={"width": 390, "height": 844})
    phone.goto(f"{UI}/tasks")
    expect(phone.get_by_role("link", name="Finance sign-off for a large expense")).to_be_visible()
    shoot(phone, shots, "inbox-phone")

    for png in shots.iterdir():
        assert png.read_bytes().startswith(PNG), png
    assert serious(demo.errors) == []
    if os.environ.get("WORKFLOWS_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for png in sorted(shots.iterdir()):
            shutil.copyfile(png, SCREENSHOTS / png.name)


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/schema/swagger", ".swagger-ui .info .title"),
        ("/schema/redoc", ".api-info h1"),
        ("/schema/rapidoc", "rapi-doc >> #api-title"),
        ("/schema/elements", "elements-api h1"),
    ],
)
def test_the_openapi_pages_render_offline(demo: Demo, path: str, rendered: str) -> None:
    page = demo.as_user("erik")
    page.goto(path)
    expect(page.locator(rendered).first).to_contain_text("litestar-workflows demo")
    assert serious(demo.errors) == []


def serious(errors: list[str]) -> list[str]:
    """Failed responses and requests, less those a navigation cut short on purpose (the live page's
    event stream and reloads in flight when the test moves on: ``net::ERR_ABORTED``)."""
    return [
        error for error in errors if not (error.startswith("failed ") and error.endswith("net::ERR_ABORTED"))
    ]
