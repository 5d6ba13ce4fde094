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
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import allow_header_conformance

from litestar_workflows.demo.app import create_app

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
