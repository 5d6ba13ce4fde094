"""The data a running workflow carries: its context and the record of each step execution."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn, SupportsIndex, overload
from uuid import UUID, SafeUUID, uuid4

import orjson

from litestar_workflows.core.types import StepStatus, StepType

_ABSENT: Any = object()
_UNFINISHED = frozenset({StepStatus.PENDING, StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING})

utcnow = partial(datetime.now, UTC)
"""Return the current time, timezone-aware in UTC (the clock engines use by default).

A ``partial`` rather than a function: it is called several times per transition and a C-level
call is measurably cheaper.
"""


@dataclass(slots=True, eq=False)
class StepExecution:
    """One execution of one step of one instance: a row of the instance's history.

    The first eight fields are the documented ones; the rest is what the engine needs to run the
    step exactly once per attempt (``id`` and ``attempt`` make an idempotency key) and to resume it
    after a restart (``scheduled_for`` for timers and retry back-off).
    """

    step_name: str
    status: StepStatus
    result: Any = None
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_data: dict[str, Any] | None = None
    output_data: dict[str, Any] | None = None
    id: UUID | None = None
    step_type: StepType = StepType.MACHINE
    attempt: int = 1
    iteration: int = 0
    scheduled_for: datetime | None = None
    assigned_to: str | None = None
    completed_by: str | None = None
    context_changes: dict[str, Any] | None = None
    """What the step changed in the context: ``{"set": {...}, "deleted": [...]}``."""
    error_type: str | None = None
    """Class of the exception a failed (or retried) attempt raised, e.g. ``"ConnectionError"``."""
    stack_trace: str | None = None
    """Its traceback: the innermost frames, at most 8 KB, without local variables."""


_PLAIN_WIDTH = 14
"""Fields of an execution packed into the plain tuple (text, numbers, datetimes)."""
_STATUS_OF_TEXT: dict[str, StepStatus] = {member.value: member for member in StepStatus}
_TYPE_OF_TEXT: dict[str, StepType] = {member.value: member for member in StepType}
_new_uuid = object.__new__
_set_attribute = object.__setattr__

PackedHistory = tuple[tuple[Any, ...], str]
"""An instance's executions as one tuple of plain values and one JSON text (:func:`pack_history`)."""


def pack_history(history: list[StepExecution]) -> PackedHistory | None:
    """``history`` in a form the cyclic garbage collector does not see; ``None`` if it cannot be.

    Each execution object, its UUID and its enums are objects the collector walks in every full
    collection, and so are the results and inputs they hold: a process keeping a hundred thousand
    finished instances paid seconds for it. Packed, the plain fields of all executions are one
    tuple of text, numbers and datetimes (the collector stops tracking it after its first pass),
    and the fields that hold JSON (result, input and output data, context changes) are one JSON
    text. They are JSON already: the engine normalises results, writes and task data before it
    records them, so the text gives back equal values. :func:`unpack_history` makes the
    executions again, equal field by field.

    ``None`` for a history no engine made (an execution without an id, a status given as text,
    a value JSON cannot hold): it is left as it is.
    """
    plain: list[Any] = []
    values: list[Any] = []
    add_plain, add_values = plain.extend, values.extend
    try:
        for run in history:
            add_plain(
                (
                    run.step_name,
                    run.status._value_,
                    run.error,
                    run.started_at,
                    run.completed_at,
                    run.id.int,  # type: ignore[union-attr]
                    run.step_type._value_,
                    run.attempt,
                    run.iteration,
                    run.scheduled_for,
                    run.assigned_to,
                    run.completed_by,
                    run.error_type,
                    run.stack_trace,
                )
            )
            add_values((run.result, run.input_data, run.output_data, run.context_changes))
        # As text, a copy of its exact size: orjson hands back a buffer sized for larger output.
        text = orjson.dumps(values).decode()
    except (AttributeError, TypeError):
        return None
    return tuple(plain), text


