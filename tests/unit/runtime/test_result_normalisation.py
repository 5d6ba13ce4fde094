"""A step's result is stored as its JSON round trip; small flat dicts take a shortcut that must agree."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from litestar_workflows.core.errors import ContextSerializationError
from litestar_workflows.runtime.jsondata import normalize_result

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.text(st.characters(codec=None, categories=["Cs", "Lu"]), max_size=3),  # lone surrogates too
)
_flat = st.dictionaries(
    st.one_of(st.text(max_size=6), st.sampled_from(["\ud800", "k\udfff"])), _scalars, max_size=20
)


def _surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def _round_trip(value: Any) -> Any:
    """What the store would keep: the value through orjson, or the error it raises."""
    return orjson.loads(orjson.dumps(value))


@given(_flat)
def test_a_flat_result_is_kept_as_its_json_round_trip_or_refused(value: dict[str, Any]) -> None:
    try:
        kept = normalize_result(value, "step")
    except ContextSerializationError:
        refused = True
    else:
        refused = False
        assert kept == _round_trip(value)
        assert kept is not value  # a copy: the step may change its dict afterwards
        assert [type(item) for item in kept.values()] == [type(item) for item in _round_trip(value).values()]
    unstorable = any(
        (type(item) is float and item - item != 0.0)
        or (type(item) is str and "\x00" in item)
        or (type(item) is int and not -(2**63) <= item < 2**64)
        or "\x00" in key
        or any(_surrogate(text) for text in (key, item) if type(text) is str)
        for key, item in value.items()
    )
    assert refused == unstorable


@pytest.mark.parametrize(
    ("result", "named"),
    [
        ({"ratio": float("nan")}, "['ratio']"),
        ({"note": "a\x00b"}, "['note']"),
        ({"big": 2**64}, "result of step 'step'"),
        ({1: "x"}, "result of step 'step'"),
        ({"text": "\ud800"}, "result of step 'step'"),
        ({"\udc00": 1}, "result of step 'step'"),
    ],
)
def test_what_the_shortcut_cannot_keep_is_refused_by_name(result: dict[Any, Any], named: str) -> None:
    with pytest.raises(ContextSerializationError) as caught:
        normalize_result(result, "step")
    assert named in str(caught.value)


def test_subclasses_and_tuples_come_back_as_plain_json() -> None:
    class Label(str):
        pass

    kept = normalize_result({"label": Label("x"), "pair": (1, 2), "flag": True}, "step")
    assert kept == {"label": "x", "pair": [1, 2], "flag": True}
    assert type(kept["label"]) is str
