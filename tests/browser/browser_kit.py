"""What the browser tests share: the demo they drive, its users' pages, and the requests they made."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

CHROMIUM = os.environ.get("WORKFLOWS_CHROMIUM", "/usr/bin/chromium")
STARTUP_SECONDS = 30
TIMEOUT_MS = 20_000
"""How long a browser step may wait for the page (a bound for failures, not a delay)."""
UI = "/workflows/ui"
INSTANCE_URL = re.compile(r".*/workflows/ui/instances/[0-9a-f-]{36}$")
GREEN = "rgb(144, 238, 144)"
"""The fill of completed steps (#90EE90) in the drawn graph."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Demo:
    """The running demo, the browser, and every URL the test's pages requested."""

    base: str
    browser: Browser
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Responses of 400 and above (``"<status> <url>"``) and failed requests (``"failed <url> <why>"``)."""
    contexts: list[BrowserContext] = field(default_factory=list)

    def as_user(self, user: str, *, viewport: dict[str, int] | None = None) -> Page:
        """A page in a context of its own, signed in as ``user`` (the demo's ``?as=`` cookie)."""
        context = self.browser.new_context(
            base_url=self.base,
            viewport=viewport or {"width": 1280, "height": 860},
            timezone_id="Europe/Berlin",
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on(
            "response",
            lambda response: (
                self.errors.append(f"{response.status} {response.url}") if response.status >= 400 else None
            ),
        )
        context.on(
            "requestfailed", lambda request: self.errors.append(f"failed {request.url} {request.failure}")
        )
        self.contexts.append(context)
        page = context.new_page()
        page.goto(f"{UI}/?as={user}")
        page.goto(f"{UI}/tasks")  # no ?as= any more: the session cookie keeps the choice
        assert page.locator("#act-as").input_value() == user, page.content()
        return page

    def outside(self) -> list[str]:
        """Requested URLs that did not go to the server (``data:``/``blob:``/``about:`` stay in the page)."""
        local = ("data:", "blob:", "about:")
        return [url for url in self.requests if not url.startswith((self.base + "/", *local))]

    def api(self) -> httpx.Client:
        """A plain HTTP client of the server, for checks the pages do not show."""
        return httpx.Client(base_url=self.base, timeout=10)


def start_claim(page: Page, amount: str, category: str = "travel") -> str:
    """Start an expense claim through the start form; return the new instance's page URL."""
    page.goto(f"{UI}/workflows")
    page.get_by_role("link", name=re.compile("Start", re.IGNORECASE)).first.wait_for()
    page.goto(f"{UI}/workflows/expense_approval/start")
    page.get_by_label(re.compile("^Amount")).fill(amount)
    page.get_by_label(re.compile("^Category")).select_option(category)
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(INSTANCE_URL)
    return page.url


def open_task_from_inbox(page: Page, title: str) -> None:
    page.goto(f"{UI}/tasks")
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, level=1).wait_for()


def approval_choice(page: Page, answer: str) -> Locator:
    """The ``Yes`` or ``No`` radio button of the approval question (a group named by its legend)."""
    return page.get_by_role("group", name=re.compile("^Approved")).get_by_role("radio", name=answer)


def decide(page: Page, answer: str, comment: str) -> None:
    """Answer the approval question ``Yes`` or ``No``, comment, and complete the task."""
    approval_choice(page, answer).check()
    page.get_by_label(re.compile("^Comment")).fill(comment)
    page.get_by_role("button", name="Complete task").click()
    page.wait_for_url(INSTANCE_URL)


def approve(page: Page, comment: str) -> None:
    decide(page, "Yes", comment)


def graph_fill_of(page: Page, step: str) -> str:
    """The computed fill of the drawn node of ``step`` (Mermaid ids its nodes ``...-flowchart-<step>-<n>``)."""
    return str(
        page.evaluate(
            """(step) => {
                const pattern = new RegExp('-flowchart-' + step + '-[0-9]+$');
                for (const node of document.querySelectorAll('[data-graph] svg g.node')) {
                    if (pattern.test(node.id)) {
                        const shape = node.querySelector('rect, polygon, path, circle');
                        return shape ? getComputedStyle(shape).fill : 'no shape';
                    }
                }
                return 'no node';
            }""",
            step,
        )
    )


def set_hidden(page: Page, hidden: bool) -> None:
    """Send the page's tab to the background, or bring it back (headless tabs are never hidden)."""
    page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            Object.defineProperty(
                document, "visibilityState", {value: hidden ? "hidden" : "visible", configurable: true}
            );
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )
