"""``/instances``: start, list, inspect, cancel, retry, pause and resume workflow instances.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from contextlib import suppress
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from litestar_workflows.core.errors import UnauthorizedError, WorkflowInstanceNotFoundError
from litestar_workflows.core.models import WorkflowInstanceData
from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.store.base import InstanceQuery
from litestar_workflows.web.access import load_instance, require_instance_user
from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.controllers.params import (
    TOTAL_HEADER,
    Acting,
    Engine,
    Limit,
    Offset,
    Registry,
    total_header,
)
from litestar_workflows.web.controllers.reads import InstanceReads, InstanceRepo, instance_reads
from litestar_workflows.web.disconnect import unless_client_leaves
from litestar_workflows.web.engine import WorkflowEngine, settled, start_key, start_or_get
from litestar_workflows.web.errors import error_responses, exception_handlers, outside_calendar
from litestar_workflows.web.identity import Actor
from litestar_workflows.web.long_poll import LongPollLimiter, client_of
from litestar_workflows.web.presenters import (
    CORRELATION_KEY,
    instance_detail,
    instance_graph,
    instance_summary,
)
from litestar_workflows.web.schemas import (
    CancelRequest,
    GraphOut,
    InstanceDetail,
    InstanceSummary,
    RetryRequest,
    StartWorkflowRequest,
)

__all__ = ("WorkflowInstanceController",)

MAX_WAIT_SECONDS = 30.0
"""Longest a ``GET /instances/{id}?wait=`` holds the request."""

# The paths declare ids as ``str`` and the handlers take UUIDs: an id that is not a UUID then fails
# Litestar's validation, which ``web.errors`` answers 404 naming the id (the router's ``:uuid`` would
# answer a bare "Not Found" before any of the API's handlers could say why).
InstanceId = FromPath[UUID]
Statuses = Annotated[
    list[WorkflowStatus] | None, QueryParameter(description="Only these statuses (repeatable)")
]
WorkflowName = Annotated[str | None, QueryParameter(description="Only instances of this workflow")]
WorkflowVersion = Annotated[
    str | None, QueryParameter(description="Only instances of this version of the workflow", max_length=255)
]
CurrentStep = Annotated[
    str | None, QueryParameter(description="Only instances at this step (running, waiting or failed there)")
]
CreatedBy = Annotated[str | None, QueryParameter(description="Only instances started by this user")]
After = Annotated[
    str | None,
    QueryParameter(
        description="Started at or after this ISO 8601 time (UTC when no zone is given)", format="date-time"
    ),
]
Before = Annotated[
    str | None,
    QueryParameter(
        description="Started before this ISO 8601 time (UTC when no zone is given)", format="date-time"
    ),
]
Wait = Annotated[
    float,
    QueryParameter(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the instance to settle (finish or wait for input) before answering",
    ),
]
START_SETTLE_SECONDS = 2.0
"""How long a start waits by default for the new instance to wait for input or finish."""
StartWait = Annotated[
    float,
    QueryParameter(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the new instance to settle (wait for input or finish) before "
        "answering; 0 answers once it is stored. It runs on either way",
    ),
]
Reason = Annotated[
    str | None,
    QueryParameter(
        description="Why it is canceled (as documented; a JSON body's `reason` works too)", max_length=2000
    ),
]
Until = Annotated[
    list[WorkflowStatus] | None,
    QueryParameter(
        description="With `wait`: the statuses to wait for (default: finished or waiting for input)"
    ),
]


def _moment(value: str | None, name: str) -> datetime | None:
    """Parse an ISO 8601 time strictly (not epoch numbers); without a zone it is UTC, like instances.

    A time whose UTC falls outside the calendar (``0001-01-01T00:00:00+01:00``) is refused too: the
    stores compare in UTC, and its conversion would fail there (as "database unavailable").

    Raises:
        ValidationException: Not such a time (400, naming the parameter).
    """
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        message = f"{name} must be an ISO 8601 date-time such as 2024-05-01T12:00:00Z"
        raise ValidationException(
            message, extra=[{"key": name, "message": message, "source": "query"}]
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    problem = outside_calendar(moment, name, value)
    if problem is not None:
        raise ValidationException(problem, extra=[{"key": name, "message": problem, "source": "query"}])
    return moment


def _creator(data: StartWorkflowRequest, actor: Actor) -> tuple[str | None, str | None]:
    """Creator and tenant of a new instance: the request's, which a body may only repeat.

    The body's ``user_id`` names the creator only in an app that identifies nobody (no
    authentication configured, as in the reference's examples); where users sign in, an
    anonymous request naming one is refused: anyone could file instances in another's name.
    With tenancy, ``tenant_id`` must be the request's.

    Raises:
        UnauthorizedError: The body names another user or tenant than the request acts for.
    """
    creator = actor.user_id
    if data.user_id is not None:
        if creator is not None and data.user_id != creator:
            raise UnauthorizedError(f"user_id {data.user_id!r} is not the authenticated user {creator!r}")
        if creator is None and actor.signs_in:
            raise UnauthorizedError(
                f"an anonymous request may not start a workflow as {data.user_id!r}: sign in as that user"
            )
        creator = data.user_id
    tenant = actor.tenant_id
    if data.tenant_id is not None:
        if tenant is not None and data.tenant_id != tenant:
            raise UnauthorizedError(f"tenant_id {data.tenant_id!r} is not the tenant of this request")
        tenant = data.tenant_id
    return creator, tenant


async def _settled(
    source: InstanceReads,
    engine: WorkflowEngine,
    instance: WorkflowInstanceData,
    wait: float,
    until: list[WorkflowStatus] | None,
) -> WorkflowInstanceData:
    """The instance once settled, waiting on the engine; read again from ``source`` afterwards.

    An instance the engine does not run (only in the app's repository) is answered as it is now.
    """
    if source is engine:
        return await settled(engine, instance, wait, until)
    with suppress(WorkflowInstanceNotFoundError):
        await settled(engine, instance, wait, until)
    return await source.get_instance(instance.id)


async def _settled_start(
    engine: WorkflowEngine, instance: WorkflowInstanceData, wait: float
) -> WorkflowInstanceData:
    """A new instance once it waits or has finished, or as it is after ``wait`` seconds.

    An app's own engine without ``wait`` (the documented API does not require one) answers at once.
    """
    if not callable(getattr(engine, "wait", None)):
        return instance
    return await settled(engine, instance, wait)


class WorkflowInstanceController(Controller):
    """Workflow instances of the acting tenant."""

    path = "/instances"
    dependencies = CONTROLLER_DEPENDENCIES
    exception_handlers = exception_handlers()  # also when mounted on the app's own router

    @post(
        "/",
        operation_id="startWorkflowInstance",
        summary="Start a workflow instance",
        status_code=HTTP_201_CREATED,
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=InstanceDetail,
                description="The workflow already has an instance with this correlation_id: that instance "
                "(nothing was started)",
                generate_examples=False,
            ),
            **error_responses(403, 404, 422, 503),
        },
    )
    async def start_instance(
        self,
        data: JSONBody[StartWorkflowRequest],
        workflow_engine: Engine,
        actor: Acting,
        wait: StartWait = START_SETTLE_SECONDS,
    ) -> Response[InstanceDetail]:
        """Start ``definition_name`` (newest version unless ``version``) with ``input_data``.

        Answers 201 once the new instance waits (for a task, a timer, a webhook) or has finished,
        or after ``wait`` seconds (2 by default, 0 for at once) while its
        steps still run: the answer says where it stands, whichever engine runs it. The acting
        user becomes its creator and the acting tenant its tenant (a body's ``user_id`` /
        ``tenant_id`` may only repeat them, or name the creator of an anonymous request).
        ``correlation_id`` makes the start idempotent: a workflow has at most one instance per
        ``correlation_id`` (and tenant); when it has one already, that instance is answered at
        once with 200 and nothing starts.
        """
        creator, tenant = _creator(data, actor)
        options: dict[str, Any] = {"version": data.version, "tenant_id": tenant, "created_by": creator}
        if data.correlation_id is None:
            instance = await workflow_engine.start_workflow(
                data.definition_name, data.input_data or {}, **options
            )
            instance = await _settled_start(workflow_engine, instance, wait)
            return Response(instance_detail(instance), status_code=HTTP_201_CREATED)
        instance, created = await start_or_get(
            workflow_engine,
            data.definition_name,
            data.input_data or {},
            key=start_key(data.correlation_id, tenant),
            metadata={CORRELATION_KEY: data.correlation_id},
            **options,
        )
        if created:
            instance = await _settled_start(workflow_engine, instance, wait)
        return Response(instance_detail(instance), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/",
        operation_id="listWorkflowInstances",
        summary="List workflow instances",
        responses=error_responses(403, 503),
        response_headers=total_header(),
    )
    async def list_instances(
        self,
        *,
        workflow_engine: Engine,
        actor: Acting,
        workflow_instance_repo: InstanceRepo = None,
        status: Statuses = None,
        workflow_name: WorkflowName = None,
        workflow_version: WorkflowVersion = None,
        created_by: CreatedBy = None,
        current_step: CurrentStep = None,
        started_after: After = None,
        started_before: Before = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Response[list[InstanceSummary]]:
        """Instances of the acting tenant, newest first, filtered and paginated (a JSON array).

        How many match in all is in the ``X-Total-Count`` header. Read from the app's
        ``workflow_instance_repo`` when it provides one, else from the engine.
        """
        query = InstanceQuery(
            status=status or None,
            workflow_name=workflow_name,
            workflow_version=workflow_version,
            created_by=created_by,
            current_step=current_step,
            started_after=_moment(started_after, "started_after"),
            started_before=_moment(started_before, "started_before"),
            tenant_id=actor.tenant_id,
            limit=limit,
            offset=offset,
        )
        page = await instance_reads(workflow_engine, workflow_instance_repo).find_instances(query)
        return Response([instance_summary(i) for i in page.items], headers={TOTAL_HEADER: str(page.total)})

    @get(
        "/{instance_id:str}",
        operation_id="getWorkflowInstance",
        summary="Get a workflow instance",
        responses=error_responses(403, 404, 429, 503),
    )
    async def get_instance(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        actor: Acting,
        instance_id: InstanceId,
        wait_limiter: NamedDependency[LongPollLimiter],
        workflow_instance_repo: InstanceRepo = None,
        wait: Wait = 0,
        until: Until = None,
    ) -> InstanceDetail:
        """The instance with its data and step history (``wait`` turns this into a long poll).

        A client holds at most ``max_waits_per_client`` long polls at once; one more answers 429.
        """
        source = instance_reads(workflow_engine, workflow_instance_repo)
        instance = await load_instance(source, actor, instance_id)
        if wait <= 0 or instance.is_finished:
            return instance_detail(instance)
        with wait_limiter.slot(client_of(request, actor)):
            waited = _settled(source, workflow_engine, instance, wait, until)
            settled_instance = await unless_client_leaves(request, waited)
        # A client that left gets no answer; the slot and the engine's waiter are free again.
        return instance_detail(instance if settled_instance is None else settled_instance)

    @get(
        "/{instance_id:str}/graph",
        operation_id="getWorkflowInstanceGraph",
        summary="Get a workflow instance's graph with its progress",
        responses=error_responses(403, 404, 503),
    )
    async def get_instance_graph(
        self,
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        instance_id: InstanceId,
        workflow_instance_repo: InstanceRepo = None,
    ) -> GraphOut:
        """The instance's workflow as Mermaid, steps styled completed, failed, skipped, waiting or current."""
        source = instance_reads(workflow_engine, workflow_instance_repo)
        instance = await load_instance(source, actor, instance_id)
        definition = workflow_registry.get_definition(instance.workflow_name, instance.workflow_version)
        return instance_graph(definition, instance)

    @post(
        "/{instance_id:str}/cancel",
        operation_id="cancelWorkflowInstance",
        summary="Cancel a workflow instance",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def cancel_instance(
        self,
        workflow_engine: Engine,
        actor: Acting,
        instance_id: InstanceId,
        data: JSONBody[CancelRequest | None] = None,
        reason: Reason = None,
    ) -> InstanceDetail:
        """Cancel a running, waiting or paused instance; its pending tasks are canceled too.

        Only users the engine's instance authorizer allows (by default the instance's creator
        and administrators) may; anyone else gets 403.
        """
        await load_instance(workflow_engine, actor, instance_id)
        user = require_instance_user(actor, "cancel")
        why = data.reason if data is not None and data.reason else reason or ""
        canceled = await workflow_engine.cancel_workflow(instance_id, why, user_id=user, groups=actor.groups)
        return instance_detail(canceled)

    @post(
        "/{instance_id:str}/retry",
        operation_id="retryWorkflowInstance",
        summary="Retry a failed workflow instance",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def retry_instance(
        self,
        workflow_engine: Engine,
        actor: Acting,
        instance_id: InstanceId,
        data: JSONBody[RetryRequest | None] = None,
    ) -> InstanceDetail:
        """Run a failed instance again from its failed step (or ``from_step``) with its data as it was.

        Allowed to the same users as cancel (by default the creator and administrators).
        """
        await load_instance(workflow_engine, actor, instance_id)
        user = require_instance_user(actor, "retry")
        from_step = data.from_step if data is not None else None
        retried = await workflow_engine.retry(instance_id, from_step, user_id=user, groups=actor.groups)
        return instance_detail(retried)

    @post(
        "/{instance_id:str}/pause",
        operation_id="pauseWorkflowInstance",
        summary="Pause a workflow instance",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def pause_instance(
        self, workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> InstanceDetail:
        """Hold a running or waiting instance: steps already running finish, nothing new starts.

        Allowed to the same users as cancel (by default the creator and administrators); a
        finished or already paused instance answers 409.
        """
        await load_instance(workflow_engine, actor, instance_id)
        user = require_instance_user(actor, "pause")
        paused = await workflow_engine.pause_workflow(instance_id, user_id=user, groups=actor.groups)
        return instance_detail(paused)

    @post(
        "/{instance_id:str}/resume",
        operation_id="resumeWorkflowInstance",
        summary="Resume a paused workflow instance",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def resume_instance(
        self, workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> InstanceDetail:
        """Continue a paused instance where it stopped (409 when it is not paused)."""
        await load_instance(workflow_engine, actor, instance_id)
        user = require_instance_user(actor, "resume")
        resumed = await workflow_engine.resume_workflow(instance_id, user_id=user, groups=actor.groups)
        return instance_detail(resumed)
