"""JSON Schema validation of task forms and webhook payloads, with regular expressions in linear time.

The schemas come from workflow authors, the data from anyone who may submit a form. Python's
``re`` backtracks: a pattern such as ``^(a+)+$`` takes seconds on a 25-character input and holds
the event loop all that time. Here every regular expression a schema holds (``pattern``, the keys
of ``patternProperties``, and with them ``additionalProperties``) is matched by RE2, which never
backtracks. A schema RE2 cannot compile (look-around, back-references) is rejected when the
definition is built, as is the one combination whose matching would still go through ``re``:
``unevaluatedProperties`` alongside ``patternProperties``.

Everything else is jsonschema's own validation, so messages stay the ones users know.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import re2  # type: ignore[import-untyped]
from jsonschema import FormatChecker, ValidationError, validators
from jsonschema import exceptions as schema_exceptions
from jsonschema._utils import extras_msg

from litestar_workflows.core.errors import WorkflowValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from jsonschema.protocols import Validator

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is reported to the author; keep stderr quiet

RE2_HINT = "form patterns use RE2 syntax (no look-around, no back-references)"

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


_RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
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
    try:
        base.check_schema(schema, format_checker=_metaschema_format_checker(base))  # type: ignore[call-arg]
    except schema_exceptions.SchemaError as error:
        return _schema_error_message(error)
    except TypeError as error:  # e.g. a non-string where the meta-schema expects one
        return str(error)
    if _uses_keyword(schema, "unevaluatedProperties") and _uses_keyword(schema, "patternProperties"):
        return "unevaluatedProperties cannot be combined with patternProperties in a form schema"
    validator: Validator = _re2_validator_class(base)(schema)
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
    validator = form_validator(schema, where)
    problems = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_field_of(error)}: {error.message}" for error in problems]


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
    """Raise a ``WorkflowValidationError`` naming ``where`` when ``schema`` cannot validate forms."""
    if schema is not None:
        form_validator(schema, where)


__all__ = ("RE2_HINT", "check_form_schema", "compiled_pattern", "data_errors", "form_validator")
