"""How many long polls (``GET /instances/{id}?wait=``) one client may hold open at once.

A long poll costs the server little while it waits (the engine's watcher looks at the database for
all of them at once), but each holds a connection and a task: one client opening thousands would
take them from everyone else. Beyond ``max_waits_per_client`` the API answers 429 at once, naming
the limit, rather than quietly answering without waiting: a client that polls in a loop then learns
why it gets no news instead of spinning.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from litestar.exceptions import TooManyRequestsException

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Request

    from litestar_workflows.web.identity import Actor

__all__ = ("DEFAULT_MAX_WAITS_PER_CLIENT", "LongPollLimiter", "client_of")

DEFAULT_MAX_WAITS_PER_CLIENT: Final = 10


def client_of(request: Request[Any, Any, Any], actor: Actor) -> str:
    """Who a long poll counts against: the acting user, or the client's address when anonymous."""
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    client = request.client
    return f"address:{client.host if client is not None else 'unknown'}"


class LongPollLimiter:
    """Counts the long polls each client holds open; refuses those beyond ``limit``.

    Args:
        limit: Long polls one client may hold at once.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            msg = f"max_waits_per_client must be at least 1, not {limit}"
            raise ValueError(msg)
        self.limit = limit
        self._open: dict[str, int] = {}

    def open_for(self, client: str) -> int:
        """How many long polls ``client`` holds open now."""
        return self._open.get(client, 0)

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """Hold one of ``client``'s long-poll slots for the block.

        Raises:
            TooManyRequestsException: The client holds ``limit`` long polls already (429).
        """
        held = self._open.get(client, 0)
        if held >= self.limit:
            raise TooManyRequestsException(
                detail=(
                    f"Too many long polls open: this client already waits on {held} "
                    f"(at most {self.limit} at once); wait for one to answer, or ask without `wait`"
                ),
                headers={"Retry-After": "1"},
            )
        self._open[client] = held + 1
        try:
            yield
        finally:
            remaining = self._open[client] - 1
            if remaining:
                self._open[client] = remaining
            else:
                del self._open[client]
