"""Form schema references resolve inside the schema only: nothing is fetched, no file is read.

A ``$ref`` to ``http://...`` used to make the server fetch that URL when a task was completed
(jsonschema's deprecated automatic retrieval), and one to ``file://...`` echoed the file's content
in the 422. A reference loop (``{"$ref": "#"}``) answered 500 with a RecursionError.
"""

from __future__ import annotations

import http.server
import threading
from typing import TYPE_CHECKING, Any
from urllib.request import urlopen

import pytest
from referencing import exceptions as reference_exceptions

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    LocalExecutionEngine,
    TaskValidationError,
    WebhookStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from litestar_workflows.core.forms import (
    LOCAL_REFERENCES_ONLY,
    MAX_REFERENCE_DEPTH,
    MAX_SCHEMAS_PER_VALUE,
    TOO_DEEP,
    ExternalReferenceError,
    check_form_schema,
    check_task_form_schema,
    data_errors,
)
from step_kit import Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from litestar_workflows import WorkflowContext

SECRET = "TOP-SECRET-FROM-DISK-5f1c"


class _Server:
    """A real HTTP server on a free local port, recording the path of every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = b'{"enum": ["' + SECRET.encode() + b'"]}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()  # returns once serve_forever has stopped
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as running:
        with urlopen(f"{running.url}/ping", timeout=5) as answer:  # it does answer requests
            assert SECRET in answer.read().decode()
        assert running.requests == ["/ping"]
        running.requests.clear()
        yield running


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret_schema.json"
    path.write_text('{"enum": ["' + SECRET + '"]}')
    return path


def one_step(schema: Any, name: str = "refs") -> WorkflowDefinition:
    return WorkflowDefinition(name=name, steps=[BaseHumanStep("ask", form_schema=schema)], initial_step="ask")


def refused_at_definition(schema: Any) -> WorkflowValidationError:
    with pytest.raises(WorkflowValidationError) as refused:
        WorkflowRegistry().register_definition(one_step(schema))
    return refused.value


class FormFromData(BaseHumanStep):
    """A step whose task form comes from the instance's data (the QA repro's ``get_form_schema``)."""

    async def get_form_schema(self, context: WorkflowContext) -> dict[str, Any] | None:
        schema: dict[str, Any] | None = context.get("schema")
        return schema


def form_from_data() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="form_from_data",
        steps=[FormFromData("ask"), Fn("done")],
        edges=[Edge("ask", "done")],
        initial_step="ask",
    )


@pytest.fixture
async def engine() -> AsyncIterator[LocalExecutionEngine]:
    async with LocalExecutionEngine(WorkflowRegistry()) as running:
        yield running


async def complete_with(engine: LocalExecutionEngine, schema: dict[str, Any], data: dict[str, Any]) -> Any:
    """Start an instance whose task form is ``schema`` and complete its task with ``data``."""
    instance = await engine.start_workflow(form_from_data(), {"schema": schema})
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    await engine.complete_human_task(instance.id, "ask", "u", data)
    return instance


async def refused_task_form(engine: LocalExecutionEngine, schema: dict[str, Any]) -> str:
    """A form ``get_form_schema()`` builds that cannot work fails its step; no task waits for ever."""
    instance = await engine.start_workflow(form_from_data(), {"schema": schema})
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert (await engine.find_tasks(instance_id=instance.id)).items == []
    error: str = instance.error or ""
    assert error.startswith(
        "step 'ask' failed: WorkflowValidationError: step 'ask' has an invalid form schema: "
    )
    return error


def all_text(error: WorkflowValidationError) -> str:
    return " ".join([str(error), error.detail, *error.errors])


# ----------------------------------------------------------------------------- http: no request


def test_an_http_ref_is_refused_with_the_definition_and_nothing_is_fetched(server: _Server) -> None:
    ref = f"{server.url}/evil.json"
    refused = refused_at_definition({"type": "object", "properties": {"x": {"$ref": ref}}})
    assert refused.errors[0].startswith(f"step 'ask' has an invalid form schema: $ref {ref!r} refers outside")
    assert "nothing is fetched" in refused.errors[0]
    assert server.requests == []


async def test_an_http_ref_in_a_task_form_fails_its_step_without_a_request(
    engine: LocalExecutionEngine, server: _Server
) -> None:
    ref = f"{server.url}/evil.json"
    for keyword in ("$ref", "$dynamicRef"):
        schema = {"type": "object", "properties": {"x": {keyword: ref}}}
        assert f"{keyword} {ref!r} refers outside the schema" in await refused_task_form(engine, schema)
    assert server.requests == []


def test_the_registry_refuses_to_retrieve_and_names_the_uri(server: _Server) -> None:
    uri = f"{server.url}/evil.json"
    with pytest.raises(reference_exceptions.Unresolvable) as refused:
        LOCAL_REFERENCES_ONLY.resolver().lookup(uri)
    unretrievable = refused.value.__cause__
    assert isinstance(unretrievable, reference_exceptions.Unretrievable)
    cause = unretrievable.__cause__
    assert isinstance(cause, ExternalReferenceError)
    assert cause.uri == uri
    assert repr(uri) in str(cause)
    assert server.requests == []


def test_an_https_ref_and_one_to_a_meta_schema_are_refused() -> None:
    for ref in ("https://example.com/form.json", "https://json-schema.org/draft/2020-12/schema"):
        refused = refused_at_definition({"properties": {"x": {"$ref": ref}}})
        assert f"$ref {ref!r} refers outside the schema" in refused.errors[0]


# ----------------------------------------------------------------------------- file: not read


def test_a_file_ref_is_refused_and_the_file_content_appears_nowhere(secret_file: Path) -> None:
    ref = secret_file.as_uri()
    refused = refused_at_definition({"type": "object", "properties": {"x": {"$ref": ref}}})
    assert f"$ref {ref!r} refers outside the schema" in refused.errors[0]
    assert SECRET not in all_text(refused)


async def test_a_file_ref_in_a_task_form_answers_no_file_content(
    engine: LocalExecutionEngine, secret_file: Path
) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": secret_file.as_uri()}}}
    error = await refused_task_form(engine, schema)
    assert "refers outside the schema" in error
    assert SECRET not in error
    with pytest.raises(WorkflowValidationError) as direct:
        data_errors(schema, {"x": "guess"}, "form")
    assert SECRET not in all_text(direct.value)


# ----------------------------------------------------------------------------- relative refs


@pytest.mark.parametrize(
    ("schema", "ref", "resolved"),
    [
        ({"properties": {"x": {"$ref": "other.json"}}}, "other.json", None),
        ({"properties": {"x": {"$ref": "../secret_schema.json#/enum"}}}, "../secret_schema.json#/enum", None),
        (
            {"$id": "https://forms.example/root.json", "properties": {"x": {"$ref": "sibling.json"}}},
            "sibling.json",
            "https://forms.example/sibling.json",
        ),
    ],
)
def test_a_relative_ref_to_elsewhere_is_refused(
    schema: dict[str, Any], ref: str, resolved: str | None
) -> None:
    refused = refused_at_definition(schema)
    assert refused.errors[0].startswith(f"step 'ask' has an invalid form schema: $ref {ref!r} refers outside")
    if resolved is not None:
        assert f"(to {resolved!r})" in refused.errors[0]


def test_a_webhook_payload_schema_is_held_to_the_same_rule(server: _Server) -> None:
    definition = WorkflowDefinition(
        name="hooked",
        steps=[WebhookStep("hook", payload_schema={"properties": {"x": {"$ref": f"{server.url}/p.json"}}})],
        initial_step="hook",
    )
    with pytest.raises(WorkflowValidationError) as refused:
        WorkflowRegistry().register_definition(definition)
    assert refused.value.errors[0].startswith("step 'hook' has an invalid form schema: $ref")
    assert server.requests == []


# ----------------------------------------------------------------------------- local refs still work

PRICE_FORM: dict[str, Any] = {
    "type": "object",
    "$defs": {"price": {"type": "number", "minimum": 0}},
    "definitions": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "properties": {
        "price": {"$ref": "#/$defs/price"},
        "currency": {"$ref": "#/definitions/code"},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/price"}},
    },
    "required": ["price"],
}


async def test_a_defs_ref_validates_and_refuses_data(engine: LocalExecutionEngine) -> None:
    WorkflowRegistry().register_definition(one_step(PRICE_FORM))
    with pytest.raises(TaskValidationError) as refused:
        await complete_with(engine, PRICE_FORM, {"price": -1, "currency": "euro", "lines": [1, "x"]})
    assert refused.value.errors == [
        "currency: 'euro' does not match '^[A-Z]{3}$'",
        "lines/1: 'x' is not of type 'number'",
        "price: -1 is less than the minimum of 0",
    ]
    instance = await complete_with(engine, PRICE_FORM, {"price": 2.5, "currency": "EUR", "lines": [1]})
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"s": {"$anchor": "short", "maxLength": 2}}, "properties": {"x": {"$ref": "#short"}}},
        {
            "$defs": {"s": {"$id": "https://forms.example/short.json", "maxLength": 2}},
            "properties": {"x": {"$ref": "https://forms.example/short.json"}},
        },
        {
            "$id": "https://forms.example/root.json",
            "$defs": {"s": {"$id": "short.json", "maxLength": 2}},
            "properties": {"x": {"$ref": "short.json"}},
        },
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"s": {"maxLength": 2}},
            "properties": {"x": {"$ref": "#/definitions/s"}},
        },
    ],
    ids=["anchor", "absolute-id", "relative-id", "draft-07"],
)
def test_anchors_and_ids_declared_in_the_schema_resolve(schema: dict[str, Any]) -> None:
    check_form_schema(schema, "step 'ask'")
    assert data_errors(schema, {"x": "ab"}, "form") == []
    assert data_errors(schema, {"x": "abc"}, "form") == ["x: 'abc' is too long"]


def test_a_recursive_schema_that_descends_into_the_data_is_fine() -> None:
    tree = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
    check_form_schema(tree, "step 'ask'")
    assert data_errors(tree, {"children": [{"children": [{}, 3]}]}, "form") == [
        "children/0/children/1: 3 is not of type 'object'"
    ]


# ----------------------------------------------------------------------------- self-reference

LOOPS: list[Any] = [
    pytest.param({"$ref": "#"}, "$ref '#'", id="root"),
    pytest.param(
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
        "$ref '#/$defs/a'",
        id="defs-self",
    ),
    pytest.param(
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}},
        "$ref '#/$defs/",
        id="mutual",
    ),
    pytest.param({"not": {"$ref": "#"}}, "$ref '#'", id="under-not"),
]


@pytest.mark.parametrize(("schema", "named"), LOOPS)
def test_a_reference_loop_is_refused_with_the_definition(schema: dict[str, Any], named: str) -> None:
    refused = refused_at_definition(schema)
    assert refused.errors[0].startswith(f"step 'ask' has an invalid form schema: {named}")
    assert "refer to itself without descending into the data" in refused.errors[0]


@pytest.mark.parametrize(("schema", "named"), LOOPS)
async def test_a_reference_loop_in_a_task_form_is_a_clear_error_not_a_crash(
    engine: LocalExecutionEngine, schema: dict[str, Any], named: str
) -> None:
    assert "refer to itself without descending" in await refused_task_form(engine, schema)


def test_chains_and_fan_outs_past_the_limits_are_refused() -> None:
    chain = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(MAX_REFERENCE_DEPTH + 5)}
    chain[f"d{MAX_REFERENCE_DEPTH + 5}"] = {"type": "string"}
    refused = refused_at_definition({"$defs": chain, "$ref": "#/$defs/d0"})
    assert f"chain more than {MAX_REFERENCE_DEPTH} deep" in refused.errors[0]
    doubling: dict[str, Any] = {"a0": {"type": "string"}}
    for i in range(1, 30):  # 2**30 schemas for one value, unless refused
        doubling[f"a{i}"] = {"allOf": [{"$ref": f"#/$defs/a{i - 1}"}, {"$ref": f"#/$defs/a{i - 1}"}]}
    refused = refused_at_definition({"$defs": doubling, "$ref": "#/$defs/a29"})
    assert f"more than {MAX_SCHEMAS_PER_VALUE} subschemas" in refused.errors[0]


def test_a_ref_to_nothing_or_to_no_schema_is_refused() -> None:
    missing = refused_at_definition({"properties": {"x": {"$ref": "#/$defs/missing"}}})
    assert "$ref '#/$defs/missing' points to nothing in the schema" in missing.errors[0]
    not_a_schema = refused_at_definition({"required": ["x"], "properties": {"x": {"$ref": "#/required"}}})
    assert "$ref '#/required' targets no schema" in not_a_schema.errors[0]


def test_data_too_deep_for_a_recursive_schema_is_refused_not_a_recursion_error() -> None:
    hops = {
        f"h{i}": {"allOf": [{"$ref": f"#/$defs/h{i + 1}" if i < 9 else "#/$defs/node"}]} for i in range(10)
    }
    node = {"type": "object", "additionalProperties": {"$ref": "#/$defs/h0"}}
    schema = {"$defs": {**hops, "node": node}, "$ref": "#/$defs/node"}
    check_form_schema(schema, "step 'ask'")
    assert data_errors(schema, {"a": {"b": 1}}, "form") == ["a/b: 1 is not of type 'object'"]
    deep: dict[str, Any] = {}
    level = deep
    for _ in range(62):
        level["a"] = {}
        level = level["a"]
    assert data_errors(schema, deep, "form") == [f"(root): {TOO_DEEP}"]


# ----------------------------------------------------------------------------- task creation


def test_check_task_form_schema_names_the_step(server: _Server) -> None:
    assert check_task_form_schema(None, "ask") is None
    assert check_task_form_schema(PRICE_FORM, "ask") is PRICE_FORM
    with pytest.raises(WorkflowValidationError) as refused:
        check_task_form_schema({"properties": {"x": {"$ref": f"{server.url}/x.json"}}}, "ask")
    assert str(refused.value).startswith("step 'ask' has an invalid form schema: $ref")
    with pytest.raises(WorkflowValidationError, match="step 'ask' .*refer to itself"):
        check_task_form_schema({"$ref": "#"}, "ask")
    with pytest.raises(WorkflowValidationError, match="returned list, not a dict"):
        check_task_form_schema([], "ask")
    assert server.requests == []
