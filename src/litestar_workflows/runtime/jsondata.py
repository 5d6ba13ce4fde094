"""JSON normalisation of context data: what a step stores must survive a database round trip."""

from __future__ import annotations

from typing import Any

import orjson

from litestar_workflows.core.errors import ContextSerializationError

_dumps = orjson.dumps
_loads = orjson.loads


_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_data(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON data (so a step's in-place edits never leak into the instance).

    Small dicts of scalars, the common case, get a shallow copy: their values are immutable.
    """
    if len(data) <= 8:
        for value in data.values():
            if type(value) not in _SCALARS:
                break
        else:
            return data.copy()
    result: dict[str, Any] = _loads(_dumps(data))
    return result


def normalize(value: Any, what: str) -> Any:
    """Return ``value`` as JSON types, or raise naming ``what`` is not serializable.

    Raises:
        ContextSerializationError: ``value`` (or something inside it) has no JSON form.
    """
    try:
        return _loads(_dumps(value))
    except TypeError as error:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ContextSerializationError(
                        f"{what} has a non-string key {key!r}; context data must be JSON"
                    ) from error
                normalize(item, f"{what}[{key!r}]")
        raise ContextSerializationError(
            f"{what} is not JSON-serializable ({type(value).__name__}): {error}"
        ) from error


def normalize_mapping(data: Any, what: str) -> dict[str, Any]:
    """Normalise a mapping of context data, naming the offending key on failure."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContextSerializationError(f"{what} must be a dict, not {type(data).__name__}")
    try:
        result: dict[str, Any] = _loads(_dumps(data))
    except TypeError:
        pass  # find the culprit below, for a message that names it
    else:
        return result
    for key, value in data.items():
        if not isinstance(key, str):
            raise ContextSerializationError(f"{what} has a non-string key {key!r}; context data must be JSON")
        try:
            _dumps(value)
        except TypeError as error:
            raise ContextSerializationError(
                f"{what} key {key!r} holds a value that is not JSON-serializable "
                f"({type(value).__name__}): {error}"
            ) from error
    raise ContextSerializationError(f"{what} is not JSON-serializable")


def dumps(value: Any) -> bytes:
    """Serialise JSON data (the fast path stores use)."""
    return _dumps(value)


__all__ = ("copy_data", "dumps", "normalize", "normalize_mapping")
