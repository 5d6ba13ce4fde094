"""JSON Schema validation of task forms and webhook payloads, with regular expressions in linear time.

The schemas come from workflow authors, the data from anyone who may submit a form. Python's
``re`` backtracks: a pattern such as ``^(a+)+$`` takes seconds on a 25-character input and holds
the event loop all that time. Here every regular expression a schema holds (``pattern``, the keys
of ``patternProperties``, and with them ``additionalProperties``) is matched by RE2, which never
backtracks. A schema RE2 cannot compile (look-around, back-references) is rejected when the
definition is built, as is the one combination whose matching would still go through ``re``:
``unevaluatedProperties`` alongside ``patternProperties``.

References (``$ref``, ``$dynamicRef``) resolve only inside the schema itself: ``#``,
``#/$defs/...``, the anchors and ``$id`` values the schema declares. Nothing is ever retrieved: the
validators' ``referencing`` registry refuses every other URI (``http:``, ``file:``, a relative
``other.json``), and a schema holding such a reference is rejected when the definition is built,
or, for a schema made per task, before any data is checked against it. So is a schema whose
references loop without descending into the data (``{"$ref": "#"}``), which could never finish,
and one whose references chain or fan out too far for a single value.

Everything else is jsonschema's own validation, so messages stay the ones users know.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson
import re2  # type: ignore[import-untyped]
import referencing.jsonschema
from jsonschema import FormatChecker, ValidationError, validators
from jsonschema import exceptions as schema_exceptions
from jsonschema._utils import extras_msg
from referencing import Registry, Specification
from referencing import exceptions as reference_exceptions

from litestar_workflows.core.errors import WorkflowValidationError

E = TypeVar("E", bound=WorkflowValidationError)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from jsonschema.protocols import Validator
    from referencing import Resource
    from referencing._core import Resolver
    from referencing.jsonschema import Schema, SchemaRegistry

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is reported to the author; keep stderr quiet

RE2_HINT = "form patterns use RE2 syntax (no look-around, no back-references)"

#: Why data is refused when checking it against a (recursive) schema ran out of Python's stack.
TOO_DEEP = "the data nests too deeply to be checked against this form schema"
MAX_PROBLEMS: Final = 20
"""Most problems one check of data against a schema reports; a last entry says there are more."""
_MESSAGE_LENGTH = 4_000
"""Longest problem message kept whole; the rest is cut, marked with an ellipsis.

