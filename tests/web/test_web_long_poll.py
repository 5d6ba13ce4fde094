"""Long polls: a client holds at most ``max_waits_per_client`` at once (429 beyond, with the reason),
each client on its own, and the held polls still answer when the instance gets there."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from litestar.testing import TestClient
from web_helpers import as_user, make_app, settle

from litestar_workflows.web.controllers.deps import OPT_KEY
from litestar_workflows.web.long_poll import LongPollLimiter

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar

LIMIT = 2


def limiter_of(app: Litestar) -> LongPollLimiter:
    """The API's limiter, as its routes receive it."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            settings = handler.opt.get(OPT_KEY)
            if settings is not None:
                limiter = settings.wait_limiter
                assert isinstance(limiter, LongPollLimiter)
                return limiter
    raise AssertionError("no route receives the long-poll limiter")


def until(condition: Callable[[], bool], what: str) -> None:
    """Look at ``condition()`` until it holds (bounded): waits on observed state, not for a time.

    The test client serves the app on a thread of its own; this thread looks now and then.
    """
    for _ in range(3_000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never observed: {what}")


def test_a_client_holds_at_most_max_waits_per_client_long_polls(engine: Any) -> None:
    app = make_app(engine, max_waits_per_client=LIMIT)
    limiter = limiter_of(app)
    with TestClient(app) as client, ThreadPoolExecutor(LIMIT + 2) as pool:
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {"amount": 50}},
            headers=as_user("erik"),
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        settle(client, engine, instance_id)
        url = f"/workflows/instances/{instance_id}"

        def long_poll(headers: dict[str, str]) -> Any:
            return client.get(url, params={"wait": 30, "until": "completed"}, headers=headers)

        held = [pool.submit(long_poll, as_user("erik")) for _ in range(LIMIT)]
        until(lambda: limiter.open_for("user:erik") == LIMIT, "erik's long polls open")

        refused = long_poll(as_user("erik"))
        assert refused.status_code == 429, refused.text
        assert f"at most {LIMIT} at once" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        assert client.get(url, headers=as_user("erik")).status_code == 200  # without wait: at once

        others = [pool.submit(long_poll, as_user("maria")), pool.submit(long_poll, {})]  # anonymous too
        until(
            lambda: limiter.open_for("user:maria") == 1 and limiter.open_for("address:testclient") == 1,
            "maria's and an anonymous long poll open",
        )

        [task] = client.get("/workflows/tasks", headers=as_user("maria")).json()
        done = client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"approved": True}},
            headers=as_user("maria"),
        )
        assert done.status_code == 200, done.text

        answers = [future.result(timeout=60) for future in [*held, *others]]
        assert [a.status_code for a in answers] == [200] * (LIMIT + 2)
        assert {a.json()["status"] for a in answers} == {"completed"}
        assert limiter.open_for("user:erik") == limiter.open_for("user:maria") == 0
        assert long_poll(as_user("erik")).status_code == 200  # the slots are free again
