"""Bad request bodies answer 4xx with a reason on every route that takes one, and change nothing.

Deep nesting (400, never a 500 from the decoder's RecursionError), bodies over ``max_body_size``
(413), and unpaired UTF-16 surrogates (400 naming the escape and where), on each backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import as_user, make_app, settle

from litestar_workflows.runtime.jsondata import MAX_NESTING_DEPTH
from litestar_workflows.web.bodies import DEFAULT_MAX_BODY_SIZE, MAX_BODY_DEPTH, unpaired_surrogate

if TYPE_CHECKING:
    from litestar import Litestar

JSON = {"Content-Type": "application/json"}


def nested_list(levels: int) -> str:
    """JSON text of ``levels`` lists inside each other."""
    return "[" * levels + "]" * levels


def waiting_review(client: TestClient[Litestar], engine: Any) -> tuple[str, str]:
    """An approval waiting for maria's review: its instance id and task id."""
    started = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 50}},
        headers=as_user("erik"),
    )
    assert started.status_code == 201, started.text
    instance_id = started.json()["id"]
    settle(client, engine, instance_id)
    [task] = client.get("/workflows/tasks", headers=as_user("maria")).json()
    return instance_id, task["id"]


def body_routes(instance_id: str, task_id: str) -> dict[str, str]:
    """Every route of the API that reads a body, with its JSON envelope (``{}`` marks the data)."""
    return {
        "/workflows/instances": '{"definition_name": "approval", "input_data": {"x": {}}}',
        f"/workflows/instances/{instance_id}/cancel": '{"reason": {}}',
        f"/workflows/instances/{instance_id}/retry": '{"from_step": {}}',
        f"/workflows/tasks/{task_id}/complete": '{"output_data": {"approved": true, "x": {}}}',
        f"/workflows/tasks/{task_id}/reassign": '{"new_assignee": {}}',
    }


def post(client: TestClient[Litestar], path: str, body: str | bytes) -> Any:
    return client.post(path, content=body, headers={**as_user("maria"), **JSON})


def test_bad_bodies_answer_4xx_with_a_reason_on_every_route_and_change_nothing(
    client: TestClient[Litestar], engine: Any
) -> None:
    instance_id, task_id = waiting_review(client, engine)
    before = client.get(f"/workflows/instances/{instance_id}").json()
    for path, envelope in body_routes(instance_id, task_id).items():
        for levels in (1_000, 100_000):  # past the decoder's recursion limit: was a 500
            response = post(client, path, envelope.replace("{}", nested_list(levels)))
            assert response.status_code == 400, (path, levels, response.text)
            assert f"more than {MAX_BODY_DEPTH} levels deep" in response.json()["detail"]
        response = post(client, path, envelope.replace("{}", nested_list(MAX_NESTING_DEPTH + 5)))
        assert response.status_code == 400, (path, response.text)
        assert f"workflow data may nest at most {MAX_NESTING_DEPTH} levels" in response.json()["detail"]

        response = post(client, path, envelope.replace("{}", '"\\ud800"'))
        assert response.status_code == 400, (path, response.text)
        detail = response.json()["detail"]
        assert "unpaired UTF-16 surrogate \\ud800 at byte" in detail, detail
        assert "truncated" not in detail

        response = post(client, path, envelope.replace("{}", '"' + "x" * DEFAULT_MAX_BODY_SIZE + '"'))
        assert response.status_code == 413, (path, response.text)
        assert f"larger than {DEFAULT_MAX_BODY_SIZE:,} bytes" in response.json()["detail"]

        response = post(client, path, envelope.replace("{}", "{"))
        assert response.status_code == 400, (path, response.text)
        assert response.json()["detail"].startswith("The body is not valid JSON")

    after = client.get(f"/workflows/instances/{instance_id}").json()
    assert after == before  # still waiting for the review, nothing recorded
    assert client.get("/workflows/instances").headers["x-total-count"] == "1"  # nothing started
    # ... and it goes on as usual.
    done = client.post(
        f"/workflows/tasks/{task_id}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("maria"),
    )
    assert done.status_code == 200, done.text
    assert settle(client, engine, instance_id).status.value == "completed"


def test_the_deepest_allowed_data_is_accepted(client: TestClient[Litestar], engine: Any) -> None:
    deepest = nested_list(MAX_NESTING_DEPTH - 1)  # inside input_data: exactly the limit
    started = post(
        client,
        "/workflows/instances",
        '{"definition_name": "approval", "input_data": {"x": ' + deepest + "}}",
    )
    assert started.status_code == 201, started.text
    stored = settle(client, engine, started.json()["id"])
    assert stored.data["x"] == eval(deepest)  # noqa: S307 - a literal of nested empty lists


def test_the_body_limit_is_configurable(engine: Any) -> None:
    with TestClient(make_app(engine, max_body_size=300)) as client:
        small = {"definition_name": "approval", "input_data": {"note": "x" * 100}}
        assert client.post("/workflows/instances", json=small, headers=as_user("erik")).status_code == 201
        big = {"definition_name": "approval", "input_data": {"note": "x" * 400}}
        response = client.post("/workflows/instances", json=big, headers=as_user("erik"))
        assert response.status_code == 413
        assert "larger than 300 bytes" in response.json()["detail"]
        # The limit is the API's: it leaves the app's other routes alone.
        assert client.get("/workflows/instances").headers["x-total-count"] == "1"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (b'"\\ud800"', ("\\ud800", 1)),
        (b'{"a": "ok \\ud83d\\ude00", "b": "\\udc00"}', ("\\udc00", 31)),
        (b'"\\ud800\\u0041"', ("\\ud800", 1)),
        (b'"\\ud83d\\ude00"', None),  # a proper pair
        (b'"\\\\ud800"', None),  # an escaped backslash, then plain text
        (b'"\\\\\\ud800"', ("\\ud800", 3)),
    ],
)
def test_unpaired_surrogates_are_found_where_they_are(text: bytes, found: tuple[str, int] | None) -> None:
    assert unpaired_surrogate(text) == found


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "Text/Plain;charset=UTF-8",
    ],
)
def test_a_body_typed_as_a_form_is_refused(
    client: TestClient[Litestar], engine: Any, content_type: str
) -> None:
    """Another site's form can send these with the user's cookies; the API reads JSON only (415)."""
    instance_id, task_id = waiting_review(client, engine)
    maria = {**as_user("maria"), "Content-Type": content_type}
    for url, body in (
        (f"/workflows/tasks/{task_id}/complete", '{"output_data": {"approved": true}}'),
        (f"/workflows/instances/{instance_id}/cancel", ""),
        ("/workflows/instances", '{"definition_name": "approval", "input_data": {"amount": 1}}'),
    ):
        refused = client.post(url, content=body, headers=maria)
        assert refused.status_code == 415, (url, refused.text)
        assert "send the body as JSON" in refused.json()["detail"]
    assert settle(client, engine, instance_id).status.value == "waiting"
    assert len(client.get("/workflows/instances").json()) == 1
    bare = client.post(
        f"/workflows/instances/{instance_id}/cancel", headers=as_user("erik")
    )  # no body, no type
    assert bare.status_code == 200, bare.text
    assert bare.json()["status"] == "canceled"
