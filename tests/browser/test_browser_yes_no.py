"""The approval question in Chromium: "Complete task" without an answer no longer rejects the claim.

The demo's approval form requires ``approved``. As a checkbox, leaving it unticked sent ``false``,
so a finance clerk who clicked "Complete task" without a look rejected the claim. It is a Yes/No
radio group now: without a choice the form comes back refused and the task stays pending.
"""

from __future__ import annotations

import re
from typing import Any

from browser_kit import INSTANCE_URL, Demo, approval_choice, decide, open_task_from_inbox, start_claim
from playwright.sync_api import expect


def instance_of(demo: Demo, instance_url: str) -> dict[str, Any]:
    """The instance as the API gives it to its creator (erik)."""
    with demo.api() as api:
        body: dict[str, Any] = api.get(instance_url.replace("/ui/", "/"), headers={"X-User": "erik"}).json()
    return body


def pending_tasks(demo: Demo, instance_url: str) -> list[str]:
    """The titles of the instance's pending tasks."""
    instance_id = instance_url.rsplit("/", 1)[1]
    with demo.api() as api:
        tasks = api.get(
            "/workflows/tasks",
            params={"instance_id": instance_id, "status": "pending"},
            headers={"X-User": "maria"},
        ).json()
    return [task["title"] for task in tasks]


def test_no_answer_is_refused_and_no_rejects(demo: Demo) -> None:
    erik = demo.as_user("erik")
    instance_url = start_claim(erik, "1500")
    maria = demo.as_user("maria")
    open_task_from_inbox(maria, "Approve expense claim")
    expect(approval_choice(maria, "Yes")).not_to_be_checked()
    expect(approval_choice(maria, "No")).not_to_be_checked()
    maria.get_by_label(re.compile("^Comment")).fill("looked at it")
    maria.get_by_role("button", name="Complete task").click()

    alert = maria.get_by_role("alert")
    expect(alert).to_contain_text("approved: choose Yes or No")
    expect(alert).to_be_focused()  # ui.js takes the keyboard to the problems
    assert INSTANCE_URL.match(maria.url) is None
    expect(approval_choice(maria, "Yes")).to_have_attribute("aria-invalid", "true")
    expect(approval_choice(maria, "Yes")).not_to_be_checked()
    expect(approval_choice(maria, "No")).not_to_be_checked()
    expect(maria.get_by_label(re.compile("^Comment"))).to_have_value("looked at it")
    assert pending_tasks(demo, instance_url) == ["Approve expense claim: 1,500.00 for travel by erik"]
    assert instance_of(demo, instance_url)["status"] == "waiting"

    decide(maria, "No", "not this time")
    assert maria.url == instance_url
    maria.locator('[data-status="completed"]').wait_for()
    body = instance_of(demo, instance_url)
    assert (body["data"]["approved"], body["data"]["decision"]) == (False, "rejected")


def test_yes_approves(demo: Demo) -> None:
    erik = demo.as_user("erik")
    instance_url = start_claim(erik, "80")
    maria = demo.as_user("maria")
    open_task_from_inbox(maria, "Approve expense claim")
    decide(maria, "Yes", "fine")
    assert maria.url == instance_url
    maria.locator('[data-status="completed"]').wait_for()
    body = instance_of(demo, instance_url)
    assert (body["data"]["approved"], body["data"]["decision"]) == (True, "approved")