def unpack_history(packed: PackedHistory) -> list[StepExecution]:
    """New execution objects for what :func:`pack_history` packed, in the same order."""
    plain, text = packed
    # zip() over one iterator repeated: the flat sequences read back in rows of their widths.
    rows = zip(*[iter(plain)] * _PLAIN_WIDTH, strict=True)
    values = orjson.loads(text)
    held = zip(*[iter(values)] * 4, strict=True)
    history = []
    for row, (result, given, output, changes) in zip(rows, held, strict=True):
        (
            name,
            status,
            error,
            started,
            completed,
            number,
            kind,
            attempt,
            iteration,
            scheduled,
            assigned,
            completed_by,
            error_type,
            trace,
        ) = row
        uid: UUID = _new_uuid(UUID)
        _set_attribute(uid, "int", number)
        _set_attribute(uid, "is_safe", SafeUUID.unknown)
        history.append(
            StepExecution(
                name,
                _STATUS_OF_TEXT[status],
                result,
                error,
                started,
                completed,
                given,
                output,
                uid,
                _TYPE_OF_TEXT[kind],
                attempt,
                iteration,
                scheduled,
                assigned,
                completed_by,
                changes,
                error_type,
                trace,
            )
        )
    return history


class ReadOnlyMetadata(dict[str, Any]):
    """What a step sees of the instance's ``metadata``: a dict that refuses every write.

    A real ``dict`` (a shallow copy made once per instance, not per step: metadata is set when
    the instance starts), so that ``json.dumps``, ``isinstance(..., dict)`` and HTTP clients take
    it as they took the metadata; any write raises ``TypeError``. Metadata is the caller's and the
    engine's (correlation ids, the trace context), so a step cannot change it: what a step wants
    to keep goes into the data. ``copy()`` and ``copy.deepcopy`` give plain, writable dicts.
    """

    __slots__ = ("_source",)

    def __init__(self, data: dict[str, Any]) -> None:
        dict.update(self, data)
        self._source = data
        """The instance's own dict this was copied from (the runner makes a new view when it changes)."""

    def copy(self) -> dict[str, Any]:
        """A plain dict with the same contents, for a step to change as it likes."""
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))  # copies and pickles are plain dicts

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "a step cannot change the instance's metadata (it is read-only in a step); "
            "store what the step produces in the context data: context.set(key, value)"
        )

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


class ReadOnlyHistory(Sequence["StepExecution"]):
    """What a step sees of the instance's ``step_history``: a read-only view of the engine's list.

    Indexing, slicing (a new list), ``len``, iteration and ``reversed`` work as on the list; any
    change raises ``TypeError``. No copy is made, so a step of a long instance costs no more
    than one of a short one. The engine records each step execution itself.
    """

    __slots__ = ("_indexed", "_items", "_latest")

    def __init__(self, items: list[StepExecution]) -> None:
        self._items = items
        self._latest: dict[str, StepExecution] | None = None
        self._indexed = 0

    def latest_of(self, step_name: str) -> StepExecution | None:
        """The most recent execution of ``step_name``, whatever its status, or ``None``.

        Kept in an index that grows with the history (the engine only appends to it), so that a
        step reading ``context.get("<step>.<field>")`` on every round of a long loop pays for the
        new entries only, not for the whole history each time.
        """
        latest = self._latest
        if latest is None:
            latest = self._latest = {}
        items = self._items
        if self._indexed < len(items):
            for run in items[self._indexed :]:
                latest[run.step_name] = run
            self._indexed = len(items)
        return latest.get(step_name)

    @overload
    def __getitem__(self, index: int) -> StepExecution: ...

    @overload
    def __getitem__(self, index: slice) -> list[StepExecution]: ...

    def __getitem__(self, index: int | slice) -> StepExecution | list[StepExecution]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[StepExecution]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[StepExecution]:
        return reversed(self._items)

    def __contains__(self, value: object) -> bool:
        return value in self._items

    def index(self, value: Any, start: int = 0, stop: int = sys.maxsize) -> int:  # noqa: D102
        return self._items.index(value, start, stop)

    def count(self, value: Any) -> int:  # noqa: D102
        return self._items.count(value)

    def __eq__(self, other: object) -> bool:
        return self._items == (other._items if isinstance(other, ReadOnlyHistory) else other)

    def __add__(self, other: list[StepExecution]) -> list[StepExecution]:
        return [*self._items, *other]

    def __radd__(self, other: list[StepExecution]) -> list[StepExecution]:
        return [*other, *self._items]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._items)

    def copy(self) -> list[StepExecution]:
        """A plain list of the same executions."""
        return list(self._items)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "a step cannot change the instance's step_history (it is read-only in a step); "
            "the engine records each step execution itself"
        )

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse


