"""Task forms are built from the step's JSON Schema, and a refused submission keeps what was entered."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import page, post_form
from web_helpers import as_user, settle

from litestar_workflows.core.types import WorkflowStatus

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


@pytest.fixture
def backend() -> str:
    return "memory"


def waiting_task(client: TestClient[Litestar], engine: Any) -> tuple[str, str]:
    """Start ``rich_form`` (as erik; maria checks it); return (instance id, task id)."""
    started = client.post(
        "/workflows/instances",
        json={"definition_name": "rich_form", "input_data": {}},
        headers=as_user("erik"),
    )
    instance_id = started.json()["id"]
    settle(client, engine, instance_id)
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    return instance_id, task["id"]


def test_fields_follow_the_schema(ui_client: TestClient[Litestar], engine: Any) -> None:
    _, task_id = waiting_task(ui_client, engine)
    form = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria"))).find(
        "form", action=f"{UI}/tasks/{task_id}/complete"
    )
    # A required boolean is a yes/no question (a fieldset of two radios), nothing chosen for you.
    question = form.find("fieldset")
    assert question.find("legend").text.strip() == "Approved *(required)"
    approved = question.find_all("input", name="approved")
    assert [(a.attrs["type"], a.attrs["value"]) for a in approved] == [("radio", "true"), ("radio", "false")]
    assert [question.find("label", for_=a.attrs["id"]).text for a in approved] == ["Yes", "No"]
    assert all("required" in a.attrs and "checked" not in a.attrs for a in approved)
    assert question.attrs["aria-describedby"] == "help-approved"
    amount = form.find("input", name="amount")
    assert (amount.attrs["type"], amount.attrs["min"], amount.attrs["max"]) == ("number", "0", "100")
    assert "required" in amount.attrs
    category = form.find("select", name="category")
    # Nothing chosen for you: a required select starts on "Choose…" (and the schema refuses it).
    assert [o.attrs["value"] for o in category.find_all("option")] == ["", "travel", "equipment"]
    assert "selected" in category.find_all("option")[0].attrs
    assert form.find("textarea", name="notes")  # maxLength 2000: long text
    code = form.find("input", name="code")
    assert code.attrs["type"] == "text" and "required" not in code.attrs
    required = {"amount", "category"}  # and approved, marked in its legend
    for name in ("amount", "category", "notes", "code"):
        label = form.find("label", for_=f"field-{name}")
        assert ("(required)" in label.text) == (name in required), name
    assert form.find("button", type="submit")
    assert form.find("p", id="help-approved").text == "Approve the request"
    case = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria"))).find("dl", class_="case")
    assert [(d.find("dt").text, d.find("dd").text) for d in case.find_all("div")] == [("Checker", "maria")]
    # Identity is never a form field.
    assert not form.find_all("input", name="completed_by")
    assert not form.find_all("input", name="user_id")


def test_unreadable_number_is_refused_before_the_engine(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, task_id = waiting_task(ui_client, engine)
    url = f"{UI}/tasks/{task_id}/complete"
    refused = post_form(
        ui_client,
        url,
        {"approved": "true", "amount": "lots", "category": "travel", "notes": "kept <b>as typed</b>"},
        headers=as_user("maria"),
    )
    assert refused.status_code == 422
    again = page(refused)
    alert = again.find(role="alert")
    assert "amount" in alert.text and "'lots' is not a number" in alert.text
    assert again.find("input", name="amount").attrs["value"] == "lots"
    assert again.find("input", name="amount").attrs["aria-invalid"] == "true"
    assert "checked" in again.find("input", name="approved", value="true").attrs
    assert "checked" not in again.find("input", name="approved", value="false").attrs
    assert again.find("textarea", name="notes").text == "kept <b>as typed</b>"  # escaped, then read back
    assert "<b>as typed</b>" not in refused.text
    assert again.find("option", value="travel").attrs.get("selected") is not None
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"


def test_schema_errors_name_every_failing_field(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, task_id = waiting_task(ui_client, engine)
    refused = post_form(
        ui_client,
        f"{UI}/tasks/{task_id}/complete",
        {"approved": "false", "amount": "500", "code": "abcd"},
        headers=as_user("maria"),
    )
    assert refused.status_code == 422
    again = page(refused)
    alert = again.find(role="alert")
    failing = {a.text for a in alert.find_all("a")}
    assert failing == {"amount", "category", "code"}
    assert "500 is greater than the maximum of 100" in alert.text
    assert "'category' is a required property" in alert.text
    assert again.find("input", name="amount").attrs["value"] == "500"
    assert again.find("p", id="error-code")
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"

    accepted = post_form(
        ui_client,
        f"{UI}/tasks/{task_id}/complete",
        {"approved": "false", "amount": "42.5", "category": "equipment", "code": "ABC"},
        headers=as_user("maria"),
    )
    assert accepted.status_code == 303
    finished = settle(ui_client, engine, instance_id)
    assert finished.status is WorkflowStatus.COMPLETED
    assert {k: finished.data[k] for k in ("approved", "amount", "category", "code")} == {
        "approved": False,
        "amount": 42.5,
        "category": "equipment",
        "code": "ABC",
    }
    done = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")))
    assert "Submitted data" in done.text and "equipment" in done.text
    assert not done.find_all("form", action=f"{UI}/tasks/{task_id}/complete")


def test_submitted_text_is_shown_as_typed(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, task_id = waiting_task(ui_client, engine)
    typed = 'Genehmigt \u2714 \u2014 \u627f\u8a8d \U0001f912\nzweite Zeile <i>&amp;</i> "quoted"'
    accepted = post_form(
        ui_client,
        f"{UI}/tasks/{task_id}/complete",
        {"approved": "true", "amount": "1", "category": "travel", "notes": typed},
        headers=as_user("maria"),
    )
    assert accepted.status_code == 303, accepted.text
    settle(ui_client, engine, instance_id)
    submitted = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria"))).find("pre").text
    assert json.loads(submitted)["notes"] == typed
    assert "\\u" not in submitted  # no escapes: the characters themselves
    data = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik"))).find(
        "pre", class_="data"
    )
    assert json.loads(data.text)["notes"] == typed
    assert "\\u" not in data.text


def test_reassign_and_claim(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id, task_id = waiting_task(ui_client, engine)
    task_page = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")))
    assert task_page.find("form", action=f"{UI}/tasks/{task_id}/reassign")
    assert not task_page.find_all("form", action=f"{UI}/tasks/{task_id}/claim")  # assigned: nothing to claim
    for typed in (" ", "x" * 300):  # blank, and longer than a user id may be
        refused = post_form(
            ui_client,
            f"{UI}/tasks/{task_id}/reassign",
            {"new_assignee": typed, "reason": "because \u2713"},
            headers=as_user("maria"),
        )
        assert refused.status_code == 422
        shown = page(refused)
        [link] = shown.find(role="alert").find_all("a")
        assert (link.text, link.attrs["href"]) == ("New assignee", "#field-reassign-new_assignee")
        assert shown.find(id="field-reassign-new_assignee").attrs["value"] == typed.strip()  # kept
        assert shown.find(id="field-reassign-reason").attrs["value"] == "because \u2713"
    moved = post_form(
        ui_client, f"{UI}/tasks/{task_id}/reassign", {"new_assignee": "fiona"}, headers=as_user("maria")
    )
    assert moved.status_code == 303
    assert ui_client.get(f"/workflows/tasks/{task_id}").json()["assignee_id"] == "fiona"
    inbox = page(ui_client.get(f"{UI}/tasks", headers=as_user("fiona")))
    assert inbox.find("table").find("a").text == "Check the claim"
    assert "No pending tasks" in page(ui_client.get(f"{UI}/tasks", headers=as_user("maria"))).text


def test_claim_an_open_group_task(ui_client: TestClient[Litestar], engine: Any) -> None:
    started = ui_client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 500}},
        headers=as_user("erik"),
    )
    instance_id = started.json()["id"]
    settle(ui_client, engine, instance_id)
    [review] = ui_client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    post_form(ui_client, f"{UI}/tasks/{review['id']}/complete", {"approved": "on"}, headers=as_user("maria"))
    settle(ui_client, engine, instance_id)
    [finance] = ui_client.get(
        "/workflows/tasks", params={"instance_id": instance_id, "status": "pending"}
    ).json()
    url = f"{UI}/tasks/{finance['id']}"
    assert not page(ui_client.get(url, headers=as_user("erik"))).find_all("form", action=f"{url}/claim")
    offered = page(ui_client.get(url, headers=as_user("fiona")))
    assert offered.find("form", action=f"{url}/claim").find("button", type="submit")
    claimed = post_form(ui_client, f"{url}/claim", headers=as_user("fiona"))
    assert claimed.status_code == 303
    assert ui_client.get(f"/workflows/tasks/{finance['id']}").json()["assignee_id"] == "fiona"
    after = page(ui_client.get(url, headers=as_user("fiona")))
    assert not after.find_all("form", action=f"{url}/claim")  # taken: no claim any more
    assert after.find("form", action=f"{url}/complete")


def test_failing_fields_point_at_their_messages(ui_client: TestClient[Litestar], engine: Any) -> None:
    _, task_id = waiting_task(ui_client, engine)
    refused = page(
        post_form(
            ui_client,
            f"{UI}/tasks/{task_id}/complete",
            {"approved": "true", "amount": "500"},
            headers=as_user("maria"),
        )
    )
    amount = refused.find("input", name="amount")
    assert amount.attrs["aria-describedby"] == "error-amount"
    assert refused.find("p", id="error-amount").text == "500 is greater than the maximum of 100"
    category = refused.find("select", name="category")
    assert category.attrs["aria-describedby"] == "error-category"
    assert refused.find("fieldset").attrs["aria-describedby"] == "help-approved"


def test_a_paused_instance_offers_no_completion_and_a_canceled_task_no_submitter(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id, task_id = waiting_task(ui_client, engine)
    paused = ui_client.post(f"/workflows/instances/{instance_id}/pause", headers=as_user("erik"))
    assert paused.status_code == 200, paused.text
    shown = ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria"))
    assert f'action="{UI}/tasks/{task_id}/complete"' not in shown.text
    assert "once the instance is resumed" in page(shown).text
    resumed = ui_client.post(f"/workflows/instances/{instance_id}/resume", headers=as_user("erik"))
    assert resumed.status_code == 200, resumed.text
    shown = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")))
    assert shown.find("form", action=f"{UI}/tasks/{task_id}/complete")

    canceled = ui_client.post(
        f"/workflows/instances/{instance_id}/cancel", json={"reason": "withdrawn"}, headers=as_user("erik")
    )
    assert canceled.status_code == 200, canceled.text
    closed = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")))
    assert "by None" not in closed.text and "Submitted data" not in closed.text
    assert "closed without being completed" in closed.text


def test_an_empty_submission_names_every_missing_field_at_once(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    """The unanswered Yes/No question and the empty required fields, in one round."""
    _, task_id = waiting_task(ui_client, engine)
    refused = post_form(ui_client, f"{UI}/tasks/{task_id}/complete", {}, headers=as_user("maria"))
    assert refused.status_code == 422, refused.text
    alert = page(refused).find(role="alert").text
    for field in ("approved", "amount", "category"):
        assert field.capitalize() in alert or field in alert, (field, alert)
