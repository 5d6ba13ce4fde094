"""Observability hooks of the engines: OpenTelemetry traces and metrics (the ``otel`` extra).

The engines know only :func:`resolve_telemetry` and the handful of methods of
:class:`~litestar_workflows.observability.otel.Telemetry` they call where a step runs, a
transition commits or an instance starts. Without the ``opentelemetry-api`` package, or with it
but no tracer or meter provider configured, ``resolve_telemetry`` returns ``None`` and the engine's
only cost is one ``is None`` check at those places (the import is tried once per process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar_workflows.observability.otel import Telemetry

_INSTALL_HINT = (
    "telemetry=True needs the OpenTelemetry API (opentelemetry-api): pip install 'litestar-workflows[otel]' "
    "(and an SDK or distro that configures a tracer/meter provider)"
)
_api_state: list[bool] = []
"""Empty until the first look: then ``[True]`` or ``[False]`` (is ``opentelemetry`` importable)."""


def otel_available() -> bool:
    """Whether the OpenTelemetry API can be imported (tried once per process)."""
    if not _api_state:
        try:
            import opentelemetry.metrics
            import opentelemetry.trace  # noqa: F401
        except ImportError:
            _api_state.append(False)
        else:
            _api_state.append(True)
    return _api_state[0]


def resolve_telemetry(option: Telemetry | bool | None) -> Telemetry | None:
    """The telemetry an engine uses for its ``telemetry=`` option.

    ``None`` (the default) turns it on when the OpenTelemetry API is installed and the
    application has set a global tracer or meter provider (``trace.set_tracer_provider``, the
    OpenTelemetry distro or auto-instrumentation); ``True`` turns it on with the global providers
    whatever they are (spans go nowhere until one is set); ``False`` turns it off; a
    :class:`Telemetry` is used as it is (explicit providers, as tests give).

    Raises:
        ImportError: ``True`` without the ``opentelemetry-api`` package (the message says what to install).
    """
    if option is False:
        return None
    if option is not None and option is not True:
        return option
    if not otel_available():
        if option is True:
            raise ImportError(_INSTALL_HINT)
        return None
    from litestar_workflows.observability.otel import Telemetry, providers_configured

    if option is True or providers_configured():
        return Telemetry()
    return None


def __getattr__(name: str) -> Any:
    if name == "Telemetry":  # imported on use: it needs the opentelemetry package
        from litestar_workflows.observability.otel import Telemetry

        return Telemetry
    raise AttributeError(name)


__all__ = ("Telemetry", "otel_available", "resolve_telemetry")
