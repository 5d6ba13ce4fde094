"""Form fields from JSON Schema properties, and browser form text back into JSON values."""

from __future__ import annotations

from litestar_workflows.web.ui.schema_form import form_fields, form_schema_of, parse_form, parse_json_object

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 1},
        "ratio": {"type": ["number", "null"]},
        "level": {"enum": [1, 2, 3], "title": "Level of care"},
        "when": {"type": "string", "format": "date"},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ok": {"type": "boolean", "default": True},
        "story": {"type": "string", "format": "textarea"},
        "at": {"type": "string", "format": "date-time"},
    },
    "required": ["count"],
}


def test_field_kinds_labels_and_defaults() -> None:
    fields = {f.name: f for f in form_fields(SCHEMA)}
    assert [f.kind for f in fields.values()] == [
        "number",
        "number",
        "select",
        "date",
        "email",
        "json",
        "checkbox",
        "textarea",
        "text",
    ]
    assert fields["count"].attributes == {"step": "1", "min": "1"}
    assert fields["ratio"].attributes == {"step": "any"}
    assert fields["level"].label == "Level of care"
    assert fields["level"].options == [("1", "1"), ("2", "2"), ("3", "3")]
    assert fields["ok"].checked  # the schema's default
    assert fields["at"].attributes == {"placeholder": "2024-05-01T12:00:00Z"}  # RFC 3339, typed
    assert fields["count"].required and not fields["ratio"].required
    assert form_fields(None) == [] and form_fields({"type": "object"}) == []


def test_entered_values_are_shown_again() -> None:
    fields = {f.name: f for f in form_fields(SCHEMA, {"count": "x", "tags": ["a"], "ok": None})}
    assert fields["count"].value == "x"
    assert fields["tags"].value == '[\n  "a"\n]'


def test_text_becomes_the_types_the_schema_asks_for() -> None:
    data, problems = parse_form(
        SCHEMA,
        {
            "count": "3",
            "ratio": "0.5",
            "level": "2",
            "when": "2024-05-01",
            "tags": '["a", "b"]',
            "story": " x ",
            "csrf": "dropped",
            "email": "",
        },
    )
    assert problems == []
    assert data == {
        "count": 3,
        "ratio": 0.5,
        "level": 2,
        "when": "2024-05-01",
        "tags": ["a", "b"],
        "ok": False,
        "story": " x ",
    }
    assert isinstance(data["count"], int) and isinstance(data["level"], int)


def test_unreadable_text_is_reported_per_field() -> None:
    data, problems = parse_form(SCHEMA, {"count": "three", "tags": "[1,", "ok": "on"})
    assert {p.field for p in problems} == {"count", "tags"}
    assert data == {"ok": True}
    assert "not valid JSON" in next(p.message for p in problems if p.field == "tags")


def test_the_json_editor_wants_an_object() -> None:
    assert parse_json_object("  ") == ({}, [])
    assert parse_json_object('{"a": 1}') == ({"a": 1}, [])
    _, problems = parse_json_object("[]")
    assert problems[0].field == "input_data"
    _, problems = parse_json_object("{")
    assert "line 1" in problems[0].message


QUESTIONS = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "title": "Do you approve?"},
        "agreed": {"type": "boolean", "default": False},
        "urgent": {"type": "boolean"},
    },
    "required": ["approved", "agreed"],
}
"""Required booleans with and without a default, and an optional one."""


def test_a_required_boolean_is_a_yes_no_choice_made_by_nobody_but_the_user() -> None:
    fields = {f.name: f for f in form_fields(QUESTIONS)}
    approved = fields["approved"]
    assert (approved.kind, approved.label, approved.required) == ("radio", "Do you approve?", True)
    assert approved.options == [("true", "Yes"), ("false", "No")]
    assert approved.value == ""  # neither chosen
    assert (fields["agreed"].kind, fields["agreed"].value) == ("radio", "false")  # the schema's default
    assert fields["urgent"].kind == "checkbox" and not fields["urgent"].required
    # A refused form shows the choice that was sent; an unreadable one chooses nothing.
    again = {f.name: f.value for f in form_fields(QUESTIONS, {"approved": "true", "agreed": "maybe"})}
    assert (again["approved"], again["agreed"]) == ("true", "")


def test_a_required_boolean_without_a_choice_is_a_problem_not_false() -> None:
    data, problems = parse_form(QUESTIONS, {"agreed": "false"})
    assert [(p.field, p.message) for p in problems] == [("approved", "choose Yes or No")]
    assert "approved" not in data
    _, problems = parse_form(QUESTIONS, {"approved": "perhaps", "agreed": ""})
    assert {p.field for p in problems} == {"approved", "agreed"}


def test_the_yes_and_no_radios_read_as_json_booleans() -> None:
    assert parse_form(QUESTIONS, {"approved": "true", "agreed": "false"}) == (
        {"approved": True, "agreed": False, "urgent": False},
        [],
    )
    assert parse_form(QUESTIONS, {"approved": "no", "agreed": "yes", "urgent": "on"}) == (
        {"approved": False, "agreed": True, "urgent": True},
        [],
    )
    # What a client posting the form itself may send: read in any case.
    assert parse_form(QUESTIONS, {"approved": "TRUE", "agreed": " False ", "urgent": "Yes"}) == (
        {"approved": True, "agreed": False, "urgent": True},
        [],
    )


