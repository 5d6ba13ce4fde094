"""The demo routes approvals from its directory of people, never from the request, and nobody
approves their own claim; its administrator may cancel anyone's instance, others only their own.

The demo app itself, in memory and on a SQLite file, driven through its REST API and fake login.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from web_helpers import settle

from litestar_workflows.demo.app import create_app
from litestar_workflows.demo.auth import DEMO_USERS, approver_for, colleague_in
from litestar_workflows.plugin import WorkflowPlugin

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


URL = "/workflows/instances"
APPROVE = {"output_data": {"approved": True}}


@pytest.fixture(params=["memory", "sqlite"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], Any]]:
    """A client of the demo app and its engine, in memory or on a SQLite file of the test's own."""
    if request.param == "memory":
        app = create_app(in_memory=True)
    else:
        app = create_app(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    with TestClient(app) as client:
        yield client, app.plugins.get(WorkflowPlugin).engine


def as_(user: str) -> dict[str, str]:
    return {"X-User": user}


def start(demo: tuple[TestClient[Litestar], Any], user: str, workflow: str, **data: Any) -> dict[str, Any]:
    client, engine = demo
    response = client.post(URL, json={"definition_name": workflow, "input_data": data}, headers=as_(user))
    assert response.status_code == 201, response.text
    instance_id = response.json()["id"]
    settle(client, engine, instance_id)
    body: dict[str, Any] = client.get(f"{URL}/{instance_id}").json()
    return body


def pending_task(client: TestClient[Litestar], instance_id: str) -> dict[str, Any]:
    query = {"instance_id": instance_id, "status": "pending"}
    [task] = client.get("/workflows/tasks", params=query).json()
    return dict(task)


def complete(client: TestClient[Litestar], task: dict[str, Any], user: str) -> int:
    return client.post(f"/workflows/tasks/{task['id']}/complete", json=APPROVE, headers=as_(user)).status_code


def test_a_claim_cannot_name_its_own_approver(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, engine = demo
    claim = start(
        demo,
        "erik",
        "expense_approval",
        amount=999,
        manager="erik",
        finance_approver="erik",
        reminder_seconds=0,
    )
    assert claim["data"]["manager"] == "maria"  # from the directory, not the request
    task = pending_task(client, claim["id"])
    assert (task["step_name"], task["assignee_id"]) == ("manager_approval", "maria")
    assert client.get("/workflows/tasks", headers=as_("erik")).json() == []
    assert complete(client, task, "erik") == 403
    assert complete(client, task, "maria") == 200
    assert settle(client, engine, claim["id"], until={"completed"}).data["decision"] == "approved"


def test_a_claim_is_never_handed_to_its_claimant(
    demo: tuple[TestClient[Litestar], Any],
) -> None:
    client, _ = demo
    claim = start(demo, "erik", "expense_approval", amount=20)
    task = pending_task(client, claim["id"])
    handed = client.post(
        f"/workflows/tasks/{task['id']}/reassign", json={"new_assignee": "erik"}, headers=as_("maria")
    )
    assert handed.status_code == 403
    assert "cannot be reassigned to 'erik'" in handed.json()["detail"]
    assert pending_task(client, claim["id"])["assignee_id"] == "maria"
    assert complete(client, task, "erik") == 403
    after = client.get(f"{URL}/{claim['id']}").json()
    assert (after["status"], after["data"].get("decision")) == ("waiting", None)
    to_hana = client.post(
        f"/workflows/tasks/{task['id']}/reassign", json={"new_assignee": "hana"}, headers=as_("maria")
    )
    assert to_hana.status_code == 200
    assert complete(client, task, "hana") == 200


def test_a_manager_s_own_claim_goes_to_their_manager(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    claim = start(demo, "maria", "expense_approval", amount=300, manager="maria")
    task = pending_task(client, claim["id"])
    assert task["assignee_id"] == "ada"
    assert complete(client, task, "maria") == 403
    assert complete(client, task, "ada") == 200


def test_finance_never_signs_off_its_own_claim(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, engine = demo
    claim = start(demo, "fiona", "expense_approval", amount=2500, category="travel")
    assert complete(client, pending_task(client, claim["id"]), "maria") == 200
    settle(client, engine, claim["id"])
    finance = pending_task(client, claim["id"])
    assert (finance["step_name"], finance["assignee_id"]) == ("finance_approval", "ada")
    assert all(
        t["instance_id"] != claim["id"] for t in client.get("/workflows/tasks", headers=as_("fiona")).json()
    )
    assert complete(client, finance, "fiona") == 403
    assert complete(client, finance, "ada") == 200

    # Someone outside finance: the sign-off stays open to the whole finance group, fiona included.
    other = start(demo, "erik", "expense_approval", amount=2500, category="travel")
    assert complete(client, pending_task(client, other["id"]), "maria") == 200
    settle(client, engine, other["id"])
    group_task = pending_task(client, other["id"])
    assert (group_task["assignee_id"], group_task["assignee_group"]) == (None, "finance")
    assert complete(client, group_task, "fiona") == 200


def test_hr_never_confirms_its_own_long_leave(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, engine = demo
    leave = start(demo, "hana", "leave_request", days=15, manager="hana", hr_approver="hana")
    manager_task = pending_task(client, leave["id"])
    assert manager_task["assignee_id"] == "maria"
    assert complete(client, manager_task, "maria") == 200
    settle(client, engine, leave["id"])
    hr_task = pending_task(client, leave["id"])
    assert (hr_task["step_name"], hr_task["assignee_id"]) == ("hr_review", "ada")
    assert complete(client, hr_task, "hana") == 403


def test_the_author_is_who_starts_the_review_and_never_reviews_it(
    demo: tuple[TestClient[Litestar], Any],
) -> None:
    client, _ = demo
    own = start(demo, "rita", "document_review", author="erik", reviewer="rita")
    assert own["data"]["author"] == "rita"
    review = pending_task(client, own["id"])
    assert review["assignee_id"] == "ada"
    decision = {"output_data": {"decision": "approve"}}
    refused = client.post(f"/workflows/tasks/{review['id']}/complete", json=decision, headers=as_("rita"))
    assert refused.status_code == 403

    erik_s = start(demo, "erik", "document_review", author="maria")
    assert erik_s["data"]["author"] == "erik"
    assert pending_task(client, erik_s["id"])["assignee_group"] == "reviewers"

    anonymous = client.post(
        URL, json={"definition_name": "document_review", "input_data": {"author": "erik"}}
    )
    failed = settle(client, demo[1], anonymous.json()["id"])
    assert failed.status == "failed"
    assert "needs an author" in (failed.error or "")


def test_the_administrator_cancels_anyone_s_claim(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    claim = start(demo, "erik", "expense_approval", amount=50)
    cancel = f"{URL}/{claim['id']}/cancel"
    assert client.post(cancel, json={"reason": "drive-by"}).status_code == 403  # anonymous
    assert client.post(cancel, headers=as_("maria")).status_code == 403  # his manager, not an admin
    assert client.post(cancel, json={"reason": "duplicate"}, headers=as_("ada")).status_code == 200

    own = start(demo, "erik", "expense_approval", amount=50)
    assert client.post(f"{URL}/{own['id']}/cancel", headers=as_("erik")).status_code == 200


@pytest.mark.parametrize("requester", [*DEMO_USERS, "zoe", None])
def test_nobody_in_the_directory_approves_for_themselves(requester: str | None) -> None:
    assert approver_for(requester) != requester
    for group in ("finance", "hr", "reviewers", "managers"):
        colleague = colleague_in(group, requester)  # None: the requester is not in the group
        assert colleague is None or (colleague != requester and group in DEMO_USERS[colleague].groups)
        assert (colleague is None) == (
            requester not in DEMO_USERS or group not in DEMO_USERS[requester].groups
        )


def test_a_document_goes_back_to_its_author_and_round_to_review_again(
    demo: tuple[TestClient[Litestar], Any],
) -> None:
    """The author revises their own document (their own work, not a decision on it); the revise
    form takes nothing but the summary, so the author cannot pick the next reviewer."""
    client, engine = demo
    instance = start(demo, "erik", "document_review", title="Travel policy")
    review = pending_task(client, instance["id"])
    assert (review["step_name"], review["assignee_group"]) == ("review", "reviewers")
    done = client.post(
        f"/workflows/tasks/{review['id']}/complete",
        json={"output_data": {"decision": "revise"}},
        headers=as_("rita"),
    )
    assert done.status_code == 200, done.text
    settle(client, engine, instance["id"])
    revise = pending_task(client, instance["id"])
    assert (revise["step_name"], revise["assignee_id"]) == ("revise", "erik")
    rerouted = {"output_data": {"summary": "v2", "reviewer": "hana"}}
    refused = client.post(f"/workflows/tasks/{revise['id']}/complete", json=rerouted, headers=as_("erik"))
    assert refused.status_code == 422, refused.text
    assert "reviewer" in refused.text
    revised = client.post(
        f"/workflows/tasks/{revise['id']}/complete",
        json={"output_data": {"summary": "v2"}},
        headers=as_("erik"),
    )
    assert revised.status_code == 200, revised.text
    settle(client, engine, instance["id"])
    again = pending_task(client, instance["id"])
    assert (again["step_name"], again["assignee_id"], again["assignee_group"]) == (
        "review",
        None,
        "reviewers",
    )
    own = client.post(
        f"/workflows/tasks/{again['id']}/complete",
        json={"output_data": {"decision": "approve"}},
        headers=as_("erik"),
    )
    assert own.status_code == 403  # still nobody approves their own document
    approved = client.post(
        f"/workflows/tasks/{again['id']}/complete",
        json={"output_data": {"decision": "approve"}},
        headers=as_("rita"),
    )
    assert approved.status_code == 200, approved.text
    assert settle(client, engine, instance["id"]).status.value == "completed"


def test_an_anonymous_request_cannot_file_a_claim_in_another_s_name(
    demo: tuple[TestClient[Litestar], Any],
) -> None:
    """Where users sign in, the body's ``user_id`` may only repeat who signed in."""
    client, _ = demo
    body = {"definition_name": "expense_approval", "input_data": {"amount": 5}, "user_id": "maria"}
    refused = client.post(URL, json=body)
    assert refused.status_code == 403, refused.text
    assert "sign in as that user" in refused.json()["detail"]
    assert client.get(URL).json() == []
    assert client.post(URL, json=body, headers=as_("maria")).status_code == 201


def test_an_app_that_identifies_nobody_takes_the_creator_from_the_body() -> None:
    """No authentication at all (the reference's examples): the body names the creator, as documented."""
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.demo.workflows import DEMO_WORKFLOWS
    from litestar_workflows.plugin import WorkflowPluginConfig

    app = Litestar(
        plugins=[
            WorkflowPlugin(
                WorkflowPluginConfig(auto_register_workflows=DEMO_WORKFLOWS, registry=WorkflowRegistry())
            )
        ]
    )
    with TestClient(app) as client:
        body = {"definition_name": "document_review", "input_data": {"title": "t"}, "user_id": "erik"}
        started = client.post(URL, json=body)
        assert started.status_code == 201, started.text
        assert started.json()["created_by"] == "erik"
