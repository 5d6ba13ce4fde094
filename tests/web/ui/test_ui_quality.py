"""What every page holds to: nothing loaded from elsewhere, every input labelled, one h1, a skip link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import Element, page, post_form
from web_helpers import as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


@pytest.fixture
def backend() -> str:
    return "memory"


def every_page(client: TestClient[Litestar], engine: Any) -> dict[str, Element]:
    """Each kind of page, with an instance waiting for maria's task and a refused form among them."""
    started = post_form(
        client, f"{UI}/workflows/rich_form/start", {"input_data": "{}"}, headers=as_user("erik")
    )
    instance_url = started.headers["location"]
    settle(client, engine, instance_url.rsplit("/", 1)[1])
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_url.rsplit("/", 1)[1]}).json()
    task_url = f"{UI}/tasks/{task['id']}"
    maria = as_user("maria")
    urls = [
        f"{UI}/",
        f"{UI}/workflows",
        f"{UI}/workflows/approval",
        f"{UI}/workflows/approval/start",
        f"{UI}/instances",
        instance_url,
        f"{UI}/tasks",
        task_url,
        f"{UI}/workflows/nope",
    ]
    pages = {url: page(client.get(url, headers=maria)) for url in urls}
    refused = post_form(client, f"{task_url}/complete", {"amount": "x"}, headers=maria)
    pages["refused task form"] = page(refused)
    return pages


def test_nothing_is_loaded_from_another_origin(ui_client: TestClient[Litestar], engine: Any) -> None:
    for url, document in every_page(ui_client, engine).items():
        for element in document.find_all():
            for attribute in ("src", "href", "action"):
                value = element.attrs.get(attribute)
                if value is None:
                    continue
                assert value.startswith(("/", "#", "data:")), (url, element.tag, value)
                if element.tag in {"script", "link"}:
                    assert ui_client.get(value).status_code == 200 or value.startswith("data:"), value


def test_every_control_has_a_label_and_every_page_one_heading(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    for url, document in every_page(ui_client, engine).items():
        labelled = {label.attrs.get("for") for label in document.find_all("label")}
        for control in [
            *document.find_all("input"),
            *document.find_all("select"),
            *document.find_all("textarea"),
        ]:
            if control.attrs.get("type") in {"hidden", "submit"}:
                continue
            assert control.attrs.get("id") in labelled or control.attrs.get("aria-label"), (
                url,
                control.attrs,
            )
        assert len(document.find_all("h1")) == 1, url
        assert document.find("a", class_="skip-link").attrs["href"] == "#main"
        assert document.find("html").attrs["lang"] == "en"
        ids = [e.attrs["id"] for e in document.find_all(id=True)]
        assert len(ids) == len(set(ids)), (url, sorted(i for i in ids if ids.count(i) > 1))
        for button in document.find_all("button"):
            assert button.text.strip(), (url, button.attrs)
