"""The reference package's core API on our classes: errors, events, definitions, graphs, registry.

Code written for the documented API passes domain arguments to errors, builds definitions that may
be invalid and asks them what is wrong, and registers the same workflow twice. These tests pin the
behaviour we give such code, and that our own call forms keep working beside it.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowValidationError,
)
from litestar_workflows.core.events import (
    HumanTaskCompleted,
    HumanTaskCreated,
    HumanTaskReassigned,
    WorkflowCanceled,
    WorkflowCompleted,
)
from litestar_workflows.engine.graph import WorkflowGraph
from litestar_workflows.exceptions import (
    InvalidTransitionError,
    NonRetryableError,
    StepExecutionError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
)
from step_kit import Fn

# --- errors ----------------------------------------------------------------------------------------


def test_step_execution_error_takes_a_step_name_and_a_cause() -> None:
    cause = ValueError("disk full")
    error = StepExecutionError("upload", cause=cause)
    assert (error.step_name, error.cause) == ("upload", cause)
    assert str(error) == "step 'upload' failed: disk full"
    positional = StepExecutionError("upload", cause)
    assert (positional.step_name, positional.cause) == ("upload", cause)


def test_step_execution_error_keeps_our_detail_form() -> None:
    error = StepExecutionError("the upload timed out", "upload")
    assert (str(error), error.step_name, error.cause) == ("the upload timed out", "upload", None)
    # Errors step code raises with a message keep it word for word, even without a space.
    assert str(NonRetryableError("declined")) == "declined"
    restored = pickle.loads(pickle.dumps(StepExecutionError("upload", cause=cause_of("x"))))
    assert (restored.step_name, str(restored)) == ("upload", "step 'upload' failed: x")


def cause_of(text: str) -> Exception:
    return RuntimeError(text)


def test_transition_errors_take_steps_or_a_detail() -> None:
    error = InvalidTransitionError("review", "publish", reason="no edge")
    assert (error.from_step, error.to_step, error.reason) == ("review", "publish", "no edge")
    assert str(error) == "invalid transition from 'review' to 'publish': no edge"
    assert str(InvalidTransitionError("instance x is paused; resume it first")) == (
        "instance x is paused; resume it first"
    )
    instance_id = uuid4()
    done = WorkflowAlreadyCompletedError(instance_id, "failed")
    assert (done.instance_id, done.status) == (instance_id, "failed")
    assert str(done) == f"workflow instance {instance_id} is already failed"
    assert str(WorkflowAlreadyCompletedError("cannot cancel instance x: it is already completed")).startswith(
        "cannot cancel"
    )
    assert pickle.loads(pickle.dumps(done)).status == "failed"


def test_task_errors_take_ids_or_a_detail() -> None:
    task_id = uuid4()
    missing = TaskNotFoundError(task_id)
    assert missing.task_id == task_id
    assert str(missing) == f"task {task_id} not found"
    assert isinstance(missing, KeyError)
    assert str(TaskAlreadyCompletedError(task_id)) == f"task {task_id} is already completed"
    denied = UnauthorizedTaskError(task_id, "bob")
    assert (denied.task_id, denied.user_id) == (task_id, "bob")
    assert str(denied) == f"user 'bob' is not authorized to act on task {task_id}"
    assert str(TaskNotFoundError("task 7 does not exist")) == "task 7 does not exist"
    assert TaskNotFoundError("task 7 does not exist").task_id is None
    assert str(UnauthorizedTaskError("a user id is required")) == "a user id is required"


def test_validation_error_takes_a_list_of_problems() -> None:
    error = WorkflowValidationError(["no initial step", "edge 1 is broken"])
    assert error.errors == ["no initial step", "edge 1 is broken"]
    assert str(error) == "no initial step; edge 1 is broken"
    assert WorkflowValidationError("one problem").errors == ["one problem"]


def test_instance_not_found_says_not_found() -> None:
    assert str(WorkflowInstanceNotFoundError("abc")) == "workflow instance abc not found"


# --- events ----------------------------------------------------------------------------------------


def test_events_take_instance_id_and_timestamp_positionally_and_the_reference_fields() -> None:
    instance_id, now = uuid4(), datetime.now(UTC)
    completed = WorkflowCompleted(instance_id, now, status="completed", final_step="end")
    assert (completed.instance_id, completed.timestamp, completed.final_step) == (instance_id, now, "end")
    assert WorkflowCanceled(instance_id, reason="r", canceled_by="ann").canceled_by == "ann"
    with pytest.raises(TypeError):
        WorkflowCompleted(instance_id, now, "wf")  # type: ignore[misc]  # everything else is a keyword


def test_event_fields_under_both_names_agree() -> None:
    instance_id = uuid4()
    moved = HumanTaskReassigned(instance_id, from_assignee="ann", to_assignee="bob")
    assert (moved.previous_assignee, moved.new_assignee) == ("ann", "bob")
    ours = HumanTaskReassigned(instance_id, previous_assignee="ann", new_assignee="bob")
    assert (ours.from_assignee, ours.to_assignee) == ("ann", "bob")
    assert HumanTaskCompleted(instance_id, form_data={"ok": True}).data == {"ok": True}
    assert HumanTaskCompleted(instance_id, data={"ok": True}).form_data == {"ok": True}
    assert HumanTaskCreated(instance_id, assignee="ann").assignee_id == "ann"
    assert HumanTaskCreated(instance_id, assignee_id="ann").assignee == "ann"


# --- definitions and graphs ------------------------------------------------------------------------


def broken() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="broken",
        steps={"a": Fn("a"), "b": Fn("b"), "island": Fn("island"), "spare_end": Fn("spare_end")},
        edges=[Edge("a", "b"), Edge("ghost", "a"), Edge("b", "nowhere")],
        initial_step="missing",
        terminal_steps={"b", "phantom", "spare_end"},
    )


def test_an_invalid_definition_can_be_built_and_lists_every_problem() -> None:
    problems = broken().validate()
    assert problems == [
        "Initial step 'missing' not found in steps",
        "Edge 1: source step 'ghost' not found (edge 'ghost' -> 'a')",
        "Edge 2: target step 'nowhere' not found (edge 'b' -> 'nowhere')",
        "Terminal step 'phantom' not found in steps",
    ]
    with pytest.raises(WorkflowValidationError) as raised:
        broken().ensure_valid()
    assert raised.value.errors == problems


def test_unreachable_steps_are_reported_but_not_an_unused_terminal_step() -> None:
    definition = WorkflowDefinition(
        name="islands",
        steps=[Fn("a"), Fn("b"), Fn("island"), Fn("spare_end")],
        edges=[Edge("a", "b")],
        initial_step="a",
        terminal_steps={"b", "spare_end"},
    )
    assert definition.validate() == ["Step 'island' is unreachable from initial step 'a'"]


def test_registration_refuses_an_invalid_definition_with_all_its_problems() -> None:
    registry = WorkflowRegistry()
    with pytest.raises(WorkflowValidationError) as raised:
        registry.register_definition(broken())
    assert len(raised.value.errors) == 4
    assert not registry.has_definition("broken")


def test_get_next_steps_evaluates_conditions_including_bare_names() -> None:
    definition = WorkflowDefinition(
        name="route",
        steps=[Fn("review"), Fn("publish"), Fn("reject")],
        edges=[Edge("review", "publish", "approved"), Edge("review", "reject", "not approved")],
        initial_step="review",
    )
    context = WorkflowContext(workflow_id="route", instance_id=uuid4(), data={"approved": True})
    assert definition.get_next_steps("review", context) == ["publish"]
    context.set("approved", False)
    assert definition.get_next_steps("review", context) == ["reject"]
    assert definition.get_next_steps("publish", context) == []
    assert WorkflowGraph(definition).get_next_steps("review", context) == ["reject"]


def diamond() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="diamond",
        steps=[Fn("start"), Fn("left"), Fn("right"), Fn("join"), Fn("loose")],
        edges=[
            Edge("start", "left"),
            Edge("start", "right"),
            Edge("left", "join"),
            Edge("right", "join"),
            Edge("join", "start", "context.get('again')"),
            Edge("right", "loose"),
        ],
        initial_step="start",
    )


def test_graph_built_from_a_definition_answers_the_reference_questions() -> None:
    graph = WorkflowGraph(diamond())
    assert graph.definition.name == "diamond"
    assert WorkflowGraph.from_definition(diamond()).get_successors("start") == ["left", "right"]
    assert sorted(graph.get_previous_steps("join")) == ["left", "right"]
    assert graph.get_all_paths("start", "join") == [["start", "left", "join"], ["start", "right", "join"]]
    assert graph.get_all_paths("start", "join", max_paths=1) == [["start", "left", "join"]]
    assert [graph.get_step_depth(n) for n in ("start", "left", "join", "loose")] == [0, 1, 2, 2]
    # "loose" ends its branch without being declared terminal: only the graph's stricter check says so.
    assert diamond().validate() == []
    assert graph.validate() == ["Step 'loose' has no outgoing edges but is not marked as terminal"]


def test_graph_of_an_invalid_definition_reports_instead_of_crashing() -> None:
    graph = WorkflowGraph(broken())
    assert graph.get_step_depth("a") == -1
    assert graph.get_successors("b") == []  # the edge to 'nowhere' is left out of the analysis
    assert graph.validate()[:4] == broken().validate()


# --- registration is idempotent ---------------------------------------------------------------------


class Approval:
    __workflow_name__ = "approval"
    __workflow_version__ = "1.0.0"

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        # A new (equal) object on every call, as the documented classes build theirs.
        return WorkflowDefinition(
            name="approval",
            steps=[Fn("submit"), BaseHumanStep("approve", title="Approve")],
            edges=[Edge("submit", "approve")],
            initial_step="submit",
        )


def test_registering_the_same_workflow_again_is_a_no_op() -> None:
    registry = WorkflowRegistry()
    first = registry.register_definition(Approval.get_definition())
    assert registry.register_workflow_class(Approval) is first
    assert registry.register_definition(Approval.get_definition()) is first
    assert registry.get_versions("approval") == ["1.0.0"]
    assert registry.get_workflow_class("approval") is Approval


def test_a_different_definition_under_the_same_name_and_version_is_refused() -> None:
    registry = WorkflowRegistry()
    registry.register_workflow_class(Approval)
    changed = Approval.get_definition()
    changed.edges.append(Edge("approve", "submit", "context.get('rework')"))
    with pytest.raises(WorkflowValidationError, match="already registered"):
        registry.register_definition(changed)


def test_registry_edge_cases_follow_the_reference() -> None:
    registry = WorkflowRegistry()
    with pytest.raises(KeyError):
        registry.get_versions("unknown")
    registry.unregister("unknown")  # nothing to remove: a no-op
    registry.unregister("unknown", "1.0.0")


def test_edges_compare_by_value() -> None:
    assert Edge("a", "b") == Edge("a", "b")
    assert Edge("a", "b") != Edge("a", "c")
    assert Edge("a", "b", "approved") != Edge("a", "b")
    assert len({Edge("a", "b"), Edge("a", "b")}) == 1


def test_validation_sees_changes_made_after_the_definition_was_built() -> None:
    definition = WorkflowDefinition(name="grow", steps=[Fn("a"), Fn("b")], edges=[], initial_step="a")
    assert definition.validate() == ["Step 'b' is unreachable from initial step 'a'"]
    definition.edges.append(Edge("a", "b"))
    assert definition.validate() == []
    WorkflowRegistry().register_definition(definition)
    assert definition.graph.get_successors("a") == ["b"]
