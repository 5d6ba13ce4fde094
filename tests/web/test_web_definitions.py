"""``/workflows/definitions``: listing, details by name and version, graphs, unknown names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient


def test_lists_each_workflow_in_its_newest_version(client: TestClient[Litestar]) -> None:
    response = client.get("/workflows/definitions")
    assert response.status_code == 200
    by_name = {d["name"]: d for d in response.json()}
    assert set(by_name) == {"approval", "flaky", "gated"}
    assert by_name["approval"]["version"] == "2.0.0"
    assert by_name["approval"]["versions"] == ["1.0.0", "2.0.0"]
    assert by_name["approval"]["description"] == "An approval, version 2.0.0"


def test_shows_steps_with_forms_and_edges_with_conditions(client: TestClient[Litestar]) -> None:
    response = client.get("/workflows/definitions/approval")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "2.0.0"
    assert body["initial_step"] == "submit"
    assert body["terminal_steps"] == ["approve", "reject"]
    assert body["steps"] == ["submit", "review", "finance_check", "approve", "reject"]  # names, as documented
    steps = {s["name"]: s for s in body["step_details"]}
    assert steps["review"]["type"] == "human"
    assert steps["review"]["title"] == "Review the request"
    assert steps["review"]["form_schema"]["required"] == ["approved"]
    assert steps["finance_check"]["assignee_group"] == "finance"
    assert steps["submit"] == {
        "name": "submit",
        "type": "machine",
        "description": "",
        "title": None,
        "form_schema": None,
        "assignee_group": None,
    }
    assert {"source": "review", "target": "reject", "condition": "not context.get('approved')"} in body[
        "edges"
    ]


def test_a_version_can_be_asked_for(client: TestClient[Litestar]) -> None:
    response = client.get("/workflows/definitions/approval", params={"version": "1.0.0"})
    assert response.status_code == 200
    assert response.json()["version"] == "1.0.0"


def test_graph_is_mermaid_plus_nodes_and_edges(client: TestClient[Litestar]) -> None:
    response = client.get("/workflows/definitions/approval/graph", params={"version": "1.0.0"})
    assert response.status_code == 200
    body = response.json()
    assert body["mermaid"] == body["mermaid_source"]
    assert body["mermaid"].startswith(("flowchart TD", "graph TD"))
    assert (body["name"], body["version"], body["states"]) == ("approval", "1.0.0", {})
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes["submit"]["initial"] is True
    assert nodes["approve"]["terminal"] is True
    assert nodes["review"] == {
        "id": "review",
        "label": "Review",  # the step name title-cased, as documented
        "type": "human",
        "description": "",
        "is_initial": False,
        "is_terminal": False,
        "initial": False,
        "terminal": False,
    }
    assert {"source": "submit", "target": "review"} in body["edges"]  # no condition: no key


def test_unknown_names_and_versions_are_404(client: TestClient[Litestar]) -> None:
    for path, params in (
        ("/workflows/definitions/nope", {}),
        ("/workflows/definitions/nope/graph", {}),
        ("/workflows/definitions/approval", {"version": "9.9.9"}),
        ("/workflows/definitions/approval/graph", {"version": "9.9.9"}),
    ):
        response = client.get(path, params=params)
        assert response.status_code == 404, path
        body = response.json()
        assert (body["status_code"], body["error"], body["errors"]) == (404, "WorkflowNotFoundError", [])
        assert "nope" in body["detail"] or "9.9.9" in body["detail"]
