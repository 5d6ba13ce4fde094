"""HTML form fields from a JSON Schema, and the submitted form back into JSON data.

The schema's top-level ``properties`` become the fields, each named after its property:
booleans a checkbox (a Yes/No pair of radio buttons when ``required``), ``enum`` a select, numbers
a number input with ``minimum``/``maximum``, strings a text input (a textarea when long:
``maxLength`` above 200 or ``format: textarea``), arrays and objects a JSON textarea. What the
browser sends is text; :func:`parse_form` turns it into the JSON types the schema asks for, so the
engine's own validation (``core/forms.py``) judges the same data an API client would send.
Nothing here decides whether the data is valid beyond "this text is not a number" (or not one
workflow data can hold, or JSON too deep or too long to read): that is the engine's job, and its
messages name the fields.

A required boolean is a question that must be answered. As a checkbox, leaving it unticked sends
``false``: "Complete task" without a look rejected an expense claim. So it is two radio buttons,
neither chosen unless the schema has a ``default``, and a submission choosing neither is refused
here (the engine could not tell it from an explicit ``false``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import unquote

from litestar_workflows.core.errors import ContextSerializationError
from litestar_workflows.runtime.jsondata import MAX_NESTING_DEPTH, normalize

__all__ = (
    "TASK_JSON_FIELD",
    "FormField",
    "FormProblem",
    "form_fields",
    "form_schema_of",
    "parse_form",
    "parse_json_object",
)

LONG_TEXT: Final = 200
"""Strings allowed to be longer than this get a textarea."""
YES_NO: Final = [("true", "Yes"), ("false", "No")]
"""The radio buttons of a required boolean: ``(value, label)``, the values a checkbox's reading knows."""
TRUE_TEXTS: Final = frozenset({"true", "on", "1", "yes"})
"""Submitted texts read as ``true`` (a checkbox's ``on``/``true``, the Yes radio's ``true``)."""
FALSE_TEXTS: Final = frozenset({"false", "off", "0", "no"})
"""Submitted texts that answer a required boolean with ``false`` (the No radio sends ``false``)."""
UNANSWERED: Final = "choose Yes or No"
"""The problem of a required boolean submitted without a choice."""
MIN_INTEGER: Final = -(2**63)
MAX_INTEGER: Final = 2**64 - 1
"""The whole numbers workflow data can hold (it is stored as JSON with 64-bit integers). A number
field's whole number outside them is refused here, naming the field; the engine would refuse it too,
but not as a problem of the field."""
TOO_DEEP: Final = (
    f"nests objects and arrays too deeply (workflow data may nest at most {MAX_NESTING_DEPTH} levels)"
)
"""The problem of JSON nested deeper than the parser goes (thousands of levels)."""
TASK_JSON_FIELD: Final = "_task_data"
"""The task form's JSON editor, for a form schema without properties (named apart from any field)."""
SHOWN_TEXT: Final = 40
"""Longest submitted text repeated in a problem's message (a longer one is cut, with an ellipsis)."""


@dataclass(slots=True)
class FormField:
    """One input of a rendered form."""

    name: str
    kind: str
    """``checkbox``, ``radio``, ``select``, ``number``, ``text``, ``textarea``, ``json``, ``date``..."""
    label: str
    required: bool = False
    description: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    """``(value, label)`` of a select's options or of the radio buttons."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Extra input attributes: ``min``, ``max``, ``step``, ``maxlength``, ``minlength``, ``pattern``."""
    value: str = ""
    """What the input shows (a failed submission's entry, or the schema's default)."""
    checked: bool = False


@dataclass(slots=True)
class FormProblem:
    """A submitted value that cannot even be read as its type (before the schema's validation)."""

    field: str
    message: str


_TEXT_FORMATS: Final = {"date": "date", "email": "email", "uri": "url"}
"""Input types for string formats. ``date-time`` stays a text input: a browser's ``datetime-local``
sends neither seconds nor a zone, which is not the RFC 3339 time the schema means."""


def _label(name: str, schema: Mapping[str, Any]) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title.strip():
        return title
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return kind if isinstance(kind, str) else "string"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2)
    return str(value)


def _field(name: str, schema: Mapping[str, Any], required: bool, value: Any) -> FormField:
    kind = _type_of(schema)
    description = schema.get("description")
    entry = FormField(
        name=name,
        kind="text",
        label=_label(name, schema),
        required=required,
        description=description if isinstance(description, str) else "",
    )
    if value is None:
        value = schema.get("default")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        entry.kind = "select"
        entry.options = [(_shown(option), _shown(option)) for option in enum]
    elif kind == "boolean" and required:
        entry.kind = "radio"
        entry.options = list(YES_NO)
        entry.value = _answer(value)
        return entry
    elif kind == "boolean":
        entry.kind = "checkbox"
        entry.checked = _answer(value) == "true"
        return entry
    elif kind in {"number", "integer"}:
        entry.kind = "number"
        entry.attributes["step"] = "1" if kind == "integer" else "any"
        for keyword, attribute in (("minimum", "min"), ("maximum", "max")):
            if isinstance(schema.get(keyword), int | float):
                entry.attributes[attribute] = _shown(schema[keyword])
    elif kind in {"array", "object"}:
        entry.kind = "json"
    else:
        _text_field(entry, schema)
    entry.value = _shown(value)
    return entry


