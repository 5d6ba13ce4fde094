"""Checking data against a form schema stays bounded whatever the data, with the same answers.

A QA pass froze a server for 11.8 s with an 85 KB request: an array under ``uniqueItems`` whose
items mixed numbers and text, which jsonschema compares pairwise. A megabyte of wrongly typed
items made a 15.8 MB answer listing every item.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import jsonschema
import jsonschema._utils
import pytest

from litestar_workflows.core.forms import MAX_PROBLEMS, data_problems

UNIQUE = {"type": "array", "uniqueItems": True}

CASES: list[tuple[list[Any], bool]] = [
    ([1, 1.0], False),
    ([True, 1], True),
    ([False, 0], True),
    ([None, False], True),
    ([None, None], False),
    (["1", 1], True),
    ([1.5, 1.5], False),
    ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),
    ([{"a": 1}, {"a": 1.0}], False),
    ([{"a": True}, {"a": 1}], True),
    ([[1, 2], [1, 2]], False),
    ([[1, 2], [2, 1]], True),
    ([[True], [1]], True),
    ([[], {}], True),
    ([{"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}], False),
    (["x", "y", "x"], False),
    ([], True),
    # Data handed over from Python code, not JSON: equal as Python says, as jsonschema has it.
    ([date(2024, 1, 1), date(2024, 1, 1)], False),
    ([date(2024, 1, 1), date(2024, 1, 2)], True),
    ([[1, 2], (1, 2)], False),
    ([UUID(int=7), UUID(int=7)], False),
]


@pytest.mark.parametrize(("items", "unique"), CASES)
def test_unique_items_answers_as_jsonschema_does(items: list[Any], unique: bool) -> None:
    reference = jsonschema.Draft202012Validator(UNIQUE).is_valid(items)
    assert reference is unique  # the case itself is right
    problems = data_problems(UNIQUE, items, "form")
    assert (problems == []) is unique
    if not unique:
        assert problems[0][1].startswith("has non-unique elements (item ")


def test_unique_items_never_compares_items_pairwise(monkeypatch: pytest.MonkeyPatch) -> None:
    def pairwise(*_args: Any) -> bool:
        raise AssertionError("jsonschema's pairwise uniq() was used")

    monkeypatch.setattr(jsonschema._utils, "uniq", pairwise)
    schema = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    mixed = [i if i % 2 else str(i) for i in range(20_000)] + [{"k": [1, 2]}, {"k": [1.0, 2]}]
    assert data_problems(schema, {"tags": mixed}, "form") == [
        ("tags", "has non-unique elements (item 20001 repeats an earlier one)")
    ]


def test_problems_are_capped_and_say_there_are_more() -> None:
    schema = {"type": "object", "properties": {"counts": {"type": "array", "items": {"type": "integer"}}}}
    problems = data_problems(schema, {"counts": ["x" * 5_000] * 50_000}, "form")
    assert len(problems) == MAX_PROBLEMS + 1
    assert [field for field, _ in problems[:MAX_PROBLEMS]] == [f"counts/{i}" for i in range(MAX_PROBLEMS)]
    assert problems[-1] == (
        "(root)",
        f"more problems than these {MAX_PROBLEMS}; correct them and submit again",
    )
    # A message quoting a long value is cut, not the value sent back whole.
    long_value = ["y" * 1_000] * 1_000
    [(field, message)] = data_problems({"type": "array", "maxItems": 2}, long_value, "form")
    assert (field, len(message), message[-1]) == ("(root)", 4_000, "…")


def test_a_few_problems_are_all_listed_in_field_order() -> None:
    schema = {
        "type": "object",
        "properties": {"b": {"type": "integer"}, "a": {"type": "string"}},
        "required": ["c"],
    }
    assert data_problems(schema, {"a": 1, "b": "x"}, "form") == [
        ("c", "'c' is a required property"),
        ("a", "1 is not of type 'string'"),
        ("b", "'x' is not of type 'integer'"),
    ]
