"""Helpers for the UI's page tests: a small HTML reader, CSRF-carrying form posts, test workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from litestar_workflows import BaseHumanStep, BaseMachineStep, Edge, WorkflowContext, WorkflowDefinition
from litestar_workflows.web.ui.csrf import CSRF_COOKIE

if TYPE_CHECKING:
    from httpx import Response
    from litestar import Litestar
    from litestar.testing import TestClient

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    """One HTML element: its tag, attributes and text (its descendants' text included)."""

    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """Descendants with ``tag`` and ``attrs`` (``True``: the attribute is present; ``class_``: a class)."""
        found = []
        for child in self.children:
            if _matches(child, tag, attrs):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str | bool) -> Element:
        """The one descendant matching (fails the test when there is none)."""
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'} {attrs}> in the page"
        return found[0]


def _matches(element: Element, tag: str | None, attrs: dict[str, str | bool]) -> bool:
    if tag is not None and element.tag != tag:
        return False
    for name, wanted in attrs.items():
        if name == "class_":
            if str(wanted) not in element.attrs.get("class", "").split():
                return False
            continue
        name = name.rstrip("_").replace("_", "-")
        if wanted is True:
            if name not in element.attrs:
                return False
        elif element.attrs.get(name) != wanted:
            return False
    return True


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data


def parse(html: str) -> Element:
    """The document as a tree of :class:`Element`."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.root


def page(response: Response) -> Element:
    """The HTML page of a response (asserting it is one)."""
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    return parse(response.text)


def csrf_token(client: TestClient[Litestar], html: str | None = None) -> str:
    """The CSRF token a form carries (from ``html``'s hidden field, else the client's cookie)."""
    if html is not None:
        return parse(html).find("input", name="_csrf_token").attrs["value"]
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie yet: GET a UI page first"
    return str(token)


def post_form(
    client: TestClient[Litestar], url: str, data: dict[str, Any] | None = None, **kwargs: Any
) -> Response:
    """POST ``data`` as a browser form with the CSRF token of the page at ``url``'s parent."""
    if not client.cookies.get(CSRF_COOKIE):
        client.get(url.rsplit("/", 1)[0], headers=kwargs.get("headers"))
    fields = {"_csrf_token": csrf_token(client), **(data or {})}
    return client.post(url, data=fields, follow_redirects=False, **kwargs)


# ---------------------------------------------------------------------- workflows the UI tests run

RICH_FORM = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "Approve the request"},
        "amount": {"type": "number", "minimum": 0, "maximum": 100},
        "category": {"enum": ["travel", "equipment"]},
        "notes": {"type": "string", "maxLength": 2000},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "required": ["approved", "amount", "category"],
    "additionalProperties": False,
}


class Intake(BaseMachineStep):
    name = "intake"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("checker", context.get("checker") or "maria")


class Check(BaseHumanStep):
    name = "check"
    title = "Check the claim"
    description = "Look at the numbers and decide."
    form_schema = RICH_FORM
    assignee_key = "checker"


class Done(BaseMachineStep):
    name = "done"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("finished", True)


def rich_form_workflow() -> WorkflowDefinition:
    """intake -> check (a human task with every kind of field) -> done."""
    return WorkflowDefinition(
        name="rich_form",
        version="1.0.0",
        description="A task form with checkbox, number, select and text fields",
        steps={"intake": Intake(), "check": Check(), "done": Done()},
        edges=[Edge("intake", "check"), Edge("check", "done")],
        initial_step="intake",
        terminal_steps={"done"},
    )


class Tick(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        context.set("ticks", context.get("ticks", 0) + 1)


def long_chain(length: int) -> WorkflowDefinition:
    """``length`` machine steps in a row: an instance with a long history."""
    names = [f"s{index:03d}" for index in range(length)]
    return WorkflowDefinition(
        name="long_chain",
        version="1.0.0",
        description=f"{length} steps in a row",
        steps={name: Tick(name) for name in names},
        edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
        initial_step=names[0],
        terminal_steps={names[-1]},
    )
