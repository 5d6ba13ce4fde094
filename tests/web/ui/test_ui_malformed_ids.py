"""A malformed instance or task id in a UI path answers the UI's HTML not-found page, saying so."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from ui_helpers import page, post_form
from web_helpers import as_user

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("instances/zzz", "instance"),
        ("instances/zzz/events", "instance"),
        ("tasks/zzz", "task"),
        ("tasks/1234", "task"),
    ],
)
def test_a_malformed_id_gets_the_html_not_found_page(
    ui_client: TestClient[Litestar], path: str, kind: str
) -> None:
    answer = ui_client.get(f"{UI}/{path}", headers=as_user("erik"))
    assert answer.status_code == 404
    shown = page(answer)
    assert shown.find("section", class_="error-page").attrs["data-error-status"] == "404"
    assert shown.find("h1").text.startswith("Not found")
    bad = path.split("/")[1]
    what = {"instance": "Workflow instance", "task": "Task"}[kind]
    assert shown.find(role="alert").text == f"{what} {bad!r} not found: the id is malformed (not a UUID)"


@pytest.mark.parametrize("path", ["instances/zzz/cancel", "instances/zzz/retry", "tasks/zzz/complete"])
def test_a_form_posted_to_a_malformed_id_gets_the_html_page(
    ui_client: TestClient[Litestar], path: str
) -> None:
    ui_client.get(f"{UI}/tasks", headers=as_user("erik"))  # the CSRF cookie, as a browser has it
    answer = post_form(ui_client, f"{UI}/{path}", headers=as_user("erik"))
    assert answer.status_code == 404
    assert "the id is malformed" in page(answer).find(role="alert").text


def test_a_well_formed_unknown_id_still_reads_as_missing(ui_client: TestClient[Litestar]) -> None:
    missing = uuid4()
    answer = ui_client.get(f"{UI}/instances/{missing}", headers=as_user("erik"))
    assert answer.status_code == 404
    assert page(answer).find(role="alert").text == f"Workflow instance {missing} not found"


def test_a_malformed_query_parameter_is_named_on_the_error_page(ui_client: TestClient[Litestar]) -> None:
    refused = ui_client.get(f"{UI}/instances", params={"offset": "abc"}, headers=as_user("maria"))
    assert refused.status_code == 400
    assert "offset:" in page(refused).text
