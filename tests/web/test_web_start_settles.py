"""``POST /instances`` answers where the new instance stands: once it waits or has finished.

Without this a durable engine answered as soon as the start was stored, so the next request of a
client (the cookbook's ``GET`` right after the start) could still read ``running`` while a memory
engine answered ``waiting``. The ``gated`` workflow's step runs until the test opens its gate, so
each test knows exactly where the instance is while the request is in flight.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from web_helpers import GATES, Gate, as_user

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

URL = "/workflows/instances"


def post_gated(client: TestClient[Litestar], key: str, **params: Any) -> dict[str, Any]:
    body = {"definition_name": "gated", "input_data": {"gate": key}}
    response = client.post(URL, params=params, json=body, headers=as_user("erik"))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_start_answers_once_the_instance_has_settled(client: TestClient[Litestar]) -> None:
    key = str(uuid.uuid4())
    gate = GATES[key] = Gate()
    # The gate opens only once the step runs: while the request is in flight, the instance is
    # 'running'; the answer comes after the gate opened, with the instance completed.
    opener = threading.Thread(target=lambda: gate.started.wait(10) and gate.open(client))
    opener.start()
    answer = post_gated(client, key)
    opener.join()
    assert answer["status"] == "completed"
    assert [step["step_name"] for step in answer["step_history"]] == ["begin", "hold", "end"]


def test_wait_zero_answers_as_soon_as_the_start_is_stored(client: TestClient[Litestar]) -> None:
    key = str(uuid.uuid4())
    gate = GATES[key] = Gate()
    answer = post_gated(client, key, wait=0)
    assert answer["status"] in ("pending", "running")
    assert gate.started.wait(10)
    gate.open(client)


def test_the_wait_is_bounded_while_a_step_still_runs(client: TestClient[Litestar]) -> None:
    key = str(uuid.uuid4())
    gate = GATES[key] = Gate()
    answer = post_gated(client, key, wait=0.2)
    assert answer["status"] == "running"  # the gate never opened: the answer came after 0.2 s
    assert answer["current_step"] == "hold"
    gate.open(client)


def test_a_start_waiting_for_a_person_answers_waiting_on_that_step(client: TestClient[Litestar]) -> None:
    body = {"definition_name": "approval", "input_data": {"amount": 50}}
    answer = client.post(URL, json=body, headers=as_user("erik")).json()
    assert (answer["status"], answer["current_step"]) == ("waiting", "review")
