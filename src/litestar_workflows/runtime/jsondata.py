"""JSON normalisation of context data: what a step stores must survive a database round trip."""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING, Any, Final

import orjson

from litestar_workflows.core.errors import ContextSerializationError

if TYPE_CHECKING:
    from collections.abc import Callable

_dumps = orjson.dumps
_loads = orjson.loads


_SCALARS = frozenset({str, int, float, bool, type(None)})
_WATCHED_LIMIT = 64
"""Most keys of data that :func:`copy_data` still hands out as a :class:`WatchedData`."""

MAX_NESTING_DEPTH: Final = 64
"""How many levels of objects and arrays workflow data may nest, the outermost counting as one.

Deeper data is refused where it enters (initial data, task data, webhook payloads, step results):
real business data is far shallower, and recursive code (JSON encoders, schema validators,
templates) must never meet a thousand levels from a request body.
"""
_CONTAINERS = (dict, list, tuple)
_PATH_SHOWN = 4
"""Keys of a too-deep path named in the error before it is cut short."""


ABSENT: Final = object()
"""In :attr:`WatchedData.touched`: the key did not exist before the step set it."""


class WatchedData(dict[str, Any]):
    """A dict that knows what a step wrote to it, so that its changes need no full comparison.

    Handed to steps as their copy of flat context data (scalars only, so nothing can change
    without going through these methods). Item assignment, what ``context.set`` does, records
    each key's value before its first write in :attr:`touched`; the changes are then found among
    those keys alone. Any other write (``del``, ``pop``, ``update``...) first keeps the whole
    contents as they were before the step in :attr:`original`, and the changes are found by
    comparing with that. Nothing is copied up front, and the class has no ``__init__`` of its
    own, so making one costs what making a dict costs.
    """

    original: dict[str, Any] | None = None
    """The contents before the step's first write other than item assignment; ``None`` until one."""
    touched: dict[str, Any] | None = None
    """Keys set by item assignment, each with its value before the first such write (or ``ABSENT``)."""

    def before(self) -> dict[str, Any]:
        """The contents as the step was given them (``self`` itself while nothing was written)."""
        if self.original is not None:
            return self.original
        if self.touched is None:
            return self
        given = dict(self)
        for key, old in self.touched.items():
            if old is ABSENT:
                del given[key]
            else:
                given[key] = old
        return given

    def _before_write(self) -> None:
        if self.original is None:
            self.original = dict(self) if self.touched is None else self.before()

    def __setitem__(self, key: str, value: Any) -> None:
        if self.original is None:
            touched = self.touched
            if touched is None:
                touched = self.touched = {}
            if key not in touched:
                touched[key] = self.get(key, ABSENT)
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

    Dicts of scalars, the common case, get a shallow :class:`WatchedData` copy: their values
    are immutable, and the copy knows whether the step wrote to it. Checking their types costs
    less than the JSON round trip of a copy and a comparison of every key after the step.
    """
    if len(data) <= _WATCHED_LIMIT:
        for value in data.values():
            if type(value) not in _SCALARS:
                break
        else:
            return WatchedData(data)
    result: dict[str, Any] = _loads(_dumps(data))
    return result


def too_deep(value: Any, limit: int = MAX_NESTING_DEPTH) -> str | None:
    """Where ``value`` nests objects and arrays more than ``limit`` levels deep, or ``None``.

    The answer is a path such as ``['a'][0]['b']…`` (cut after a few keys). An explicit stack, not
    recursion, so any depth is safe to inspect; it stops at the first level past ``limit``, so a
    self-containing list ends too.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if not isinstance(item, _CONTAINERS):
            continue
        if depth > limit:
            return path or "the top level"
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(child, _CONTAINERS):
                if depth <= _PATH_SHOWN:
                    stack.append((child, depth + 1, f"{path}[{key!r}]"))
                else:
                    stack.append((child, depth + 1, path if path.endswith("…") else f"{path}…"))
    return None


