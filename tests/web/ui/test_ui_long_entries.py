"""Long form entries: line breaks count as the browser counted them, and messages quote them briefly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from test_ui_task_forms import waiting_task
from ui_helpers import page, post_form
from web_helpers import as_user, settle

from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.demo.app import create_app
from litestar_workflows.plugin import WorkflowPlugin
from litestar_workflows.web.ui.rendering import QUOTED_SHOWN, brief

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

UI = "/workflows/ui"
LINES = ["a short line here"] * 111
"""1,997 characters over 111 lines as the browser counts them (LF): under the fields' maxLength of 2000."""
TYPED = "\n".join(LINES)
SENT = TYPED.replace("\n", "\r\n")
"""What the browser submits for it: HTML's form encoding turns each line break into CRLF (2,107)."""
TOO_LONG = "x" * 2001
"""One character over maxLength, with no space to break at."""


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.fixture
def demo() -> Iterator[tuple[TestClient[Litestar], Any]]:
    app = create_app(in_memory=True)
    with TestClient(app) as client:
        yield client, app.plugins.get(WorkflowPlugin).engine


def test_the_text_is_one_the_browser_would_send() -> None:
    assert (len(TYPED), len(SENT)) == (1997, 2107)


def complete_with_notes(ui_client: TestClient[Litestar], engine: Any, notes: str) -> tuple[str, Any]:
    """Complete a waiting task through its form as maria, with ``notes``: the instance id and the answer."""
    instance_id, task_id = waiting_task(ui_client, engine)
    answer = post_form(
        ui_client,
        f"{UI}/tasks/{task_id}/complete",
        {"approved": "true", "amount": "5", "category": "travel", "notes": notes},
        headers=as_user("maria"),
    )
    return instance_id, answer


def test_a_task_comment_the_browser_accepted_is_accepted(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id, done = complete_with_notes(ui_client, engine, SENT)
    assert done.status_code == 303, page(done).find(role="alert").text
    finished = settle(ui_client, engine, instance_id)
    assert finished.status is WorkflowStatus.COMPLETED
    assert finished.data["notes"] == TYPED  # stored with LF line breaks, as an API client sends them


def test_a_lone_carriage_return_is_a_line_break_too(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, _ = complete_with_notes(ui_client, engine, "one\rtwo\r\nthree\n")
    assert settle(ui_client, engine, instance_id).data["notes"] == "one\ntwo\nthree\n"


def test_a_start_description_the_browser_accepted_is_accepted(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    client.get(f"{UI}/", params={"as": "erik"})
    started = post_form(
        client,
        f"{UI}/workflows/expense_approval/start",
        {"amount": "80", "category": "travel", "description": SENT},
    )
    assert started.status_code == 303, page(started).find(role="alert").text
    instance_id = started.headers["location"].rsplit("/", 1)[1]
    assert client.get(f"/workflows/instances/{instance_id}").json()["context_data"]["description"] == TYPED


def test_a_message_quotes_a_long_value_briefly(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, refused = complete_with_notes(ui_client, engine, TOO_LONG)
    assert refused.status_code == 422
    shown = page(refused)
    quoted = "'" + "x" * QUOTED_SHOWN + "…'"
    assert shown.find(role="alert").find("li").text.strip() == f"notes: {quoted} is too long"
    assert shown.find("p", id="error-notes").text == f"{quoted} is too long"
    assert TOO_LONG not in refused.text.replace(shown.find("textarea", name="notes").text, "", 1)
    assert shown.find("textarea", name="notes").text == TOO_LONG  # the entry itself is kept whole
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("'abc' is too short", "'abc' is too short"),
        (repr("y" * 61) + " is too long", "'" + "y" * 60 + "…' is too long"),
        ("\"it's " + "z" * 80 + '" is not valid', "\"it's " + "z" * 55 + '…" is not valid'),
        ("the form's token: " + "w" * 100, "the form's token: " + "w" * 100),  # an apostrophe is no quote
        ("'" + "v" * 60 + "' is fine", "'" + "v" * 60 + "' is fine"),
    ],
)
def test_brief_cuts_only_long_quoted_values(message: str, shown: str) -> None:
    assert brief(message) == shown
