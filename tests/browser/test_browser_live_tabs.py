"""Live instance pages in many tabs: a tab in the background gives its connection back.

Over HTTP/1.1 Chromium opens at most six connections to one server, and every live instance
page holds one open for its server-sent events: with six such pages open, no other page of the
server loaded any more, in any tab. Headless tabs are never hidden, so the test tells each page
what the browser tells a tab sent to the background (the page's ``visibilitychange``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser_kit import UI, Demo, approve, set_hidden, start_claim

if TYPE_CHECKING:
    from playwright.sync_api import Page

TABS = 7
"""More live pages than the connections Chromium opens to one server."""
STREAM = re.compile(r".*/events$")


def test_live_pages_in_background_tabs_leave_connections_for_other_pages(demo: Demo) -> None:
    erik = demo.as_user("erik")
    urls = [start_claim(erik, str(40 + number)) for number in range(TABS)]
    erik.goto(f"{UI}/tasks")  # a page without a stream
    tabs: list[Page] = []
    for url in urls:  # the seventh would never load if the six before kept their streams
        tab = erik.context.new_page()
        with tab.expect_request(STREAM):
            tab.goto(url)
        tab.locator('[data-status="waiting"]').wait_for()
        set_hidden(tab, True)
        tabs.append(tab)
    erik.goto(f"{UI}/instances")
    erik.get_by_role("heading", level=1).wait_for()

    # One claim is approved while its page is in the background; shown again, the page catches up.
    maria = demo.as_user("maria")
    maria.goto(f"{UI}/tasks")
    maria.get_by_role("link", name="Approve expense claim: 40.00").click()
    approve(maria, "ok")
    approved = tabs[urls.index(maria.url)]
    assert approved.locator('[data-status="completed"]').count() == 0  # nothing told it yet
    set_hidden(approved, False)
    approved.locator('[data-status="completed"]').wait_for()

    # A page whose instance still waits follows it live again once shown.
    waiting = next(tab for tab in tabs if tab is not approved)
    with waiting.expect_request(STREAM):
        set_hidden(waiting, False)