@dataclass(slots=True, eq=False)
class WorkflowContext:
    """What a step sees of its workflow: the instance data plus who, where and what ran before.

    Steps read and write :attr:`data` (through :meth:`get` / :meth:`set` or directly). Each step
    gets its own copy of the data; what it changed is applied to the instance when its completion
    is committed, so a failing step never leaves half its writes behind.

    In the context an engine hands to a step, :attr:`metadata` and :attr:`step_history` are
    read-only views of the instance's (:class:`ReadOnlyMetadata`, :class:`ReadOnlyHistory`): a
    step reads them as a dict and a list, and any write raises ``TypeError``.
    """

    workflow_id: str = ""
    instance_id: UUID = field(default_factory=uuid4)
    """Engines always pass both; the defaults make a bare ``WorkflowContext()`` for testing a step."""
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    current_step: str | None = None
    step_history: list[StepExecution] = field(default_factory=list)
    started_at: datetime = field(default_factory=utcnow)
    user_id: str | None = None
    tenant_id: str | None = None
    execution_id: UUID | None = None
    """Id of the step execution this context was handed to (stable across attempts)."""
    attempt: int = 1
    """Attempt number of the current step execution, starting at 1."""
    _step_views: tuple[ReadOnlyMetadata, ReadOnlyHistory] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """On an instance's context: the read-only views of its metadata and history that its steps
    get, made once (the engine's step runner makes and checks them)."""

    def pack_step_history(self) -> None:
        """Keep the history packed (:func:`pack_history`) until something reads it again.

        For an instance nothing runs any more: an execution the engine still holds would no
        longer be the one in the history once it is read again. While packed, the context is a
        :class:`_PackedWorkflowContext`, whose ``step_history`` unpacks it and makes the context
        a plain one again: the class every step's context has keeps the interpreter's fast
        attribute lookups (a ``__getattr__`` on it made every step 5 % slower).
        """
        if type(self) is not WorkflowContext:
            return  # packed already, or a subclass of the user's: left as it is
        history = self.step_history  # kept referenced until the lock is released: nothing is freed under it
        packed = pack_history(history)
        if packed is None:
            return
        self._step_views = None
        with _packing:
            # The class first: a reader in another thread then finds the list in the slot, or
            # waits for the lock before it replaces what it read; never the packed form in a plain
            # context's slot. Nothing is made or freed under the lock, so no garbage collection
            # (and no finalizer reading a history) can run while this thread holds it.
            self.__class__ = _PackedWorkflowContext
            _history_slot.__set__(self, packed)

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``data[key]``; when the data has no such key, what the documentation reads under it.

        The documented examples read two kinds of key that no step writes:

        * ``"<step>.<field>"``: ``field`` of what step ``<step>`` returned when it last succeeded
          (a human task's submitted form, a machine step's result dict), as the parallel
          approvals of the guide read ``"legal_approval.approved"``;
        * ``"_current_step"``, ``"_workflow_name"`` and ``"_instance_id"``: :attr:`current_step`,
          the workflow's name and the instance id as text.

        Anything else absent answers ``default``. A key the data holds always wins.
        """
        value = self.data.get(key, _ABSENT)
        return self._derived(key, default) if value is _ABSENT else value

    def _derived(self, key: str, default: Any) -> Any:
        """:meth:`get` for a key the data does not hold (see there)."""
        if key == "_current_step":
            return default if self.current_step is None else self.current_step
        if key == "_workflow_name":
            return self.workflow_id or default
        if key == "_instance_id":
            return str(self.instance_id)
        step, dot, field_name = key.partition(".")
        if not dot or not step or not field_name:
            return default
        history: Sequence[StepExecution] = self.step_history  # a list, or the view engines hand steps
        found: StepExecution | None = None
        if isinstance(history, ReadOnlyHistory):  # indexed: no scan of a long history per call
            found = history.latest_of(step)
            if found is None:
                return default  # no such step ran: a dotted key of the data's own, absent
        if found is None or found.status != StepStatus.SUCCEEDED:
            # A plain list, or the step's latest run did not succeed: its last run that did.
            succeeded = (
                e for e in reversed(history) if e.step_name == step and e.status == StepStatus.SUCCEEDED
            )
            found = next(succeeded, None)
        result = None if found is None else found.result
        return result.get(field_name, default) if isinstance(result, dict) else default

    def set(self, key: str, value: Any) -> None:
        """Set ``data[key]``; the value must be JSON-serializable to survive the step."""
        self.data[key] = value

    def with_step(self, step_name: str) -> WorkflowContext:
        """Return a copy of this context positioned at ``step_name`` (data dict shared)."""
        return replace(self, current_step=step_name)

    def get_last_execution(self, step_name: str | None = None) -> StepExecution | None:
        """Return the most recent finished execution (of ``step_name`` when given), or ``None``.

        Executions still scheduled, running or waiting are passed over: a step asking for the
        last execution gets the one before it, not itself.
        """
        for execution in reversed(self.step_history):
            if execution.status not in _UNFINISHED and (
                step_name is None or execution.step_name == step_name
            ):
                return execution
        return None

    def has_step_executed(self, step_name: str) -> bool:
        """Tell whether ``step_name`` has an execution that succeeded.

        Compared by value, so a history built by hand with the status as text (``"succeeded"``,
        as the reference package's ``str`` field holds it) counts too.
        """
        return any(e.step_name == step_name and e.status == StepStatus.SUCCEEDED for e in self.step_history)

    @property
    def idempotency_key(self) -> str:
        """``"<execution_id>:<attempt>"``: one key per attempt of the step execution.

        It tells attempts apart (a retry, or a re-run after a crash on the distributed engines,
        is a new attempt); a side effect that must happen once across all of them is keyed on
        :attr:`execution_id` alone.
        """
        return f"{self.execution_id}:{self.attempt}"


_history_slot: Any = WorkflowContext.__dict__["step_history"]
"""The slot that holds a context's history (or, in a packed context, the packed form)."""
_packing = threading.Lock()
"""Held while a context is packed or unpacked: readers in other threads see one list, never the
packed form (the engine itself runs in one thread; sync handlers of an app may not)."""


class _PackedWorkflowContext(WorkflowContext):
    """A context whose history slot holds the packed form (see :meth:`WorkflowContext.pack_step_history`).

    Reading or setting ``step_history`` turns it back into a plain :class:`WorkflowContext`.
    """

    __slots__ = ()

    __dataclass_fields__ = WorkflowContext.__dataclass_fields__
    """In the class's own namespace, where encoders such as orjson look for a dataclass's fields."""

    @property
    def step_history(self) -> list[StepExecution]:
        """The history, unpacked (once: the context is a plain one afterwards).

        Unpacked outside the lock (making objects may start a garbage collection, whose finalizers
        may read a history), then put in place under it unless another thread did first.
        """
        held = _history_slot.__get__(self)
        history: list[StepExecution] = unpack_history(held) if type(held) is tuple else held
        with _packing:
            if type(self) is _PackedWorkflowContext:
                _history_slot.__set__(self, history)  # the list first, then the class (see packing)
                self.__class__ = WorkflowContext  # type: ignore[assignment]
            else:
                history = _history_slot.__get__(self)  # unpacked by another thread meanwhile
        return history

    @step_history.setter
    def step_history(self, history: list[StepExecution]) -> None:
        packed = _history_slot.__get__(self)  # freed after the lock is released
        with _packing:
            _history_slot.__set__(self, history)
            self.__class__ = WorkflowContext  # type: ignore[assignment]
        del packed

    @step_history.deleter
    def step_history(self) -> None:
        packed = _history_slot.__get__(self)  # freed after the lock is released
        with _packing:
            self.__class__ = WorkflowContext  # type: ignore[assignment]
            _history_slot.__delete__(self)
        del packed

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        """Copies and pickles are packed too: the packed form is immutable, and smaller to pickle."""
        values = tuple(slot.__get__(self) for slot in _context_slots)
        if type(values[_HISTORY_SLOT]) is tuple:
            return (_packed_context, values)
        _ = self.step_history  # being packed or unpacked by another thread: copy the plain context
        return object.__reduce_ex__(self, protocol)

    def __repr__(self) -> str:
        _ = self.step_history  # the class's name is part of the text
        return repr(self)


_context_slots: tuple[Any, ...] = tuple(WorkflowContext.__dict__[f.name] for f in fields(WorkflowContext))
"""Every slot of a context, in the order of its fields (the history's holds the packed form)."""
_HISTORY_SLOT = _context_slots.index(_history_slot)


def _packed_context(*values: Any) -> _PackedWorkflowContext:
    """A packed context with the slot values :meth:`_PackedWorkflowContext.__reduce_ex__` gave."""
    context: _PackedWorkflowContext = object.__new__(_PackedWorkflowContext)
    for slot, value in zip(_context_slots, values, strict=True):
        slot.__set__(context, value)
    return context


__all__ = (
    "PackedHistory",
    "ReadOnlyHistory",
    "ReadOnlyMetadata",
    "StepExecution",
    "WorkflowContext",
    "pack_history",
    "unpack_history",
    "utcnow",
)
