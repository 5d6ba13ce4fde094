"""``/webhooks``: outside systems deliver a webhook step's payload, signed with the step's secret.

Not a user's route: no session, user or tenant is consulted (the app's ``api_guards`` do not
apply either); the signature is the authentication (see :mod:`litestar_workflows.web.webhooks`).
Only a step configured with a ``secret`` is reachable. The answer says no more than the
delivery's outcome, never the instance's data. A refused delivery changes nothing.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import FromPath, HeaderParameter
from litestar.status_codes import HTTP_200_OK

from litestar_workflows.core.errors import WorkflowInstanceNotFoundError, WorkflowNotFoundError
from litestar_workflows.core.types import StepType
from litestar_workflows.web.bodies import check_json_body, read_body
from litestar_workflows.web.controllers.params import Engine, Registry
from litestar_workflows.web.errors import error_responses, exception_handlers
from litestar_workflows.web.schemas import WebhookAccepted
from litestar_workflows.web.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignatureError, verify

__all__ = ("WebhookController",)

_NO_ENDPOINT = (
    "No webhook step that accepts signed deliveries (a WebhookStep with a secret) at this address: "
    "check the instance id and the step name"
)

Signature = Annotated[
    str | None,
    HeaderParameter(
        name=SIGNATURE_HEADER,
        description="sha256=<hex HMAC-SHA256 keyed with the step's secret of '<timestamp>.' + the raw body>",
    ),
]
Timestamp = Annotated[
    str | None,
    HeaderParameter(
        name=TIMESTAMP_HEADER,
        description="When it was sent, in whole seconds since the Unix epoch; signed with the body",
    ),
]


class WebhookController(Controller):
    """Signed deliveries to waiting webhook steps."""

    path = "/webhooks"
    exception_handlers = exception_handlers()

    @post(
        "/{instance_id:str}/{step_name:str}",
        operation_id="deliverWebhook",
        summary="Deliver a signed payload to a waiting webhook step",
        status_code=HTTP_200_OK,
        responses=error_responses(401, 404, 409, 422, 503),
    )
    async def deliver(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        instance_id: FromPath[UUID],  # a str in the path: see controllers.instances.InstanceId
        step_name: FromPath[str],
        signature: Signature = None,
        timestamp: Timestamp = None,
    ) -> WebhookAccepted:
        """Hand the JSON body to ``step_name`` of the instance, which must be waiting for it.

        The request carries ``X-Workflows-Timestamp`` and ``X-Workflows-Signature: sha256=<hex>``
        (HMAC-SHA256 with the step's secret over ``"<timestamp>." + body``); a missing, stale or
        wrong signature answers 401. An unknown instance, or a step that is not a webhook step with
        a secret, answers 404; an instance not waiting there 409; a payload failing the step's
        ``payload_schema`` 422.
        """
        body = await read_body(request, request.route_handler)  # raw bytes: nothing is parsed yet
        # Until the signature is checked the caller is nobody: an unknown instance and an instance
        # without such a step get the same answer, which names neither the workflow nor anything
        # else, so that the route cannot tell which instances exist (across tenants, too).
        try:
            instance = await workflow_engine.get_instance(instance_id)
            definition = workflow_registry.get_definition(instance.workflow_name, instance.workflow_version)
        except (WorkflowInstanceNotFoundError, WorkflowNotFoundError):
            raise NotFoundException(_NO_ENDPOINT) from None
        step: Any = definition.steps.get(step_name)
        signing_key = getattr(step, "signing_key", None) if step is not None else None
        key = signing_key() if signing_key is not None and step.step_type is StepType.WEBHOOK else None
        if key is None:
            raise NotFoundException(_NO_ENDPOINT)
        try:
            verify(key, body, signature, timestamp, max_age=step.max_age)
        except BadSignatureError as error:
            raise NotAuthorizedException(str(error)) from None
        if not body:
            raise ClientException("The delivery has no body: send the payload as JSON")
        await check_json_body(request, request.route_handler)  # 400 for what is not readable JSON
        payload = await request.json()
        delivered = await workflow_engine.deliver_webhook(instance_id, step_name, payload)
        return WebhookAccepted(instance_id=delivered.id, step_name=step_name, status=delivered.status)