jsonschema quotes the failing value whole: a ``maxItems`` problem of a megabyte array is a
megabyte long. The UI shortens quoted values further (``web/ui/rendering.brief``); the API keeps
the text up to this bound.
"""

# Keys of these keywords are names (of properties, definitions...), not keywords.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


@lru_cache(maxsize=1024)
def compiled_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached); raises ``re2.error`` for syntax RE2 does not have."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _search(pattern: str, text: str) -> bool:
    return compiled_pattern(pattern).search(text) is not None


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = {
        key
        for key in instance
        if key not in properties and not any(_search(pattern, key) for pattern in patterns)
    }
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            listed = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
        else:
            listed, verb = extras_msg(sorted(extras, key=str))
            yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")


def _unique_key(value: Any) -> Any:
    """A hashable key equal for two JSON values exactly when JSON Schema calls them equal.

    Numbers compare by value (``1`` equals ``1.0``, and Python's tuples agree), booleans only
    with booleans, arrays item by item, objects key by key whatever their order.
    """
    if value is None or isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (list, tuple)):
        return ("a", tuple(_unique_key(item) for item in value))
    if isinstance(value, dict):
        return ("o", frozenset((key, _unique_key(item)) for key, item in value.items()))
    # Not JSON (data handed over from Python code: a date, a UUID): equal as Python says.
    try:
        hash(value)
    except TypeError:
        return ("?", id(value))
    return ("?", value)


def _unique_items(
    validator: Validator, unique: Any, instance: Any, _schema: Any
) -> Iterator[ValidationError]:
    """``uniqueItems`` in linear time.

    jsonschema compares the items pairwise when they are not all hashable or of one type: a
    request of 85 KB (mixed numbers and text, or objects) kept the event loop busy for seconds,
    and the time grows with the square of the array's length.
    """
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for position, item in enumerate(instance):
        key = _unique_key(item)
        if key in seen:
            yield ValidationError(f"has non-unique elements (item {position} repeats an earlier one)")
            return
        seen.add(key)


_RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}


@lru_cache(maxsize=16)
def _re2_validator_class(base: type[Validator]) -> type[Validator]:
    """``base`` (a draft's validator) with its regular-expression keywords matched by RE2."""
    replaced = {name: fn for name, fn in _RE2_KEYWORDS.items() if name in base.VALIDATORS}
    extended: type[Validator] = validators.extend(base, replaced)  # type: ignore[no-untyped-call]
    return extended


def _is_re2_pattern(text: object) -> bool:
    return not isinstance(text, str) or compiled_pattern(text) is not None


@lru_cache(maxsize=16)
def _metaschema_format_checker(base: type[Validator]) -> FormatChecker:
    """The checker that validates a schema against its meta-schema, with ``format: regex`` meaning RE2."""
    meta = validators.validator_for(base.META_SCHEMA, default=base)
    checker = FormatChecker()
    checker.checkers = dict(meta.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=re2.error)(
        lambda text: not isinstance(text, str) or compiled_pattern(text)
    )
    return checker


def _uses_keyword(schema: Any, keyword: str) -> bool:
    """Tell whether ``keyword`` is used as a keyword anywhere in ``schema``."""
    if isinstance(schema, list):
        return any(_uses_keyword(item, keyword) for item in schema)
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key == keyword:
            return True
        if key in _NAME_MAPS and isinstance(value, dict):
            if any(_uses_keyword(sub, keyword) for sub in value.values()):
                return True
        elif _uses_keyword(value, keyword):
            return True
    return False


class ExternalReferenceError(LookupError):
    """A form schema referred to ``uri``, which is outside it: nothing outside a schema is retrieved."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        super().__init__(
            f"{uri!r} is outside the form schema; only references inside the schema itself resolve "
            "('#', '#/$defs/...', its anchors and $ids), and nothing is fetched"
        )


def _refuse_retrieval(uri: str) -> Resource[Schema]:
    """The registry's ``retrieve``: called for any URI the schema does not hold, it refuses."""
    raise ExternalReferenceError(uri)


#: The registry form validators resolve references with: the schema itself, nothing retrieved.
LOCAL_REFERENCES_ONLY: SchemaRegistry = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]

#: How many subschemas may apply to one value (following references and allOf/anyOf/... in place).
MAX_SCHEMAS_PER_VALUE = 10_000
#: How long a chain of references and in-place subschemas may be for one value.
MAX_REFERENCE_DEPTH = 64

# Keywords whose subschemas apply to the very value their schema applies to (no descent into it).
_IN_PLACE = (
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "dependentSchemas", "dependencies", "extends", "type", "disallow",
)  # fmt: skip


def _in_place_subschemas(contents: dict[str, Any], keywords: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for keyword in _IN_PLACE:
        if keyword not in contents or keyword not in keywords:
            continue
        value = contents[keyword]
        if isinstance(value, dict) and keyword in {"dependentSchemas", "dependencies"}:
            items: list[Any] = list(value.values())
        elif isinstance(value, list):
            items = value
        else:
            items = [value]
        yield from (item for item in items if isinstance(item, dict))


def _specification(base: type[Validator]) -> Specification[Schema]:
    meta = base.META_SCHEMA
    dialect = meta.get("$id") or meta.get("id") or "urn:unknown-dialect"
    found: Specification[Schema] = referencing.jsonschema.specification_with(
        dialect, default=Specification.OPAQUE
    )
    return found


def _unresolvable(keyword: str, ref: str, error: Exception) -> str:
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ExternalReferenceError):
        cause = cause.__cause__
    if isinstance(cause, ExternalReferenceError):
        where = "" if cause.uri == ref else f" (to {cause.uri!r})"
        return (
            f"{keyword} {ref!r} refers outside the schema{where}; only references inside the schema "
            "itself resolve ('#', '#/$defs/...', its anchors and $ids), and nothing is fetched"
        )
    if isinstance(error, reference_exceptions.Unresolvable | ValueError | TypeError | LookupError):
        return f"{keyword} {ref!r} points to nothing in the schema"
    return f"{keyword} {ref!r} cannot be resolved in the schema ({type(error).__name__}: {error})"


if TYPE_CHECKING:
    _Pending = list[tuple[Any, Resolver[Schema]]]


class _ReferenceGraph:
    """Every subschema reachable in a schema, and which of them apply in place of which."""

    def __init__(self, base: type[Validator]) -> None:
        self.base = base
        self.keywords = base.VALIDATORS
        self.spec = _specification(base)
        self.nodes: dict[int, dict[str, Any]] = {}
        self.edges: dict[int, list[int]] = {}
        self.refs: dict[int, str] = {}  # a node's reference, to name it in a problem
        self.dynamic_anchors: dict[str, list[int]] = {}
        self.recursive_anchors: list[int] = []
        self.dynamic_refs: list[tuple[int, str]] = []
        self.recursive_refs: list[int] = []

    def walk(self, schema: dict[str, Any]) -> str | None:
        """Follow every subschema and reference (iteratively); what is wrong with one, if anything."""
        root = self.spec.create_resource(schema)
        # Subschemas where the schema has one, then what references point to that is not among them.
        stack: _Pending = [(schema, LOCAL_REFERENCES_ONLY.resolver_with_root(root))]
        targets: _Pending = []
        while stack or targets:
            if stack:
                contents, resolver = stack.pop()
                if isinstance(contents, dict) and id(contents) not in self.nodes:
                    problem = self._visit(contents, resolver, stack, targets)
                    if problem is not None:
                        return problem
                continue
            contents, resolver = targets.pop()
            if isinstance(contents, dict) and id(contents) in self.nodes:
                continue
            problem = _meta_problem(self.base, contents)  # a reference into, say, an enum value
            if problem is not None:
                return f"{self.refs.get(id(contents), 'a reference')} targets no schema: {problem}"
            stack.append((contents, resolver))
        for node, name in self.dynamic_refs:
            self.edges[node].extend(self.dynamic_anchors.get(name, ()))
        for node in self.recursive_refs:
            self.edges[node].extend(self.recursive_anchors)
        return None

    def _visit(
        self,
        contents: dict[str, Any],
        resolver: Resolver[Schema],
        stack: _Pending,
        targets: _Pending,
    ) -> str | None:
        node = id(contents)
        self.nodes[node] = contents
        out = self.edges[node] = []
        references: list[tuple[str, str]] = [
            (keyword, contents[keyword])
            for keyword in ("$ref", "$dynamicRef")
            if keyword in self.keywords and isinstance(contents.get(keyword), str)
        ]
        if "$recursiveRef" in self.keywords and "$recursiveRef" in contents:
            references.append(("$recursiveRef", "#"))  # jsonschema resolves it as "#", whatever it says
            self.recursive_refs.append(node)
        for keyword, ref in references:
            try:
                target = resolver.lookup(ref)
            except Exception as error:  # Unresolvable; a bad pointer or draft-03 oddity fails otherwise
                return _unresolvable(keyword, ref, error)
            self.refs.setdefault(node, f"{keyword} {contents[keyword]!r}")
            self.refs.setdefault(id(target.contents), f"{keyword} {ref!r}")
            if isinstance(target.contents, dict):
                out.append(id(target.contents))
            targets.append((target.contents, target.resolver))
            if keyword == "$dynamicRef" and "#" in ref:
                self.dynamic_refs.append((node, ref.partition("#")[2]))
        if isinstance(contents.get("$dynamicAnchor"), str):
            self.dynamic_anchors.setdefault(contents["$dynamicAnchor"], []).append(node)
        if contents.get("$recursiveAnchor") is True:
            self.recursive_anchors.append(node)
        for sub in _in_place_subschemas(contents, self.keywords):
            out.append(id(sub))
            stack.append((sub, resolver.in_subresource(self.spec.create_resource(sub))))
        for each in self.spec.subresources_of(contents):
            stack.append((each, resolver.in_subresource(self.spec.create_resource(each))))
        return None

    def bound_problem(self) -> str | None:
        """A loop of in-place subschemas, or a chain or fan-out past the limits (iterative DFS)."""
        depth: dict[int, int] = {}
        count: dict[int, int] = {}
        for start in self.nodes:
            if start in depth:
                continue
            path: list[int] = [start]
            on_path = {start}
            pending: list[Iterator[int]] = [iter(self.edges[start])]
            while pending:
                child = next(pending[-1], None)
                if child is not None:
                    if child in on_path:
                        loop = path[path.index(child) :]
                        named = next((self.refs[n] for n in loop if n in self.refs), "a subschema")
                        return (
                            f"{named} makes the schema refer to itself without descending into the "
                            "data, so validating any value would never end"
                        )
                    if child not in depth:
                        path.append(child)
                        on_path.add(child)
                        pending.append(iter(self.edges[child]))
                    continue
                done = path.pop()
                on_path.discard(done)
                pending.pop()
                children = self.edges[done]
                depth[done] = 1 + max((depth[c] for c in children), default=0)
                count[done] = 1 + sum(count[c] for c in children)
                if depth[done] > MAX_REFERENCE_DEPTH:
                    return (
                        f"its references and in-place subschemas (allOf, anyOf, ...) chain more than "
                        f"{MAX_REFERENCE_DEPTH} deep for a single value"
                    )
                if count[done] > MAX_SCHEMAS_PER_VALUE:
                    return (
                        f"its references apply more than {MAX_SCHEMAS_PER_VALUE} subschemas to a single value"
                    )
        return None


def _reference_problem(base: type[Validator], schema: Any) -> str | None:
    """Why the references of ``schema`` cannot be used in a form schema, if they cannot."""
    if not isinstance(schema, dict):
        return None
    graph = _ReferenceGraph(base)
    return graph.walk(schema) or graph.bound_problem()


def _meta_problem(base: type[Validator], schema: Any) -> str | None:
    try:
        base.check_schema(schema, format_checker=_metaschema_format_checker(base))  # type: ignore[call-arg]
    except schema_exceptions.SchemaError as error:
        return _schema_error_message(error)
    except TypeError as error:  # e.g. a non-string where the meta-schema expects one
        return str(error)
    return None


def _schema_error_message(error: schema_exceptions.SchemaError) -> str:
    if error.validator == "format" and error.validator_value == "regex":
        cause = error.cause.args[0] if error.cause is not None and error.cause.args else error.cause
        reason = cause.decode() if isinstance(cause, bytes) else str(cause)
        return f"pattern {error.instance!r} cannot be used: {reason}; {RE2_HINT}"
    return error.message


@lru_cache(maxsize=512)
def _validator_for(schema_json: bytes) -> Validator | str:
    """A validator for the schema, or what is wrong with the schema (both cached by its JSON text)."""
    schema = orjson.loads(schema_json)
    base = validators.validator_for(schema)
    problem = _meta_problem(base, schema)
    if problem is not None:
        return problem
    if _uses_keyword(schema, "unevaluatedProperties") and _uses_keyword(schema, "patternProperties"):
        return "unevaluatedProperties cannot be combined with patternProperties in a form schema"
    problem = _reference_problem(base, schema)
    if problem is not None:
        return problem
    validator: Validator = _re2_validator_class(base)(schema, registry=LOCAL_REFERENCES_ONLY)
    return validator


def form_validator(schema: dict[str, Any], where: str) -> Validator:
    """The validator of a form or payload schema (cached; regular expressions run on RE2).

    Raises:
        WorkflowValidationError: ``schema`` is not a valid JSON Schema, or uses a pattern RE2 cannot run.
    """
    try:
        found = _validator_for(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    except (TypeError, orjson.JSONEncodeError) as error:
        raise WorkflowValidationError(f"{where} has an invalid form schema: {error}") from error
    if isinstance(found, str):
        raise WorkflowValidationError(f"{where} has an invalid form schema: {found}")
    return found


def data_errors(schema: dict[str, Any], data: Any, where: str) -> list[str]:
    """Every way ``data`` fails ``schema``, as ``"field: message"`` strings sorted by field.

    The field is the failing value's path (``items/0/price``); a missing required property is
    named itself rather than by its parent object; ``(root)`` stands for the data as a whole.

    Raises:
        WorkflowValidationError: ``schema`` is not a valid JSON Schema, or uses a pattern RE2 cannot run.
    """
    return [f"{field}: {message}" for field, message in data_problems(schema, data, where)]


def data_problems(schema: dict[str, Any], data: Any, where: str) -> list[tuple[str, str]]:
    """:func:`data_errors` as ``(field, message)`` pairs: a field name may hold ": " or spaces.

    Raises:
        WorkflowValidationError: As :func:`data_errors`.
    """
    validator = form_validator(schema, where)
    try:
        # The first problems only: a megabyte of wrongly typed items would otherwise be checked to
        # the end, and its tens of thousands of messages sorted, sent back and shown.
        found = list(islice(validator.iter_errors(data), MAX_PROBLEMS + 1))
    except RecursionError:  # a schema recursing with the data, several frames a level: refuse the data
        return [("(root)", TOO_DEEP)]
    problems = sorted(found[:MAX_PROBLEMS], key=_path_order)
    listed = [(_field_of(error), _shortened(error.message)) for error in problems]
    if len(found) > MAX_PROBLEMS:
        listed.append(("(root)", f"more problems than these {MAX_PROBLEMS}; correct them and submit again"))
    return listed


def _path_order(error: ValidationError) -> list[tuple[int, int | str]]:
    """Problems sorted by where they are: items by number (2 before 10), properties by name."""
    return [(0, part) if isinstance(part, int) else (1, str(part)) for part in error.absolute_path]


def _shortened(message: str) -> str:
    """A problem's message, cut to a readable length (jsonschema quotes the failing value whole)."""
    if len(message) <= _MESSAGE_LENGTH:
        return message
    return message[: _MESSAGE_LENGTH - 1] + "…"


def invalid_data(error_type: type[E], what: str, problems: list[tuple[str, str]]) -> E:
    """``error_type`` for schema ``problems`` of ``what``, keeping each entry's field in ``fields``.

    ``errors`` holds ``"field: message"`` texts, as the reference's did, and the detail is
    ``what`` followed by all of them; ``fields`` says where each field name ends, which the
    text cannot when a property's name holds ": " or a space.
    """
    errors = [f"{field}: {message}" for field, message in problems]
    error = error_type(f"{what}: " + "; ".join(errors), errors)
    error.fields = [field for field, _ in problems]
    return error


def _field_of(error: ValidationError) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        # "required" errors sit on the parent object; name the missing property itself.
        named = (p for p in error.validator_value if isinstance(p, str) and repr(p) in error.message)
        missing = next(named, None)
        if missing is not None:
            return f"{path}/{missing}" if path else missing
    return path or "(root)"


def check_form_schema(schema: dict[str, Any] | None, where: str) -> None:
    """Raise a ``WorkflowValidationError`` naming ``where`` when ``schema`` cannot validate forms.

    A schema holding a NUL character is refused too: a task keeps its form schema, and no
    database stores one (on PostgreSQL the task could never be written).
    """
    if schema is not None:
        form_validator(schema, where)
        try:
            raw = orjson.dumps(schema)
        except TypeError:
            return  # not JSON: the validator above judged it
        if b"\\u0000" in raw:
            raise WorkflowValidationError(
                f"{where} has an invalid form schema: it contains a NUL character (\\x00), which "
                "databases cannot store"
            )


def check_task_form_schema(schema: object, step_name: str) -> dict[str, Any] | None:
    """``schema``, the form schema a step made for a new task (``get_form_schema``), once checked.

    It gets the check a static ``form_schema`` gets when the definition is built, so a task whose
    schema cannot validate anything (an external ``$ref``, a reference loop, a bad keyword) fails
    its step when it would be created, rather than refusing every completion for ever.

    Raises:
        WorkflowValidationError: ``schema`` is not a dict, or not a usable form schema; the message
            names the step, as at definition time.
    """
    if schema is None:
        return None
    where = f"step {step_name!r}"
    if not isinstance(schema, dict):
        raise WorkflowValidationError(
            f"{where} has an invalid form schema: get_form_schema() returned "
            f"{type(schema).__name__}, not a dict"
        )
    check_form_schema(schema, where)
    return schema


__all__ = (
    "LOCAL_REFERENCES_ONLY",
    "MAX_REFERENCE_DEPTH",
    "MAX_SCHEMAS_PER_VALUE",
    "RE2_HINT",
    "TOO_DEEP",
    "ExternalReferenceError",
    "check_form_schema",
    "check_task_form_schema",
    "compiled_pattern",
    "data_errors",
    "form_validator",
)
