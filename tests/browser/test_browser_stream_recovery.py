"""A live instance page whose stream failed goes back to it, and polls on through unanswered reloads.

A page falls back to polling when its server-sent events stream fails (a server restarting, a
proxy's 503, the per-client limit of open streams). It used to poll for as long as it stayed
open, one request every five seconds, and a single reload that went unanswered (a 502 while the
server restarted) stopped the polling too: the page then showed nothing more, ever.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser_kit import UI, Demo, approve, set_hidden, start_claim

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

STREAM = re.compile(r".*/events$")
PAGE_RELOAD_TIMEOUT_MS = 30_000
"""Polling runs every 5 s, and the stream is tried again after the first 5 s of polling."""


def refuse(route: Route) -> None:
    route.fulfill(status=503, body="unavailable")


def fail_first_reload(page: Page, url: str) -> list[str]:
    """Answer the page's first reload of ``url`` (a fetch) with a 502; the list notes it."""
    failed: list[str] = []

    def handler(route: Route) -> None:
        if route.request.resource_type == "fetch" and not failed:
            failed.append(route.request.url)
            route.fulfill(status=502, body="bad gateway")
        else:
            route.continue_()

    page.route(url, handler)
    return failed


def claim_in_new_tab(demo: Demo, amount: str) -> tuple[str, Page]:
    """Erik's new expense claim: its page's address, and a new tab of his to open it in."""
    erik = demo.as_user("erik")
    return start_claim(erik, amount), erik.context.new_page()


def approve_as_maria(demo: Demo) -> None:
    maria = demo.as_user("maria")
    maria.goto(f"{UI}/tasks")
    maria.get_by_role("link", name="Approve expense claim").first.click()
    approve(maria, "ok")


def test_a_page_whose_stream_failed_follows_the_stream_again(demo: Demo) -> None:
    url, page = claim_in_new_tab(demo, "61")
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
    url, page = claim_in_new_tab(demo, "62")
    page.route(STREAM, refuse)  # no stream at all: the page polls
    failed = fail_first_reload(page, url)
    page.goto(url)
    page.locator('[data-status="waiting"]').wait_for()
    with page.expect_response(lambda response: response.status == 502, timeout=PAGE_RELOAD_TIMEOUT_MS):
        pass
    approve_as_maria(demo)
    page.locator('[data-status="completed"]').wait_for(timeout=PAGE_RELOAD_TIMEOUT_MS)
    assert failed == [url]


def test_a_page_shown_while_the_server_does_not_answer_follows_the_stream_again(demo: Demo) -> None:
    url, page = claim_in_new_tab(demo, "63")
    with page.expect_request(STREAM):
        page.goto(url)
    page.locator('[data-status="waiting"]').wait_for()
    set_hidden(page, True)  # closes the stream
    fail_first_reload(page, url)
    with page.expect_response(lambda response: response.status == 502):
        set_hidden(page, False)  # the catch-up reload goes unanswered: the page polls
    with page.expect_request(STREAM, timeout=PAGE_RELOAD_TIMEOUT_MS):
        pass  # and follows the stream again once the server answers
    approve_as_maria(demo)
    page.locator('[data-status="completed"]').wait_for(timeout=PAGE_RELOAD_TIMEOUT_MS)


def test_a_page_refused_for_good_stops_polling(demo: Demo) -> None:
    """A reload answered 404 (the instance is gone) or 403 is final; only a 5xx is tried again."""
    url, page = claim_in_new_tab(demo, "64")
    page.clock.install()  # the page's timers run only when the test moves its clock on
    page.route(STREAM, refuse)  # no stream: the page polls
    reloads: list[int] = []

    def gone(route: Route) -> None:
        if route.request.resource_type == "fetch":
            reloads.append(len(reloads))
            route.fulfill(status=404, body="not found")
        else:
            route.continue_()

    page.route(url, gone)
    page.goto(url)
    page.locator('[data-status="waiting"]').wait_for()
    with page.expect_response(
        lambda response: response.status == 404 and response.request.resource_type == "fetch"
    ):
        page.clock.run_for(5_000)  # the first poll
    page.evaluate("() => Promise.resolve()")  # let the page handle the answer
    page.clock.run_for(120_000)  # 24 more polls and two stream retries, were it still polling
    page.evaluate("() => Promise.resolve()")
    assert reloads == [0]