def may_be_too_deep(raw: bytes, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Whether JSON text could nest deeper than ``limit``: it has more opening brackets than that.

    Counting bytes runs at C speed, so ordinary data never pays for :func:`too_deep`'s walk.
    """
    return len(raw) > limit and raw.count(b"[") + raw.count(b"{") > limit


def _loads_bounded(raw: bytes, what: str) -> Any:
    """Decode JSON text this module just encoded, refusing it when it nests too deeply."""
    value = _loads(raw)
    if may_be_too_deep(raw):
        where = too_deep(value)
        if where is not None:
            raise ContextSerializationError(_depth_message(what, where))
    return value


def _depth_message(what: str, where: str) -> str:
    return (
        f"{what} nests objects and arrays more than {MAX_NESTING_DEPTH} levels deep (at {where}); "
        f"workflow data may nest at most {MAX_NESTING_DEPTH} levels"
    )


def _first(value: Any, bad: Callable[[Any], bool], where: str = "") -> tuple[str, Any] | None:
    """The first key or value inside ``value`` that is ``bad``, with its path; ``None`` if none is.

    The path reads ``"['ratio'][1]"`` (``""`` for ``value`` itself), a key's ending in `` (the key)``.
    """
    if bad(value):
        return where, value
    if isinstance(value, dict):
        for key, item in value.items():
            if bad(key):
                return f"{where}[{key!r}] (the key)", key
            found = _first(item, bad, f"{where}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first(item, bad, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def _non_finite(value: Any) -> bool:
    """NaN or an infinity: orjson writes them as ``null``, so they would come back as ``None``."""
    return type(value) is float and not math.isfinite(value)


def _with_nul(value: Any) -> bool:
    """Text holding a NUL character (U+0000), which PostgreSQL keeps in no text or JSONB."""
    return type(value) is str and "\x00" in value


def _refuse_unstorable(raw: bytes, value: Any, what: str) -> None:
    """Raise when ``value`` (serialised as ``raw``) holds what a store cannot keep as it is.

    NaN and infinities: orjson writes them as ``null``, so they would come back as ``None``.
    NUL characters: PostgreSQL keeps none in text or JSONB, so the commit would fail, again on
    every attempt, and the instance could never move on. Each is looked for only when the JSON
    text has a ``null`` or an escaped NUL at all, so ordinary data pays two searches.

    Raises:
        ContextSerializationError: Naming where the value is.
    """
    if b"null" in raw and (found := _first(value, _non_finite)) is not None:
        where, number = found
        raise ContextSerializationError(
            f"{what}{where} is {number!r}, which has no JSON form (NaN and infinities would be "
            "stored as null); context data must be JSON"
        )
    if b"\\u0000" in raw and (found := _first(value, _with_nul)) is not None:
        raise ContextSerializationError(
            f"{what}{found[0]} contains a NUL character (\\x00), which databases cannot store; "
            "remove it from the text"
        )


_FLAT_LIMIT = 16
"""Most keys of a step result that :func:`normalize_result` copies without a JSON round trip."""
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
"""The integers JSON data may hold here: orjson refuses the ones outside, and so does the store."""


def _encodable(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (a lone surrogate has none, and JSON cannot carry it)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _flat_copy(value: dict[Any, Any]) -> dict[str, Any] | None:
    """A copy of a dict of plain scalars, exactly what the JSON round trip would give; else ``None``.

    Most steps return a few scalars under text keys. Checking their exact types costs a third of
    encoding and decoding them, and a shallow copy is then a deep one (the values are immutable).
    Anything the round trip would change or refuse (a subclass, a non-text key, NaN, a NUL
    character, a lone surrogate, an integer beyond 64 bits) answers ``None``, and the caller
    takes the full path.
    """
    for key, item in value.items():
        if type(key) is not str or "\x00" in key or not (key.isascii() or _encodable(key)):
            return None
        kind = type(item)
        if kind is str:
            if "\x00" in item or not (item.isascii() or _encodable(item)):
                return None
        elif kind is int:
            if not _INT64_MIN <= item <= _UINT64_MAX:
                return None
        elif kind is float:
            if item - item != 0.0:  # NaN and infinities (inf - inf is NaN)
                return None
        elif kind is not bool and item is not None:
            return None
    return dict(value)


def normalize_result(value: Any, step_name: str) -> Any:
    """:func:`normalize` for the result of step ``step_name``, which runs once per step.

    The text naming the result is built only when the result fails: formatting it on every
    step cost a third of normalising a small dict. A small dict of scalars, the usual result,
    is copied without the JSON round trip (:func:`_flat_copy`).

    Raises:
        ContextSerializationError: As :func:`normalize`.
    """
    if type(value) is dict and len(value) <= _FLAT_LIMIT:
        flat = _flat_copy(value)
        if flat is not None:
            return flat
    try:
        raw = _dumps(value)
    except TypeError:
        return normalize(value, f"the result of step {step_name!r}")  # raises, naming what is wrong
    if b"null" in raw or b"\\u0000" in raw:
        _refuse_unstorable(raw, value, f"the result of step {step_name!r}")
    decoded = _loads(raw)
    if len(raw) > MAX_NESTING_DEPTH and may_be_too_deep(raw):  # the length first: no call for short text
        where = too_deep(decoded)
        if where is not None:
            raise ContextSerializationError(_depth_message(f"the result of step {step_name!r}", where))
    return decoded


def normalize_written(changed: dict[str, Any], step_name: str) -> dict[str, Any]:
    """:func:`normalize_mapping` for the context keys step ``step_name`` set, with its text built lazily.

    Raises:
        ContextSerializationError: As :func:`normalize_mapping`.
    """
    try:
        raw = _dumps(changed)
    except TypeError:
        return normalize_mapping(changed, f"step {step_name!r} context")  # raises, naming the key
    if b"null" in raw or b"\\u0000" in raw:
        _refuse_unstorable(raw, changed, f"step {step_name!r} context")
    decoded: dict[str, Any] = _loads(raw)
    if may_be_too_deep(raw):
        where = too_deep(decoded)
        if where is not None:
            raise ContextSerializationError(_depth_message(f"step {step_name!r} context", where))
    return decoded


def normalize(value: Any, what: str) -> Any:
    """Return ``value`` as JSON types, or raise naming ``what`` is not serializable.

    Raises:
        ContextSerializationError: ``value`` (or something inside it) has no JSON form, or it
            nests deeper than :data:`MAX_NESTING_DEPTH`.
    """
    try:
        raw = _dumps(value)
    except TypeError as error:
        where = too_deep(value)  # orjson itself refuses past 254 levels: say what is wrong
        if where is not None:
            raise ContextSerializationError(_depth_message(what, where)) from error
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
    _refuse_unstorable(raw, value, what)
    return _loads_bounded(raw, what)


def normalize_mapping(data: Any, what: str) -> dict[str, Any]:
    """Normalise a mapping of context data, naming the offending key on failure.

    Raises:
        ContextSerializationError: ``data`` is not a dict, has no JSON form, or nests deeper than
            :data:`MAX_NESTING_DEPTH` (the dict itself is the first level).
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContextSerializationError(f"{what} must be a dict, not {type(data).__name__}")
    try:
        raw = _dumps(data)
    except TypeError:
        where = too_deep(data)  # find the culprit below, for a message that names it
        if where is not None:
            raise ContextSerializationError(_depth_message(what, where)) from None
    else:
        _refuse_unstorable(raw, data, what)
        result: dict[str, Any] = _loads_bounded(raw, what)
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


def check_text(value: str | None, what: str) -> None:
    """Refuse a text argument that holds a NUL character (an id, a reason): no database stores one.

    Raises:
        ContextSerializationError: Naming the argument.
    """
    if value is not None and "\x00" in value:
        raise ContextSerializationError(
            f"{what} contains a NUL character (\\x00), which databases cannot store: {value!r}"
        )


_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories of characters a person cannot see or type in a name: controls, format
characters (zero-width spaces, direction marks), line and paragraph separators."""


def check_user_id(value: str | None, what: str) -> None:
    """Refuse a user id given as input that nobody could sign in with or tell apart on screen.

    Blank, with spaces around it, or holding an invisible character: a task handed to
    ``"ada\u200b"`` shows as ada's, leaves every queue, and the real ada may not act on it.

    Raises:
        ContextSerializationError: Naming the argument and what is wrong.
    """
    if value is None:
        return
    if not value.strip() or value != value.strip():
        raise ContextSerializationError(f"{what} {value!r} is blank or has spaces around it: give a user id")
    hidden = next((char for char in value if unicodedata.category(char) in _INVISIBLE), None)
    if hidden is not None:
        raise ContextSerializationError(
            f"{what} {value!r} holds an invisible character (U+{ord(hidden):04X}): "
            "give a user id as people type it"
        )


def dumps(value: Any) -> bytes:
    """Serialise JSON data (the fast path stores use)."""
    return _dumps(value)


__all__ = (
    "MAX_NESTING_DEPTH",
    "WatchedData",
    "check_text",
    "check_user_id",
    "copy_data",
    "dumps",
    "may_be_too_deep",
    "normalize",
    "normalize_mapping",
    "normalize_result",
    "normalize_written",
    "too_deep",
)
