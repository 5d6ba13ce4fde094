"""The plugin serves the SAQ engine: the REST API starts work, ``litestar workflows worker`` runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from broker_processes import BIN
from litestar.testing import AsyncTestClient
from saq_app import make_app

if TYPE_CHECKING:
    from broker_processes import RedisServer, Workers

    from conftest import ScratchDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_rest_api_starts_and_the_cli_worker_runs_the_steps(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers
) -> None:
    await scratch_postgres.migrate()
    workers.start("cli-worker", [str(BIN / "litestar"), "--app", "saq_app:app", "workflows", "worker"])
    app = make_app(scratch_postgres.url, scratch_postgres.schema, redis_server.url, owner="web")
    async with AsyncTestClient(app) as client:

        async def reaches(instance_id: str, status: str) -> dict[str, Any]:
            for _ in range(4):  # a long poll answers after at most 30 s
                got = await client.get(
                    f"/workflows/instances/{instance_id}", params={"wait": 30, "until": status}
                )
                assert got.status_code == 200, got.text
                if got.json()["status"] == status:
                    return dict(got.json())
            raise AssertionError(f"instance {instance_id} never became {status}")

        started = await client.post("/workflows/instances", json={"definition_name": "fan", "input_data": {}})
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        await reaches(instance_id, "waiting")
        [task] = (await client.get("/workflows/tasks", params={"instance_id": instance_id})).json()
        done = await client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"ok": True}},
            headers={"X-User": "ann"},
        )
        assert done.status_code == 200, done.text
        body = await reaches(instance_id, "completed")
    assert body["data"] == {"a": True, "b": True, "c": True, "join": True, "close": True, "ok": True, "n": 5}
    assert "workflow worker running" in workers.log("cli-worker")