def _answer(value: Any) -> str:
    """The radio button ``value`` chooses: ``true``, ``false``, or none (``""``) for anything else.

    Texts are read in any case (``True``, ``NO``): a client that posts the form itself may send them.
    """
    text = value.strip().lower() if isinstance(value, str) else None
    if value is True or text in TRUE_TEXTS:
        return "true"
    if value is False or text in FALSE_TEXTS:
        return "false"
    return ""


def _text_field(entry: FormField, schema: Mapping[str, Any]) -> None:
    text_format = schema.get("format")
    max_length = schema.get("maxLength")
    if text_format == "textarea" or (isinstance(max_length, int) and max_length > LONG_TEXT):
        entry.kind = "textarea"
    elif isinstance(text_format, str) and text_format in _TEXT_FORMATS:
        entry.kind = _TEXT_FORMATS[text_format]
    elif text_format == "date-time":
        entry.attributes["placeholder"] = "2024-05-01T12:00:00Z"
    if isinstance(max_length, int):
        entry.attributes["maxlength"] = str(max_length)
    if isinstance(schema.get("minLength"), int):
        entry.attributes["minlength"] = str(schema["minLength"])


_FOLLOWED_REFS: Final = 16
"""Most ``$ref``/wrapper steps followed for one property (a cycle of references ends there)."""


