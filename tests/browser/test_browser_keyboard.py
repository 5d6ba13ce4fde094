"""The UI with a keyboard alone, and labelled form controls, in Chromium."""

from __future__ import annotations

from browser_kit import INSTANCE_URL, UI, Demo, approval_choice, start_claim
from playwright.sync_api import Page, expect

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden')
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.outerHTML)"""


def tab_to(page: Page, text: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text or label says ``text`` (a bounded walk)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement;
                       const label = el && el.labels && el.labels.length ? el.labels[0].innerText : '';
                       return (el ? el.innerText || '' : '') + ' ' + label; }"""
        )
        if text in focused:
            return
    raise AssertionError(f"{text!r} is not reachable with Tab")


def test_a_manager_approves_with_the_keyboard_alone(demo: Demo) -> None:
    erik = demo.as_user("erik")
    instance_url = start_claim(erik, "80")

    maria = demo.as_user("maria")
    maria.goto(f"{UI}/tasks")
    tab_to(maria, "Approve expense claim")
    maria.keyboard.press("Enter")
    expect(maria.get_by_role("heading", name="Approve expense claim", level=1)).to_be_visible()
    # The required yes/no question: Tab enters the group at "Yes" (nothing is chosen yet), Space
    # chooses it, and the arrow keys move the choice within the group, as in any radio group.
    tab_to(maria, "Yes")
    expect(approval_choice(maria, "Yes")).to_be_focused()
    expect(approval_choice(maria, "Yes")).not_to_be_checked()
    maria.keyboard.press("Space")
    expect(approval_choice(maria, "Yes")).to_be_checked()
    maria.keyboard.press("ArrowDown")
    expect(approval_choice(maria, "No")).to_be_checked()
    maria.keyboard.press("ArrowUp")
    expect(approval_choice(maria, "Yes")).to_be_checked()
    tab_to(maria, "Comment")
    maria.keyboard.type("ok by keyboard")
    tab_to(maria, "Complete task")
    maria.keyboard.press("Enter")
    maria.wait_for_url(INSTANCE_URL)
    assert maria.url == instance_url
    maria.locator('[data-status="completed"]').wait_for()


def test_every_form_control_has_a_label(demo: Demo) -> None:
    erik = demo.as_user("erik")
    start_claim(erik, "2500")
    maria = demo.as_user("maria")
    pages = [
        f"{UI}/",
        f"{UI}/workflows/expense_approval/start",
        f"{UI}/workflows/leave_request/start",
        f"{UI}/workflows/document_review/start",
        f"{UI}/instances",
        f"{UI}/tasks",
    ]
    for path in pages:
        maria.goto(path)
        assert maria.evaluate(UNLABELLED) == [], path
    maria.goto(f"{UI}/tasks")
    maria.get_by_role("link", name="Approve expense claim").click()
    expect(maria.get_by_role("button", name="Complete task")).to_be_visible()
    assert maria.evaluate(UNLABELLED) == [], maria.url
