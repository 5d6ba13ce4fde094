"""Long entries in Chromium: a multi-line text the form accepted is accepted, a long refusal stays narrow."""

from __future__ import annotations

import re

from browser_kit import INSTANCE_URL, UI, Demo
from playwright.sync_api import Page, expect

TYPED = "\n".join(["a short line here"] * 111)
"""1,997 characters as the textarea counts them; Chromium submits each line break as CRLF (2,107)."""
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def fill_start_form(page: Page, description: str) -> None:
    page.goto(f"{UI}/workflows/expense_approval/start")
    page.get_by_label(re.compile("^Amount")).fill("80")
    page.get_by_label(re.compile("^Category")).select_option("travel")
    page.get_by_label(re.compile("^What it was for")).fill(description)


def test_a_multi_line_description_under_maxlength_starts_the_claim(demo: Demo) -> None:
    erik = demo.as_user("erik")
    fill_start_form(erik, TYPED)
    field = erik.get_by_label(re.compile("^What it was for"))
    assert field.get_attribute("maxlength") == "2000"
    assert field.evaluate("(el) => el.value.length") == len(TYPED)  # within the limit the browser enforces
    erik.get_by_role("button", name="Start").click()
    erik.wait_for_url(INSTANCE_URL)
    instance_id = erik.url.rsplit("/", 1)[1]
    with demo.api() as api:
        stored = api.get(f"/workflows/instances/{instance_id}").json()["context_data"]["description"]
    assert stored == TYPED


def test_a_refused_long_value_keeps_the_page_as_wide_as_the_window(demo: Demo) -> None:
    erik = demo.as_user("erik")
    fill_start_form(erik, "")
    field = erik.get_by_label(re.compile("^What it was for"))
    field.evaluate("(el) => el.removeAttribute('maxlength')")  # what a paste-around or an old form sends
    field.fill("x" * 2001)
    erik.get_by_role("button", name="Start").click()
    alert = erik.locator("#form-errors")
    expect(alert).to_be_visible()
    message = alert.locator("li").inner_text()
    assert message == "description: '" + "x" * 60 + "…' is too long"
    width, window = erik.evaluate(PAGE_WIDTH)
    assert width <= window
    # Whatever a message holds, it wraps: an unbroken 2,001 characters in the alert stay inside it.
    alert.locator("li").evaluate("(li) => li.append('y'.repeat(2001))")
    error = erik.locator("#error-description")
    error.evaluate("(p) => p.append('z'.repeat(2001))")
    width, window = erik.evaluate(PAGE_WIDTH)
    assert width <= window