def test_an_optional_checkbox_sent_something_else_is_a_problem_not_false() -> None:
    data, problems = parse_form(QUESTIONS, {"approved": "true", "agreed": "true", "urgent": "maybe"})
    assert [(p.field, p.message) for p in problems] == [
        ("urgent", "'maybe' is neither checked nor unchecked")
    ]
    assert "urgent" not in data
    assert parse_form(QUESTIONS, {"approved": "true", "agreed": "true", "urgent": ""})[0]["urgent"] is False


PYDANTIC_STYLE = {
    "$defs": {
        "Address": {"type": "object", "properties": {"city": {"type": "string"}}, "title": "Address"},
        "Level": {"enum": ["low", "high"], "title": "Level", "type": "string"},
        "Claim": {
            "type": "object",
            "properties": {
                "count": {
                    "anyOf": [{"type": "integer"}, {"type": "null"}],
                    "default": None,
                    "title": "Count",
                },
                "address": {"$ref": "#/$defs/Address", "description": "Where to send it"},
                "level": {"allOf": [{"$ref": "#/$defs/Level"}], "default": "low"},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "loop": {"$ref": "#/$defs/Loop"},
                "remote": {"$ref": "https://example.com/schema.json", "title": "Remote"},
            },
            "required": ["address", "level"],
        },
        "Loop": {"$ref": "#/$defs/Loop"},
    },
    "$ref": "#/$defs/Claim",
}


def test_refs_optional_unions_and_single_all_of_become_the_inputs_they_wrap() -> None:
    """What pydantic writes for a model (a $ref to $defs, Optional, nested models, enums) gets real inputs."""
    fields = {f.name: f for f in form_fields(PYDANTIC_STYLE)}
    assert {name: (f.kind, f.required) for name, f in fields.items()} == {
        "count": ("number", False),
        "address": ("json", True),
        "level": ("select", True),
        "either": ("text", False),  # a real choice of types stays text, for the schema to judge
        "loop": ("text", False),  # a cycle of references ends
        "remote": ("text", False),  # nothing is fetched
    }
    assert fields["address"].description == "Where to send it"
    assert fields["level"].options == [("low", "low"), ("high", "high")]
    assert fields["level"].value == "low"
    data, problems = parse_form(
        PYDANTIC_STYLE, {"count": "5", "address": '{"city": "Oslo"}', "level": "high"}
    )
    assert (data, problems) == ({"count": 5, "address": {"city": "Oslo"}, "level": "high"}, [])


def test_a_schema_without_properties_asks_for_json() -> None:
    assert form_schema_of({"type": "object", "additionalProperties": {"type": "integer"}}) is None
    assert form_schema_of({"$ref": "#/$defs/Missing"}) is None
    assert form_fields({"type": "object", "additionalProperties": True}) == []
    data, problems = parse_json_object('{"a": 1}', "_task_data")
    assert (data, problems) == ({"a": 1}, [])
    _, [problem] = parse_json_object("[1]", "_task_data")
    assert problem.field == "_task_data"


def test_json_a_field_cannot_hold_is_that_fields_problem() -> None:
    schema = {"type": "object", "properties": {"address": {"type": "object"}, "tags": {"type": "array"}}}
    for text in ('{"n": NaN}', '{"n": Infinity}', '{"n": 1e400}', '{"n": 123456789012345678901234567890}'):
        data, [problem] = parse_form(schema, {"address": text})
        assert (data, problem.field) == ({}, "address"), text
    _, [deep] = parse_form(schema, {"tags": "[" * 70 + "]" * 70})
    assert deep.field == "tags" and "64 levels" in deep.message
    assert parse_form(schema, {"address": '{"n": 1.5}'}) == ({"address": {"n": 1.5}}, [])


def test_a_number_too_small_for_a_float_is_refused_not_stored_as_zero() -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer"}, "ratio": {"type": "number"}}}
    for name in ("count", "ratio"):
        data, [problem] = parse_form(schema, {name: "1e-999999999"})
        assert (data, problem.field) == ({}, name)
        assert "too small" in problem.message
    assert parse_form(schema, {"ratio": "0.0"}) == ({"ratio": 0.0}, [])


def test_a_tiny_number_inside_json_is_refused_too() -> None:
    schema = {"type": "object", "properties": {"obj": {"type": "object"}}}
    _, [problem] = parse_form(schema, {"obj": '{"n": 1e-400}'})
    assert problem.field == "obj" and "too small" in problem.message
    _, [editor] = parse_json_object('{"n": [1e-999]}')
    assert editor.field == "input_data" and "too small" in editor.message
    assert parse_json_object('{"n": 0.0, "m": 1.5e-300}') == ({"n": 0.0, "m": 1.5e-300}, [])
