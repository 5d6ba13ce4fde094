"""JSON normalisation of context data: what a step stores must survive a database round trip."""

from __future__ import annotations

from typing import Any

import orjson

from litestar_workflows.core.errors import ContextSerializationError

_dumps = orjson.dumps
_loads = orjson.loads


_SCALARS = frozenset({str, int, float, bool, type(None)})


class WatchedData(dict[str, Any]):
    """A dict that keeps its contents as they were before the first write (``original``).

    Handed to steps as their copy of flat context data (scalars only, so nothing can change
    without going through these methods): a step that wrote nothing needs no comparison, and
    one that did is compared with ``original``. Nothing is copied up front, and the class has
    no ``__init__`` of its own, so making one costs what making a dict costs.
    """

    original: dict[str, Any] | None = None
    """The contents before the first write; ``None`` while nothing was written."""

    def _before_write(self) -> None:
        if self.original is None:
            self.original = dict(self)

    def __setitem__(self, key: str, value: Any) -> None:
        if self.original is None:
            self.original = dict(self)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._before_write()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> WatchedData:  # type: ignore[override,misc]
        self._before_write()
        super().__ior__(other)
        return self

    def pop(self, *args: Any) -> Any:  # noqa: D102
        self._before_write()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:  # noqa: D102
        self._before_write()
        return super().popitem()

    def clear(self) -> None:  # noqa: D102
        self._before_write()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._before_write()
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:  # noqa: D102
        self._before_write()
        return super().setdefault(key, default)


def copy_data(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON data (so a step's in-place edits never leak into the instance).

    Small dicts of scalars, the common case, get a shallow :class:`WatchedData` copy: their
    values are immutable, and the copy knows whether the step wrote to it.
    """
    if len(data) <= 8:
        for value in data.values():
            if type(value) not in _SCALARS:
                break
        else:
            return WatchedData(data)
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


__all__ = ("WatchedData", "copy_data", "dumps", "normalize", "normalize_mapping")
