"""A required yes/no question on a task or start form is answered explicitly, never by default.

As a checkbox, an unticked required boolean was sent as ``false``: "Complete task" without a look
rejected the request. It is a pair of radio buttons now, and a form choosing neither is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import Element, page, post_form, rich_form_workflow
from web_helpers import Record, as_user, build_registry, settle

from litestar_workflows import WorkflowDefinition, WorkflowRegistry
from litestar_workflows.core.types import WorkflowStatus

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"

QUESTIONNAIRE_INPUT = {
    "type": "object",
    "properties": {
        "consent": {"type": "boolean", "title": "Do you consent?", "description": "We keep it a year"},
        "newsletter": {"type": "boolean", "default": True},
        "urgent": {"type": "boolean"},
    },
    "required": ["consent", "newsletter"],
}
"""Start data with required booleans (one with a default) and an optional one."""


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.fixture
def registry() -> WorkflowRegistry:
    """The UI tests' workflows and one whose start form asks yes/no questions."""
    registry = build_registry()
    registry.register_definition(rich_form_workflow())
    registry.register_definition(
        WorkflowDefinition(
            name="questionnaire",
            version="1.0.0",
            description="Starts with yes/no questions",
            steps={"record": Record("record")},
            edges=[],
            initial_step="record",
            input_schema=QUESTIONNAIRE_INPUT,
        )
    )
    return registry


def waiting_task(
    client: TestClient[Litestar], engine: Any, workflow: str, data: dict[str, Any]
) -> tuple[str, str]:
    """Start ``workflow`` as erik (maria's task); return (instance id, task id)."""
    started = client.post(
        "/workflows/instances",
        json={"definition_name": workflow, "input_data": data},
        headers=as_user("erik"),
    )
    instance_id = started.json()["id"]
    settle(client, engine, instance_id)
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    return instance_id, task["id"]


def question(form: Element, name: str) -> tuple[Element, dict[str, Element]]:
    """The fieldset asking ``name`` and its radio buttons by label."""
    [fieldset] = [f for f in form.find_all("fieldset") if f.find_all("input", name=name)]
    radios = fieldset.find_all("input", name=name)
    return fieldset, {fieldset.find("label", for_=r.attrs["id"]).text: r for r in radios}


def test_a_task_refuses_a_form_that_does_not_answer_the_question(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id, task_id = waiting_task(ui_client, engine, "rich_form", {})
    url = f"{UI}/tasks/{task_id}/complete"
    entries = {"amount": "42", "category": "equipment", "notes": "kept"}
    refused = post_form(ui_client, url, entries, headers=as_user("maria"))

    assert refused.status_code == 422
    again = page(refused)
    assert [li.text.strip() for li in again.find(role="alert").find_all("li")] == [
        "approved: choose Yes or No"
    ]
    assert again.find(role="alert").find("a").attrs["href"] == "#field-approved"
    fieldset, radios = question(again, "approved")
    assert fieldset.attrs["aria-describedby"] == "help-approved error-approved"
    assert again.find("p", id="error-approved").text == "choose Yes or No"
    assert radios["Yes"].attrs["id"] == "field-approved"  # what the alert's link points at
    assert all(r.attrs["aria-invalid"] == "true" and "checked" not in r.attrs for r in radios.values())
    assert again.find("input", name="amount").attrs["value"] == "42"  # the other entries are kept
    assert again.find("option", value="equipment").attrs.get("selected") is not None
    assert again.find("textarea", name="notes").text == "kept"
    assert ui_client.get(f"/workflows/tasks/{task_id}").json()["status"] == "pending"
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"

    done = post_form(ui_client, url, {**entries, "approved": "false"}, headers=as_user("maria"))
    assert done.status_code == 303
    finished = settle(ui_client, engine, instance_id)
    assert finished.status is WorkflowStatus.COMPLETED
    assert finished.data["approved"] is False


@pytest.mark.parametrize(
    ("choice", "approved", "outcome"), [("true", True, "approve"), ("false", False, "reject")]
)
def test_yes_approves_and_no_rejects(
    ui_client: TestClient[Litestar], engine: Any, choice: str, approved: bool, outcome: str
) -> None:
    instance_id, task_id = waiting_task(ui_client, engine, "approval", {"amount": 50})
    form = page(ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")))
    _, radios = question(form, "approved")
    assert {label: r.attrs["value"] for label, r in radios.items()} == {"Yes": "true", "No": "false"}
    done = post_form(
        ui_client, f"{UI}/tasks/{task_id}/complete", {"approved": choice}, headers=as_user("maria")
    )
    assert done.status_code == 303
    finished = settle(ui_client, engine, instance_id)
    assert (finished.data["approved"], finished.data["outcome"]) == (approved, outcome)


def test_the_start_form_asks_required_booleans_the_same_way(ui_client: TestClient[Litestar]) -> None:
    url = f"{UI}/workflows/questionnaire/start"
    form = page(ui_client.get(url, headers=as_user("erik"))).find("form", action=url)
    consent, answers = question(form, "consent")
    assert consent.find("legend").text.strip() == "Do you consent? *(required)"
    assert consent.attrs["aria-describedby"] == "help-consent"
    assert all("required" in r.attrs and "checked" not in r.attrs for r in answers.values())
    _, newsletter = question(form, "newsletter")
    assert "checked" in newsletter["Yes"].attrs  # the schema's default is chosen
    assert "checked" not in newsletter["No"].attrs
    assert form.find("input", name="urgent").attrs["type"] == "checkbox"  # optional: a checkbox still

    refused = post_form(ui_client, url, {"newsletter": "false", "urgent": "true"}, headers=as_user("erik"))
    assert refused.status_code == 422
    again = page(refused)
    assert "consent: choose Yes or No" in again.find(role="alert").text
    _, newsletter = question(again, "newsletter")
    assert "checked" in newsletter["No"].attrs and "checked" not in newsletter["Yes"].attrs
    assert "checked" in again.find("input", name="urgent").attrs
    assert ui_client.get("/workflows/instances").json() == []  # nothing was started

    started = post_form(ui_client, url, {"consent": "true", "newsletter": "false"}, headers=as_user("erik"))
    assert started.status_code == 303
    [instance] = ui_client.get("/workflows/instances").json()
    data = ui_client.get(f"/workflows/instances/{instance['id']}").json()["context_data"]
    assert {k: data[k] for k in ("consent", "newsletter", "urgent")} == {
        "consent": True,
        "newsletter": False,
        "urgent": False,
    }
