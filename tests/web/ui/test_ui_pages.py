"""Every page of the UI renders, on every backend, and acts through the engine as the API does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ui_helpers import page, post_form
from web_helpers import as_user, settle

from litestar_workflows.core.types import WorkflowStatus

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


def start_by_form(client: TestClient[Litestar], workflow: str, json_text: str, user: str = "erik") -> str:
    """Start ``workflow`` through the start form (JSON editor); return the new instance's id."""
    response = post_form(
        client, f"{UI}/workflows/{workflow}/start", {"input_data": json_text}, headers=as_user(user)
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{UI}/instances/")
    return location.rsplit("/", 1)[1]


def test_overview_and_workflow_pages_show_cards_graphs_and_start_buttons(
    ui_client: TestClient[Litestar],
) -> None:
    overview = page(ui_client.get(f"{UI}/", headers=as_user("maria")))
    cards = overview.find_all("li", class_="card")
    assert {card.find("h3").text.strip() for card in cards} >= {"Approval", "Rich form", "Flaky"}
    approval = next(card for card in cards if card.find("h3").text.strip() == "Approval")
    assert [chip.text for chip in approval.find_all("li", class_="chip")] == [
        "Submit",
        "Review",
        "Finance check",
        "Approve",
        "Reject",
    ]
    assert "2.0.0" in approval.text  # newest version, and its count of versions
    assert "2 versions" in approval.text
    graph = approval.find(data_graph=True).find("pre", class_="mermaid")
    assert graph.text.startswith("graph TD")
    assert approval.find("a", href=f"{UI}/workflows/approval/start").text.startswith("Start")
    assert "Signed in as" in overview.text and "maria" in overview.text
    scripts = [s.attrs["src"] for s in overview.find_all("script")]
    assert f"{UI}/static/vendor/mermaid/mermaid.min.js" in scripts
    for src in scripts:
        assert ui_client.get(src).status_code == 200, src

    listing = page(ui_client.get(f"{UI}/workflows"))
    assert len(listing.find_all("li", class_="card")) == 4
    detail = page(ui_client.get(f"{UI}/workflows/approval"))
    assert detail.find("h1").text == "Approval"
    assert detail.find(data_graph=True)
    assert "No instances yet" in detail.text
    older = page(ui_client.get(f"{UI}/workflows/approval", params={"version": "1.0.0"}))
    assert "version 1.0.0" in older.text


def test_unknown_workflow_is_a_404_page(ui_client: TestClient[Litestar]) -> None:
    response = ui_client.get(f"{UI}/workflows/nope")
    assert response.status_code == 404
    assert "'nope' not found" in page(response).find(role="alert").text


def test_start_form_without_input_schema_is_a_json_editor(ui_client: TestClient[Litestar]) -> None:
    form = page(ui_client.get(f"{UI}/workflows/approval/start", headers=as_user("erik"))).find(
        "form", method="post"
    )
    assert form.find("textarea", name="input_data")
    assert form.find("label", for_="field-input_data")
    assert form.find("button", type="submit")
    assert form.find("input", name="_csrf_token").attrs["value"]


def test_start_form_errors_name_the_problem_and_keep_the_text(ui_client: TestClient[Litestar]) -> None:
    url = f"{UI}/workflows/approval/start"
    broken = post_form(ui_client, url, {"input_data": '{"amount": '}, headers=as_user("erik"))
    assert broken.status_code == 422
    alert = page(broken).find(role="alert")
    assert "input_data" in alert.text and "not valid JSON" in alert.text
    assert page(broken).find("textarea", name="input_data").text == '{"amount": '
    not_object = post_form(ui_client, url, {"input_data": "[1, 2]"}, headers=as_user("erik"))
    assert not_object.status_code == 422
    assert "must be a JSON object" in page(not_object).find(role="alert").text
    assert ui_client.get("/workflows/instances").json() == []  # nothing was started


def test_start_review_and_finish_through_the_forms(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start_by_form(ui_client, "approval", '{"amount": 50}')
    settle(ui_client, engine, instance_id)
    instance = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik")))
    [status] = instance.find_all(data_status=True)
    assert status.attrs["data-status"] == "waiting"
    graph = instance.find(data_graph=True).find("pre", class_="mermaid").text
    assert "wf_completed" in graph and "wf_waiting" in graph
    assert "started by" not in instance.text.lower() or "erik" in instance.text
    rows = instance.find("table", class_="timeline").find("tbody").find_all("tr")
    assert [row.find("th").text for row in rows] == ["Review", "Submit"]  # newest first
    assert (
        instance.find("a", href=f"{UI}/tasks/" + _task_id(ui_client, instance_id)).text
        == "Review the request"
    )

    inbox = page(ui_client.get(f"{UI}/tasks", headers=as_user("maria")))
    link = inbox.find("table").find("a")
    assert link.text == "Review the request"
    assert inbox.find(data_counter="pending").text == "1"
    task_url = link.attrs["href"]
    task = page(ui_client.get(task_url, headers=as_user("maria")))
    # A required yes/no question: two labelled radio buttons, neither chosen for the reviewer.
    choices = task.find_all("input", name="approved")
    assert [(c.attrs["type"], c.attrs["value"]) for c in choices] == [("radio", "true"), ("radio", "false")]
    assert [task.find("label", for_=c.attrs["id"]).text for c in choices] == ["Yes", "No"]
    assert not any("checked" in c.attrs for c in choices)
    done = post_form(ui_client, f"{task_url}/complete", {"approved": "true"}, headers=as_user("maria"))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{UI}/instances/{instance_id}"
    finished = settle(ui_client, engine, instance_id)
    assert finished.status is WorkflowStatus.COMPLETED
    assert finished.data["approved"] is True
    after = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik")))
    assert after.find(data_status=True).attrs["data-status"] == "completed"
    review = next(r for r in after.find("table", class_="timeline").find_all("tr") if "Review" in r.text)
    assert "maria" in review.text  # who completed the task
    assert (
        page(ui_client.get(f"{UI}/tasks", headers=as_user("maria"))).find(data_counter="completed-today").text
        == "1"
    )
    assert "No pending tasks" in page(ui_client.get(f"{UI}/tasks", headers=as_user("maria"))).text


def _task_id(client: TestClient[Litestar], instance_id: str) -> str:
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    return str(task["id"])


def test_instance_list_filters_and_paginates(ui_client: TestClient[Litestar], engine: Any) -> None:
    ids = [start_by_form(ui_client, "approval", '{"amount": 5}', user="erik") for _ in range(3)]
    flaky = start_by_form(ui_client, "flaky", "{}", user="fiona")
    for instance_id in (*ids, flaky):
        settle(ui_client, engine, instance_id)
    everything = page(ui_client.get(f"{UI}/instances"))
    assert len(everything.find("tbody").find_all("tr")) == 4
    failed = page(ui_client.get(f"{UI}/instances", params={"status": "failed"}))
    [row] = failed.find("tbody").find_all("tr")
    assert flaky[:8] in row.text and "Failed" in row.text
    by_workflow = page(ui_client.get(f"{UI}/instances", params={"workflow": "approval", "creator": "erik"}))
    assert len(by_workflow.find("tbody").find_all("tr")) == 3
    nobody = page(ui_client.get(f"{UI}/instances", params={"creator": "zoe"}))
    assert "No instance matches these filters" in nobody.text
    future = page(ui_client.get(f"{UI}/instances", params={"started_after": "2999-01-01"}))
    assert "No instance matches" in future.text
    today = page(
        ui_client.get(
            f"{UI}/instances", params={"started_before": "2999-01-01", "started_after": "2000-01-01"}
        )
    )
    assert len(today.find("tbody").find_all("tr")) == 4
    # The filter form as a browser submits it: every field, "Any" as an empty value.
    form = {"status": "", "workflow": "", "creator": "", "started_after": "", "started_before": ""}
    assert len(page(ui_client.get(f"{UI}/instances", params=form)).find("tbody").find_all("tr")) == 4
    failed_only = page(ui_client.get(f"{UI}/instances", params={**form, "status": "failed"}))
    assert failed_only.find("option", value="failed").attrs.get("selected") is not None
    bad_status = ui_client.get(f"{UI}/instances", params={"status": "lost"})
    assert bad_status.status_code == 400
    assert "status must be one of" in page(bad_status).find(role="alert").text
    bad_date = ui_client.get(f"{UI}/instances", params={"started_after": "yesterday"})
    assert bad_date.status_code == 400
    assert "started_after must be a date" in page(bad_date).find(role="alert").text


def test_static_files_are_served_and_traversal_is_not(ui_client: TestClient[Litestar]) -> None:
    css = ui_client.get(f"{UI}/static/ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ui_client.get(f"{UI}/static/../rendering.py").status_code == 404


def test_an_older_version_can_be_started_from_its_page(ui_client: TestClient[Litestar]) -> None:
    older = page(ui_client.get(f"{UI}/workflows/approval", params={"version": "1.0.0"}))
    start_link = older.find("a", href=f"{UI}/workflows/approval/start?version=1.0.0")
    assert "of version 1.0.0" in start_link.text
    form = page(ui_client.get(start_link.attrs["href"])).find("form", method="post")
    assert form.find("input", name="_workflow_version").attrs["value"] == "1.0.0"
    started = post_form(
        ui_client, f"{UI}/workflows/approval/start", {"_workflow_version": "1.0.0", "input_data": "{}"}
    )
    assert started.status_code == 303
    instance_id = started.headers["location"].rsplit("/", 1)[1]
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["workflow_version"] == "1.0.0"
    newest = page(ui_client.get(f"{UI}/workflows/approval"))
    assert newest.find("a", href=f"{UI}/workflows/approval/start").text.strip() == "Start new instance"


def one_task_app(
    name: str, *, input_schema: dict[str, Any] | None = None, form_schema: dict[str, Any] | None = None
) -> tuple[TestClient[Litestar], Any]:
    """A client (not yet entered) of an app whose one workflow, ``name``, is a single human task."""
    from litestar.testing import TestClient
    from web_helpers import make_app

    from litestar_workflows import BaseHumanStep, LocalExecutionEngine, WorkflowDefinition, WorkflowRegistry

    registry = WorkflowRegistry()
    task = BaseHumanStep("ok", title="OK?", form_schema=form_schema)
    registry.register_definition(
        WorkflowDefinition(
            name=name, version="1.0.0", steps={"ok": task}, initial_step="ok", input_schema=input_schema
        )
    )
    engine = LocalExecutionEngine(registry)
    return TestClient(make_app(engine)), engine


def test_links_to_a_workflow_whose_name_holds_url_characters_reach_it() -> None:
    """The cards, the breadcrumbs and the start form encode the name: "#" and "?" end no link."""
    name = "Expense #2 (50% off?)"
    client, _ = one_task_app(name)
    with client:
        overview = page(client.get(f"{UI}/workflows", headers=as_user("erik")))
        card = overview.find("li", class_="card")
        detail_link = card.find("h3").find("a").attrs["href"]
        start_link = card.find("a", class_="button").attrs["href"]
        assert "#" not in detail_link and "?" not in start_link, (detail_link, start_link)
        detail = page(client.get(detail_link, headers=as_user("erik")))
        assert name in detail.find("h1").text
        start_page = page(client.get(start_link, headers=as_user("erik")))
        form = start_page.find("form", class_="form")
        started = post_form(client, form.attrs["action"], {"input_data": "{}"}, headers=as_user("erik"))
        assert started.status_code == 303, started.text
        instance = page(client.get(started.headers["location"], headers=as_user("erik")))
        assert name in instance.text


def test_an_input_field_named_version_is_the_workflows_data_not_the_version_to_start() -> None:
    """The start form's own hidden fields are named apart from the input schema's fields."""
    fields = {"title": {"type": "string"}, "version": {"type": "string"}}
    client, engine = one_task_app(
        "publish_doc", input_schema={"type": "object", "properties": fields, "required": ["title", "version"]}
    )
    with client:
        form = page(client.get(f"{UI}/workflows/publish_doc/start", headers=as_user("erik")))
        assert [field.attrs["name"] for field in form.find_all("input", name="version")] == ["version"]
        started = post_form(
            client,
            f"{UI}/workflows/publish_doc/start",
            {"title": "Manual", "version": "2.3"},
            headers=as_user("erik"),
        )
        assert started.status_code == 303, started.text
        instance_id = started.headers["location"].rsplit("/", 1)[1]
        instance = settle(client, engine, instance_id)
        assert instance.data == {"title": "Manual", "version": "2.3"}


def links_of_alert(shown: Any) -> list[tuple[str, str]]:
    """Each link of the page's error alert (its text, its target's id), the target checked to exist."""
    links = [(a.text, a.attrs["href"].removeprefix("#")) for a in shown.find(role="alert").find_all("a")]
    assert all(shown.find(id=target) for _, target in links), links
    return links


def test_schemas_without_fields_get_a_json_editor_whose_text_is_the_data() -> None:
    """A start or task schema of ``additionalProperties`` only: the JSON typed in is what is sent."""
    scores = {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1}
    client, engine = one_task_app("scores", input_schema=scores, form_schema=scores)
    with client:
        start_page = page(client.get(f"{UI}/workflows/scores/start", headers=as_user("erik")))
        assert start_page.find("textarea", name="input_data")
        wrong = post_form(
            client, f"{UI}/workflows/scores/start", {"input_data": '{"maths": "x"}'}, headers=as_user("erik")
        )
        assert wrong.status_code == 422, wrong.text
        assert links_of_alert(page(wrong)) == [("maths", "field-input_data")]
        started = post_form(
            client, f"{UI}/workflows/scores/start", {"input_data": '{"maths": 3}'}, headers=as_user("erik")
        )
        assert started.status_code == 303, started.text
        instance_id = started.headers["location"].rsplit("/", 1)[1]
        assert settle(client, engine, instance_id).data == {"maths": 3}
        task_id = _task_id(client, instance_id)
        task_page = page(client.get(f"{UI}/tasks/{task_id}", headers=as_user("erik")))
        assert task_page.find("textarea", name="_task_data")
        assert "asks for no data" not in task_page.text
        refused = post_form(
            client, f"{UI}/tasks/{task_id}/complete", {"_task_data": '{"art": "A"}'}, headers=as_user("erik")
        )
        assert refused.status_code == 422, refused.text
        assert '"art": "A"' in page(refused).find("textarea", name="_task_data").text  # kept for correcting
        assert links_of_alert(page(refused)) == [("art", "field-_task_data")]  # to the editor: no "art" input
        done = post_form(
            client, f"{UI}/tasks/{task_id}/complete", {"_task_data": '{"art": 5}'}, headers=as_user("erik")
        )
        assert done.status_code == 303, done.text
        finished = settle(client, engine, instance_id)
        assert finished.status is WorkflowStatus.COMPLETED
        assert finished.data == {"maths": 3, "art": 5}


def test_a_json_editor_typo_is_the_only_problem_named() -> None:
    """Text that does not parse has no data to judge: no "required" complaints about keys it holds."""
    schema = {"type": "object", "required": ["amount", "reason"], "additionalProperties": True}
    client, _ = one_task_app("claims", input_schema=schema)
    with client:
        refused = post_form(
            client,
            f"{UI}/workflows/claims/start",
            {"input_data": '{"amount": 5, "reason": "trip",}'},
            headers=as_user("erik"),
        )
        assert refused.status_code == 422
        alert = " ".join(page(refused).find(role="alert").text.split())
        assert "not valid JSON" in alert and "required" not in alert, alert


def test_an_unassigned_task_without_a_group_is_open_to_anyone_not_to_group_none() -> None:
    client, engine = one_task_app("anyone")
    with client:
        started = client.post(
            "/workflows/instances", json={"definition_name": "anyone"}, headers=as_user("erik")
        )
        instance_id = started.json()["id"]
        settle(client, engine, instance_id)
        shown = page(client.get(f"{UI}/tasks/{_task_id(client, instance_id)}", headers=as_user("erik")))
        assert "group None" not in shown.text
        assert "Open to anyone" in " ".join(shown.text.split())
