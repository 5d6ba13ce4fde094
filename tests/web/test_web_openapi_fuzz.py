"""Fuzz every operation of the published OpenAPI schema (schemathesis, in-process ASGI): no 500s.

The demo app runs in memory and on a SQLite file. Generation is deterministic (derandomized, a
bounded number of examples per operation) and responses are also checked against the schema
they claim, with one exception: Litestar 2's automatic ``OPTIONS`` answer lists only some methods
of a path with several handlers (litestar-org/litestar#4169, fixed in Litestar 3), so ``Allow``
is not checked.

Schemathesis runs each app's lifespan once, until the process exits; the SQLite file lives in a
temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import allow_header_conformance

from litestar_workflows.demo.app import create_app
from litestar_workflows.runtime.jsondata import MAX_NESTING_DEPTH
from litestar_workflows.web.bodies import DEFAULT_MAX_BODY_SIZE

FUZZ = settings(
    max_examples=40, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

_directory = Path(tempfile.mkdtemp(prefix="workflows-fuzz-"))
atexit.register(shutil.rmtree, _directory, ignore_errors=True)

memory_schema = schemathesis.openapi.from_asgi("/schema/openapi.json", create_app(in_memory=True))
sqlite_schema = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_app(f"sqlite+aiosqlite:///{_directory / 'fuzz.db'}")
)


@memory_schema.parametrize()
@FUZZ
def test_fuzz_in_memory(case: Any) -> None:
    case.call_and_validate(excluded_checks=[allow_header_conformance])


@sqlite_schema.parametrize()
@FUZZ
def test_fuzz_on_sqlite(case: Any) -> None:
    case.call_and_validate(excluded_checks=[allow_header_conformance])


# ---------------------------------------------------------------------------- hostile bodies
#
# The same generated requests to every operation that takes a body, each sent three more times
# with a part of the body swapped for something hostile: a thousand levels of nesting (a 500 from
# the JSON decoder's RecursionError before), a value nested just past the data limit, and a body
# larger than the API accepts. Only "no server error" is checked: 400 and 413 are the answers.

HOSTILE = settings(FUZZ, max_examples=8)
DEEP = [0]
for _ in range(1_000):
    DEEP = [DEEP]
JUST_TOO_DEEP: list[Any] = []
for _ in range(MAX_NESTING_DEPTH + 1):
    JUST_TOO_DEEP = [JUST_TOO_DEEP]
OVERSIZED = "x" * (DEFAULT_MAX_BODY_SIZE + 1)
SEEN: set[int] = set()
"""Statuses the hostile bodies got (the last test checks the guards were reached at all)."""


def hostile_bodies(body: Any) -> list[Any]:
    """``body`` with its first value (or the whole of it) replaced by each hostile value."""
    if isinstance(body, dict) and body:
        key = next(iter(body))
        return [{**body, key: value} for value in (DEEP, JUST_TOO_DEEP, OVERSIZED)]
    return [DEEP, JUST_TOO_DEEP, OVERSIZED]


def send_hostile(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error])
    for body in hostile_bodies(case.body):
        case.body = body
        response = case.call_and_validate(checks=[not_a_server_error])
        assert response.status_code < 500, response.text[:300]
        SEEN.add(response.status_code)


@memory_schema.include(method="POST").parametrize()
@HOSTILE
def test_hostile_bodies_in_memory(case: Any) -> None:
    send_hostile(case)


@sqlite_schema.include(method="POST").parametrize()
@HOSTILE
def test_hostile_bodies_on_sqlite(case: Any) -> None:
    send_hostile(case)


def test_hostile_bodies_met_the_guards() -> None:
    """Some hostile bodies reached the body checks (400 and 413 answered).

    Runs after the two above in file order, but pytest-xdist may hand it to another worker than
    theirs: then the same hostile bodies are sent here, to the start route, so that the check
    never depends on how the tests were distributed.
    """
    if not {400, 413} <= SEEN:
        from litestar.testing import TestClient

        deep = "[" * 1_001 + "0" + "]" * 1_001  # written out: json.dumps itself recurses too deep
        values = (deep, json.dumps(JUST_TOO_DEEP), json.dumps(OVERSIZED))
        with TestClient(create_app(in_memory=True)) as client:
            for value in values:
                body = f'{{"definition_name": "expense_approval", "input_data": {{"x": {value}}}}}'
                headers = {"content-type": "application/json"}
                SEEN.add(client.post("/workflows/instances", content=body, headers=headers).status_code)
    assert {400, 413} <= SEEN, SEEN
