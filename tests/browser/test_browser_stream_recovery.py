"""A live instance page whose stream failed goes back to it, and polls on through unanswered reloads.

A page falls back to polling when its server-sent events stream fails (a server restarting, a
proxy's 503, the per-client limit of open streams). It used to poll for as long as it stayed
open, one request every five seconds, and a single reload that went unanswered (a 502 while the
server restarted) stopped the polling too: the page then showed nothing more, ever.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser_kit import UI, Demo, approve, start_claim

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

STREAM = re.compile(r".*/events$")
PAGE_RELOAD_TIMEOUT_MS = 30_000
"""Polling runs every 5 s, and the stream is tried again after the first 5 s of polling."""


def refuse(route: Route) -> None:
    route.fulfill(status=503, body="unavailable")


def approve_as_maria(demo: Demo) -> None:
    maria = demo.as_user("maria")
    maria.goto(f"{UI}/tasks")
    maria.get_by_role("link", name="Approve expense claim").first.click()
    approve(maria, "ok")


def test_a_page_whose_stream_failed_follows_the_stream_again(demo: Demo) -> None:
    erik = demo.as_user("erik")
    url = start_claim(erik, "61")
    page: Page = erik.context.new_page()
    refused: list[str] = []

    def once(route: Route) -> None:
        if not refused:
            refused.append(route.request.url)
            refuse(route)
        else:
            route.continue_()

    page.route(STREAM, once)
    with page.expect_request(STREAM):  # the first stream, refused
        page.goto(url)
    page.locator('[data-status="waiting"]').wait_for()
    # Polling, then the stream again; the page now learns of the approval from the stream.
    with page.expect_request(STREAM, timeout=PAGE_RELOAD_TIMEOUT_MS) as again:
        pass
    assert again.value.url == refused[0]
    approve_as_maria(demo)
    page.locator('[data-status="completed"]').wait_for(timeout=PAGE_RELOAD_TIMEOUT_MS)


def test_polling_goes_on_after_a_reload_that_went_unanswered(demo: Demo) -> None:
    erik = demo.as_user("erik")
    url = start_claim(erik, "62")
    page: Page = erik.context.new_page()
    page.route(STREAM, refuse)  # no stream at all: the page polls
    failed: list[str] = []

    def first_reload_fails(route: Route) -> None:
        if route.request.resource_type == "fetch" and not failed:
            failed.append(route.request.url)
            route.fulfill(status=502, body="bad gateway")
        else:
            route.continue_()

    page.route(url, first_reload_fails)
    page.goto(url)
    page.locator('[data-status="waiting"]').wait_for()
    with page.expect_response(lambda response: response.status == 502, timeout=PAGE_RELOAD_TIMEOUT_MS):
        pass
    approve_as_maria(demo)
    page.locator('[data-status="completed"]').wait_for(timeout=PAGE_RELOAD_TIMEOUT_MS)
    assert failed == [url]
