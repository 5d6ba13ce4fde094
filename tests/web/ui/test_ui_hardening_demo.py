"""The demo's ``?as=`` takes any name: one a header cannot carry as it is is kept percent-encoded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from litestar.testing import TestClient

from litestar_workflows.demo.app import create_app
from litestar_workflows.demo.auth import USER_COOKIE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

UI = "/workflows/ui"


@pytest.fixture
def demo_client() -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(in_memory=True)) as client:
        yield client


def started_by(client: TestClient[Litestar]) -> str | None:
    """Who a start with no ``?as=`` (only the session cookie) names as its creator."""
    started = client.post(
        "/workflows/instances",
        json={"definition_name": "expense_approval", "input_data": {"amount": 5, "category": "travel"}},
    )
    assert started.status_code == 201, started.text
    creator: str | None = started.json()["created_by"]
    return creator


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("%D0%BC%D0%B0ria", "\u043c\u0430ria"),  # Cyrillic: not Latin-1
        ("%E2%80%AEmaria", "\u202emaria"),  # a right-to-left override
        ("Jos%C3%A9", "Jos\u00e9"),  # Latin-1: a header carried it, octal-escaped
        ("a%3Bb%22c%25d", 'a;b"c%d'),
    ],
)
def test_any_name_signs_in_as_an_unknown_user_and_sticks(
    demo_client: TestClient[Litestar], query: str, name: str
) -> None:
    chosen = demo_client.get(f"{UI}/?as={query}")
    assert chosen.status_code == 200
    [cookie] = [c for c in chosen.headers.get_list("set-cookie") if c.startswith(f"{USER_COOKIE}=")]
    assert cookie.isascii() and "HttpOnly" in cookie
    assert started_by(demo_client) == name  # the cookie alone names the same user
    demo_client.get(f"{UI}/?as=maria")
    assert started_by(demo_client) == "maria"