def _pointed(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    """The part of ``root`` a local reference (``#/$defs/Address``) points at, if it is an object."""
    if not ref.startswith("#"):
        return None  # a remote schema: this form does not fetch anything
    target: Any = root
    for token in ref[1:].split("/")[1:]:
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(target, Mapping) and key in target:
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            return None
    return target if isinstance(target, Mapping) else None


def _resolved(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with what pydantic and hand-written schemas wrap a field in taken off.

    A local ``$ref`` is followed (the keywords beside it, a title or description, are kept), an
    ``allOf`` of one schema is that schema, and an ``anyOf``/``oneOf`` of one schema and ``null``
    (an optional field) is that schema. Anything else stays as it is. Only the form's inputs are
    chosen from this; the engine validates the data against the schema as written.
    """
    for _ in range(_FOLLOWED_REFS):
        ref = schema.get("$ref")
        rest = {key: value for key, value in schema.items() if key not in {"$ref", "allOf", "anyOf", "oneOf"}}
        if isinstance(ref, str):
            target = _pointed(root, ref)
            if target is None:
                return rest
            schema = {**target, **rest}
            continue
        inner: Any = None
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            inner = all_of[0]
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if isinstance(options, list):
                kept = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
                if len(kept) == 1 and len(options) == 2:
                    inner = kept[0]
        if not isinstance(inner, Mapping):
            return schema
        schema = {**inner, **rest}
    return schema


def form_schema_of(schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The object schema whose properties become the form's inputs, or ``None`` when it has none.

    ``None`` means the form asks for the data as a JSON object instead (a schema of
    ``additionalProperties`` only, say). The schema itself may be a ``$ref`` (a pydantic model's
    schema with its ``$defs``); each property is resolved as :func:`_resolved` says.
    """
    if not schema:
        return None
    top = _resolved(schema, schema)
    properties = top.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return None
    required = top.get("required")
    return {
        "properties": {
            name: _resolved(sub, schema) if isinstance(sub, Mapping) else {}
            for name, sub in properties.items()
        },
        "required": list(required) if isinstance(required, list) else [],
    }


def form_fields(schema: Mapping[str, Any] | None, values: Mapping[str, Any] | None = None) -> list[FormField]:
    """The inputs of the form for ``schema``, showing ``values`` (a failed submission's entries)."""
    schema = form_schema_of(schema)
    if schema is None:
        return []
    properties = schema["properties"]
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    given = values or {}
    return [
        _field(name, sub if isinstance(sub, dict) else {}, name in needed, given.get(name))
        for name, sub in properties.items()
    ]


def _quoted(text: str) -> str:
    """``text`` quoted for a problem's message, cut after :data:`SHOWN_TEXT` characters."""
    return repr(text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…")


def _number(text: str, kind: str) -> int | float:
    """``text`` as a number: a whole number exactly as typed, else a float.

    Read as a decimal, never through a float, so ``9007199254740993`` stays itself and no size of
    number overflows. An ``integer`` field takes any whole number (``12``, ``12.0``, ``1e3``); its
    fractions go on as floats, for the schema to refuse by name. A ``number`` field keeps text
    without a point or exponent as an integer, and anything else as a float.

    Raises:
        ValueError: ``text`` is not a number, or one workflow data cannot hold (an infinity, a
            float beyond the largest, a whole number outside ``MIN_INTEGER``..``MAX_INTEGER``).
    """
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{_quoted(text)} is not a number") from None
    if number.is_nan():
        raise ValueError(f"{_quoted(text)} is not a number")
    if number.is_infinite():
        raise ValueError(f"{_quoted(text)} is not a finite number")
    whole = number == number.to_integral_value()
    if whole and (kind == "integer" or not any(mark in text.lower() for mark in ".e")):
        if MIN_INTEGER <= number <= MAX_INTEGER:
            return int(number)
        if kind == "integer":
            raise ValueError(
                f"{_quoted(text)} is out of range: whole numbers here go from {MIN_INTEGER} to {MAX_INTEGER}"
            )
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{_quoted(text)} is out of range: too large a number")
    if value == 0.0 and number != 0:  # 1e-999: no float holds it, and 0.0 would pass for a whole number
        raise ValueError(f"{_quoted(text)} is out of range: too small a number (it would be stored as 0)")
    return value


def _json(text: str) -> Any:
    """``text`` read as JSON.

    Raises:
        json.JSONDecodeError: It is not JSON.
        ValueError: JSON this form cannot read: nested too deeply for the parser (far deeper than
            workflow data may nest), or with an integer longer than Python reads from text.
    """
    try:
        return json.loads(text, parse_float=_float)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    except _TooSmallError:
        raise
    except ValueError:  # an integer literal past sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"holds a number with too many digits (at most {limit})") from None


class _TooSmallError(ValueError):
    """A number in JSON text that no float holds but zero, which it is not."""


def _float(text: str) -> float:
    """A JSON number with a point or exponent; one too small for a float is refused, not read as 0."""
    value = float(text)
    if value == 0.0 and Decimal(text) != 0:
        raise _TooSmallError(f"holds {_quoted(text)}, too small a number (it would be stored as 0)")
    return value


def _enum_value(text: str, enum: list[Any]) -> Any:
    return next((option for option in enum if _shown(option) == text), text)


def _value(name: str, schema: Mapping[str, Any], text: str) -> Any:
    """``text`` as the JSON value the property's schema asks for.

    Raises:
        ValueError: ``text`` cannot be read as that type.
    """
    kind = _type_of(schema)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _enum_value(text, enum)
    if kind in {"number", "integer"}:
        return _number(text, kind)
    if kind in {"array", "object"}:
        try:
            value = _json(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON ({error.msg}, line {error.lineno})") from None
        try:  # what workflow data cannot hold (NaN, infinities, huge integers, deep nesting): this field's
            return normalize(value, "the value")
        except ContextSerializationError as error:
            raise ValueError(error.detail) from None
    return text


def parse_form(
    schema: Mapping[str, Any] | None, form: Mapping[str, str]
) -> tuple[dict[str, Any], list[FormProblem]]:
    """The submitted ``form`` as JSON data for ``schema``, and the values that could not be read.

    Empty inputs are left out (the schema's ``required`` names them if they were needed), except
    booleans: an optional one is a checkbox, and unchecked is ``false``; a required one is a Yes/No
    choice, and no choice is a problem (``choose Yes or No``), never ``false``. Fields the schema does
    not declare are ignored, so the CSRF token and the submit button never reach the workflow.
    """
    schema = form_schema_of(schema)
    if schema is None:
        return {}, []
    properties = schema["properties"]
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    data: dict[str, Any] = {}
    problems: list[FormProblem] = []
    for name, sub in properties.items():
        sub_schema = sub if isinstance(sub, dict) else {}
        if _type_of(sub_schema) == "boolean" and not sub_schema.get("enum"):
            submitted = form.get(name)
            if answer := _answer(submitted):
                data[name] = answer == "true"
            elif name in needed:
                problems.append(FormProblem(name, UNANSWERED))
            elif submitted is None or not submitted.strip():
                data[name] = False  # an unchecked checkbox sends nothing
            else:  # not what a checkbox sends: a guess either way would be stored as the user's answer
                shown = submitted.strip()[:40]
                problems.append(FormProblem(name, f"{shown!r} is neither checked nor unchecked"))
            continue
        text = form.get(name)
        if text is None or not text.strip():
            continue
        try:
            data[name] = _value(name, sub_schema, text.strip() if _type_of(sub_schema) != "string" else text)
        except ValueError as error:
            problems.append(FormProblem(name, str(error)))
    return data, problems


def parse_json_object(text: str, name: str = "input_data") -> tuple[dict[str, Any], list[FormProblem]]:
    """The JSON editor's text as an object (empty text is ``{}``), or the problem with it.

    ``name`` is the editor's field, which a problem names.
    """
    if not text.strip():
        return {}, []
    try:
        value = _json(text)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        return {}, [FormProblem(name, message)]
    except ValueError as error:
        return {}, [FormProblem(name, str(error))]
    if not isinstance(value, dict):
        return {}, [FormProblem(name, 'must be a JSON object such as {"amount": 250}')]
    return value, []
