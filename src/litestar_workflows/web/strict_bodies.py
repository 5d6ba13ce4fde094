"""Request bodies name what they do not know: a 400 listing every unknown field, with a hint.

The request classes refuse unknown fields themselves (``forbid_unknown_fields``), but msgspec
names only the first one, inside Litestar's generic "Validation failed" answer. The API's body
guard calls :func:`check_known_fields` with the decoded body first, so a client that sends
``{"definition_name": ..., "inputs": {...}}`` learns at once that ``inputs`` is not a field and
that ``input_data`` is the one it meant, instead of starting a workflow with empty data.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.exceptions import ValidationException

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import BaseRouteHandler
    from litestar.openapi.spec import Schema
    from litestar.plugins import PluginProtocol
    from litestar.typing import FieldDefinition

__all__ = (
    "StrictBodySchemaPlugin",
    "add_schema_plugin",
    "body_struct",
    "check_known_fields",
    "check_object_body",
    "unknown_fields",
)


def body_struct(handler: BaseRouteHandler) -> type[msgspec.Struct] | None:
    """The msgspec class a handler's ``data`` is decoded into (``X | None`` too), if it has one."""
    parameter = handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return None
    candidates = [parameter.annotation, *(inner.annotation for inner in parameter.inner_types)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def unknown_fields(struct: type[msgspec.Struct], body: dict[str, Any]) -> list[str]:
    """The keys of ``body`` that are not fields of ``struct``, in the order they were sent."""
    known = set(struct.__struct_encode_fields__)
    return [key for key in body if key not in known]


def _message(struct: type[msgspec.Struct], unknown: list[str]) -> str:
    known = list(struct.__struct_encode_fields__)
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    noun = "field" if len(unknown) == 1 else "fields"
    return f"Unknown {noun} in the request body: {', '.join(parts)}; this route accepts {', '.join(known)}"


def check_known_fields(handler: BaseRouteHandler, body: object) -> None:
    """Refuse a JSON object body holding fields the route's request class does not have.

    Raises:
        ValidationException: 400, naming every unknown field (``extra`` lists them one by one).
    """
    if not isinstance(body, dict):
        return
    struct = body_struct(handler)
    if struct is None or not struct.__struct_config__.forbid_unknown_fields:
        return
    unknown = unknown_fields(struct, body)
    if unknown:
        raise ValidationException(
            _message(struct, unknown),
            extra=[{"key": name, "message": "unknown field", "source": "body"} for name in unknown],
        )


def _what(body: object) -> str:
    if body is None:
        return "null"
    if isinstance(body, list):
        return "a JSON array"
    if isinstance(body, str):
        return "a JSON string"
    return "a JSON number" if isinstance(body, (int, float)) and not isinstance(body, bool) else "true/false"


def check_object_body(handler: BaseRouteHandler, body: object, *, empty: bool) -> None:
    """Refuse a missing or non-object body on a route that needs one, saying that it needs one.

    Litestar would answer an empty body with ``'data'`` (its ``KeyError``) and an array with
    "Expected `object`"; neither tells the client what to send. Routes whose body is optional
    (``X | None = None``: cancel, retry) take an empty body or ``null`` as no body.

    Raises:
        ValidationException: 400 saying a JSON object body is required, and with which fields.
    """
    parameter = handler.parsed_fn_signature.parameters.get("data")
    struct = body_struct(handler)
    if parameter is None or struct is None or isinstance(body, dict):
        return
    if (parameter.is_optional or parameter.has_default) and (empty or body is None):
        return
    found = "empty" if empty else _what(body)
    if parameter.is_optional or parameter.has_default:
        needed = "The request body must be a JSON object, or be left out"
    else:
        required = [f.encode_name for f in msgspec.structs.fields(struct) if f.required]
        needed = "A JSON object body is required" + (f", with {', '.join(required)}" if required else "")
    message = f"a JSON object is expected; the body is {found}"
    raise ValidationException(
        f"{needed}; the request's body is {found}",
        extra=[{"key": "data", "message": message, "source": "body"}],  # the whole body, as Litestar names it
    )


class StrictBodySchemaPlugin(StructSchemaPlugin):
    """OpenAPI for request classes that refuse unknown fields: ``additionalProperties: false``.

    So the schema says what the API does, and clients generated from it (or fuzzers) do not send
    extra fields the API would refuse.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        """Only msgspec classes configured with ``forbid_unknown_fields``."""
        annotation = field_definition.annotation
        return (
            super().is_plugin_supported_field(field_definition)
            and isinstance(annotation, type)
            and issubclass(annotation, msgspec.Struct)
            and annotation.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """Litestar's own schema of the class, closed to other properties."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


def add_schema_plugin(plugins: list[PluginProtocol]) -> None:
    """Put :class:`StrictBodySchemaPlugin` before Litestar's own struct plugin (the first match wins).

    Called from the workflow plugin's ``on_app_init``: Litestar's default schema plugins are in
    the list already, after the app's own plugins, so inserting there leaves the plugins whose
    ``on_app_init`` still runs in their order.
    """
    if any(isinstance(plugin, StrictBodySchemaPlugin) for plugin in plugins):
        return
    position = next(
        (i for i, plugin in enumerate(plugins) if type(plugin) is StructSchemaPlugin), len(plugins)
    )
    plugins.insert(position, StrictBodySchemaPlugin())
