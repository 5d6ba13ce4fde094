"""``BaseGateway``: the gateway the guides subclass, deciding in ``evaluate`` where the flow goes.

The documented way to route is a class with ``async def evaluate(context)`` that returns the name
of the next step (an exclusive gateway) or, with ``gateway_type = "inclusive"``, a list of names
(every one of them runs, the others are skipped). Our own gateways decide through ``choose``; this
class maps the documented return values onto it and checks them, so that a gateway returning
something that is not a step name fails its instance with an error saying what it returned
instead of silently taking no path. A returned name that is not a successor of the gateway fails
the instance too (the interpreter names it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from litestar_workflows.core.errors import WorkflowValidationError
from litestar_workflows.steps.gateway import GatewayStep

if TYPE_CHECKING:
    from litestar_workflows.core.context import WorkflowContext

__all__ = ("BaseGateway",)

GATEWAY_TYPES = frozenset({"exclusive", "inclusive"})


class BaseGateway(GatewayStep):
    """A gateway whose :meth:`evaluate` returns the next step (or, when inclusive, the next steps).

    ``gateway_type`` is ``"exclusive"`` (default: exactly one name) or ``"inclusive"`` (a name or
    a list of names, at least one). A class with another ``gateway_type`` is refused when it is
    defined, not when a workflow first reaches it.
    """

    gateway_type: ClassVar[str] = "exclusive"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.gateway_type not in GATEWAY_TYPES:
            raise WorkflowValidationError(
                f"{cls.__name__}.gateway_type is {cls.gateway_type!r}; use 'exclusive' or 'inclusive'"
            )

    async def evaluate(self, context: WorkflowContext) -> str | list[str]:
        """Return the name of the next step (inclusive gateways: a list of names); override this."""
        raise NotImplementedError(f"gateway {self.name!r} ({type(self).__name__}) must implement evaluate()")

    async def choose(self, context: WorkflowContext) -> frozenset[str]:
        """Run :meth:`evaluate` and turn its answer into the set of successors that stay alive."""
        return self.route_of(await self.evaluated(context))

    def route_of(self, chosen: object) -> frozenset[str]:
        """Check what :meth:`evaluate` returned against ``gateway_type``.

        Raises:
            TypeError: Not a step name (or, for an inclusive gateway, not names), or an exclusive
                gateway that chose several steps or none.
        """
        if isinstance(chosen, str):
            return frozenset((chosen,))
        what = f"gateway {self.name!r} ({type(self).__name__}).evaluate() returned {chosen!r}"
        if self.gateway_type == "exclusive":
            raise TypeError(f"{what}; an exclusive gateway returns the name of one step")
        if not isinstance(chosen, Iterable) or isinstance(chosen, (bytes, dict)):
            raise TypeError(f"{what}; an inclusive gateway returns a step name or a list of step names")
        names = list(chosen)
        if not names or not all(isinstance(name, str) for name in names):
            raise TypeError(f"{what}; an inclusive gateway returns at least one step name, all strings")
        return frozenset(names)
