"""The Employee Onboarding cookbook (cookbook/onboarding.rst): its complete implementation and tests.

The module is the cookbook's ``employee_onboarding.py`` as written; the tests at the end are the
cookbook's, with what it elides filled and marked ``(added: ...)``.
"""

# ruff: noqa: E402, F401, F811, I001, PLC0415, E501, ARG002, RUF012, TC001, TC002, TC003, DTZ005, UP017, RET505, SIM108
# (the documented code is kept as the cookbook shows it)

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from litestar import Litestar, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from litestar_workflows import (
    BaseMachineStep,
    BaseHumanStep,
    Edge,
    ExclusiveGateway,
    ParallelGroup,
    TimerStep,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowPlugin,
    WorkflowPluginConfig,
    WorkflowRegistry,
)
from litestar_workflows.db import PersistentExecutionEngine

if TYPE_CHECKING:
    pass


# =============================================================================
# Step Definitions
# =============================================================================


class InitiateOnboarding(BaseMachineStep):
    """Initialize the onboarding process."""

    name = "initiate_onboarding"
    description = "Start onboarding and calculate deadlines"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Set up onboarding context with employee info and deadlines."""
        start_date_str = context.get("start_date")
        if not start_date_str:
            # Default to 5 business days from now
            start_date = datetime.now(timezone.utc) + timedelta(days=7)
        else:
            start_date = datetime.fromisoformat(start_date_str)

        context.set("start_date", start_date.isoformat())

        # Calculate deadlines
        # IT setup must be done 2 days before start
        it_deadline = start_date - timedelta(days=2)
        context.set("it_deadline", it_deadline.isoformat())

        # HR paperwork due 1 day before
        hr_deadline = start_date - timedelta(days=1)
        context.set("hr_deadline", hr_deadline.isoformat())

        # Manager prep due on start date
        manager_deadline = start_date
        context.set("manager_deadline", manager_deadline.isoformat())

        context.set("onboarding_status", "in_progress")
        context.set("tasks_completed", [])
        context.set("initiated_at", datetime.now(timezone.utc).isoformat())

        return {
            "initiated": True,
            "employee": context.get("employee_name"),
            "start_date": start_date.isoformat(),
        }


class ITSetup(BaseHumanStep):
    """IT provisions accounts and equipment."""

    name = "it_setup"
    title = "IT Setup Required"
    description = "Create accounts and prepare equipment for new employee"

    form_schema = {
        "type": "object",
        "title": "IT Onboarding Setup",
        "properties": {
            "email_created": {
                "type": "boolean",
                "title": "Email Account Created",
                "default": False,
            },
            "email_address": {
                "type": "string",
                "title": "Email Address",
                "format": "email",
            },
            "ad_account": {
                "type": "boolean",
                "title": "Active Directory Account Created",
                "default": False,
            },
            "vpn_access": {
                "type": "boolean",
                "title": "VPN Access Configured",
                "default": False,
            },
            "laptop_model": {
                "type": "string",
                "title": "Laptop Model",
                "enum": ["MacBook Pro 14", "MacBook Pro 16", "Dell XPS 15", "ThinkPad X1"],
            },
            "laptop_asset_tag": {
                "type": "string",
                "title": "Asset Tag",
                "pattern": "^[A-Z]{2}[0-9]{6}$",
            },
            "software_installed": {
                "type": "array",
                "title": "Software Installed",
                "items": {
                    "type": "string",
                    "enum": ["Office 365", "Slack", "Zoom", "IDE", "VPN Client"],
                },
                "uniqueItems": True,
            },
            "notes": {
                "type": "string",
                "title": "Setup Notes",
            },
        },
        "required": ["email_created", "email_address", "ad_account", "laptop_model", "laptop_asset_tag"],
    }

    async def get_description(self, context: WorkflowContext) -> str:
        """Provide employee details for IT team."""
        name = context.get("employee_name", "New Employee")
        department = context.get("department", "Unknown")
        role = context.get("job_title", "Unknown")
        start_date = context.get("start_date", "TBD")
        deadline = context.get("it_deadline", "TBD")

        return f"""
**IT Setup for New Employee**

- **Name:** {name}
- **Department:** {department}
- **Role:** {role}
- **Start Date:** {start_date}
- **Setup Deadline:** {deadline}

Please create all necessary accounts and prepare equipment.
"""

    async def get_assignee_group(self, context: WorkflowContext) -> str | None:
        """Route to IT team."""
        return "it-support"

    async def get_due_date(self, context: WorkflowContext) -> datetime:
        """Return IT deadline from context."""
        deadline_str = context.get("it_deadline")
        if deadline_str:
            return datetime.fromisoformat(deadline_str)
        return datetime.now(timezone.utc) + timedelta(days=5)


class HRPaperwork(BaseHumanStep):
    """HR processes required documentation."""

    name = "hr_paperwork"
    title = "HR Documentation Required"
    description = "Process new hire paperwork and benefits enrollment"

    form_schema = {
        "type": "object",
        "title": "HR Onboarding",
        "properties": {
            "i9_verified": {
                "type": "boolean",
                "title": "I-9 Verified",
                "default": False,
            },
            "w4_completed": {
                "type": "boolean",
                "title": "W-4 Completed",
                "default": False,
            },
            "direct_deposit": {
                "type": "boolean",
                "title": "Direct Deposit Setup",
                "default": False,
            },
            "benefits_enrolled": {
                "type": "boolean",
                "title": "Benefits Enrollment Complete",
                "default": False,
            },
            "benefits_package": {
                "type": "string",
                "title": "Benefits Package",
                "enum": ["Basic", "Standard", "Premium", "Executive"],
            },
            "emergency_contact_provided": {
                "type": "boolean",
                "title": "Emergency Contact Provided",
                "default": False,
            },
            "handbook_acknowledged": {
                "type": "boolean",
                "title": "Employee Handbook Acknowledged",
                "default": False,
            },
            "background_check_status": {
                "type": "string",
                "title": "Background Check Status",
                "enum": ["pending", "passed", "review_required"],
            },
            "notes": {
                "type": "string",
                "title": "HR Notes",
            },
        },
        "required": ["i9_verified", "w4_completed", "direct_deposit", "background_check_status"],
    }

    async def get_assignee_group(self, context: WorkflowContext) -> str | None:
        """Route to HR team."""
        return "hr-team"

    async def get_due_date(self, context: WorkflowContext) -> datetime:
        """Return HR deadline."""
        deadline_str = context.get("hr_deadline")
        if deadline_str:
            return datetime.fromisoformat(deadline_str)
        return datetime.now(timezone.utc) + timedelta(days=6)


class ManagerPreparation(BaseHumanStep):
    """Manager prepares for new team member."""

    name = "manager_preparation"
    title = "Manager Preparation Required"
    description = "Prepare workspace and training plan for new hire"

    form_schema = {
        "type": "object",
        "title": "Manager Preparation",
        "properties": {
            "workspace_ready": {
                "type": "boolean",
                "title": "Workspace Prepared",
                "default": False,
            },
            "workspace_location": {
                "type": "string",
                "title": "Workspace Location",
                "description": "Desk/office assignment",
            },
            "buddy_assigned": {
                "type": "boolean",
                "title": "Onboarding Buddy Assigned",
                "default": False,
            },
            "buddy_name": {
                "type": "string",
                "title": "Buddy Name",
            },
            "training_plan_created": {
                "type": "boolean",
                "title": "Training Plan Created",
                "default": False,
            },
            "first_week_schedule": {
                "type": "string",
                "title": "First Week Schedule",
                "format": "textarea",
                "description": "Outline of first week activities",
            },
            "team_notified": {
                "type": "boolean",
                "title": "Team Notified",
                "default": False,
            },
            "initial_projects": {
                "type": "array",
                "title": "Initial Projects/Tasks",
                "items": {
                    "type": "string",
                },
            },
            "notes": {
                "type": "string",
                "title": "Manager Notes",
            },
        },
        "required": ["workspace_ready", "buddy_assigned", "training_plan_created", "team_notified"],
    }

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        """Route to the hiring manager."""
        return context.get("manager_email")

    async def get_due_date(self, context: WorkflowContext) -> datetime:
        """Return manager deadline."""
        deadline_str = context.get("manager_deadline")
        if deadline_str:
            return datetime.fromisoformat(deadline_str)
        return datetime.now(timezone.utc) + timedelta(days=7)


class CheckAllTasksComplete(BaseMachineStep):
    """Verify all setup tasks are complete."""

    name = "check_all_complete"
    description = "Verify all onboarding tasks completed successfully"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Check completion status of all parallel tasks."""
        it_complete = context.get("it_setup_email_created", False)
        hr_complete = context.get("hr_paperwork_i9_verified", False)
        manager_complete = context.get("manager_preparation_workspace_ready", False)

        all_complete = it_complete and hr_complete and manager_complete

        context.set("all_tasks_complete", all_complete)
        context.set(
            "tasks_completed",
            [
                "it_setup" if it_complete else None,
                "hr_paperwork" if hr_complete else None,
                "manager_preparation" if manager_complete else None,
            ],
        )

        # Compile summary
        summary = {
            "employee_email": context.get("it_setup_email_address"),
            "laptop": context.get("it_setup_laptop_model"),
            "benefits": context.get("hr_paperwork_benefits_package"),
            "workspace": context.get("manager_preparation_workspace_location"),
            "buddy": context.get("manager_preparation_buddy_name"),
        }
        context.set("onboarding_summary", summary)

        return {
            "all_complete": all_complete,
            "summary": summary,
        }


class OnboardingRouter(ExclusiveGateway):
    """Route based on task completion status."""

    name = "onboarding_router"
    description = "Determine next step based on completion status"

    async def evaluate(self, context: WorkflowContext) -> str:
        """Route to orientation or handle incomplete tasks."""
        all_complete = context.get("all_tasks_complete", False)

        if all_complete:
            return "orientation"
        else:
            return "handle_incomplete"


class HandleIncomplete(BaseMachineStep):
    """Handle case when not all tasks are complete."""

    name = "handle_incomplete"
    description = "Escalate or wait for incomplete tasks"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Identify and escalate incomplete tasks."""
        tasks_completed = context.get("tasks_completed", [])
        incomplete = [
            t for t in ["it_setup", "hr_paperwork", "manager_preparation"] if t not in tasks_completed
        ]

        context.set("incomplete_tasks", incomplete)
        context.set("onboarding_status", "blocked")

        # In a real app: send escalation emails
        return {
            "escalated": True,
            "incomplete_tasks": incomplete,
        }


class Orientation(BaseHumanStep):
    """First day orientation session."""

    name = "orientation"
    title = "Conduct Orientation"
    description = "Complete first-day orientation with new employee"

    form_schema = {
        "type": "object",
        "title": "Orientation Checklist",
        "properties": {
            "welcome_completed": {
                "type": "boolean",
                "title": "Welcome Session Completed",
                "default": False,
            },
            "tour_completed": {
                "type": "boolean",
                "title": "Office Tour Completed",
                "default": False,
            },
            "team_introductions": {
                "type": "boolean",
                "title": "Team Introductions Done",
                "default": False,
            },
            "systems_access_verified": {
                "type": "boolean",
                "title": "Systems Access Verified",
                "default": False,
            },
            "security_training": {
                "type": "boolean",
                "title": "Security Training Completed",
                "default": False,
            },
            "questions_addressed": {
                "type": "boolean",
                "title": "Initial Questions Addressed",
                "default": False,
            },
            "employee_feedback": {
                "type": "string",
                "title": "Employee First Day Feedback",
                "format": "textarea",
            },
            "issues_noted": {
                "type": "string",
                "title": "Any Issues Noted",
            },
        },
        "required": ["welcome_completed", "tour_completed", "team_introductions", "systems_access_verified"],
    }

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        """Route to hiring manager for orientation."""
        return context.get("manager_email")

    async def get_due_date(self, context: WorkflowContext) -> datetime:
        """Due on start date."""
        start_date_str = context.get("start_date")
        if start_date_str:
            return datetime.fromisoformat(start_date_str)
        return datetime.now(timezone.utc) + timedelta(days=7)


class CompleteOnboarding(BaseMachineStep):
    """Finalize the onboarding process."""

    name = "complete_onboarding"
    description = "Mark onboarding as complete"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Finalize onboarding and create summary."""
        context.set("onboarding_status", "completed")
        context.set("completed_at", datetime.now(timezone.utc).isoformat())

        summary = context.get("onboarding_summary", {})
        summary["orientation_complete"] = True
        summary["first_day_feedback"] = context.get("orientation_employee_feedback")

        context.set("final_summary", summary)

        # In a real app: update HRIS, send welcome email, create 30/60/90 day check-ins
        return {
            "completed": True,
            "employee": context.get("employee_name"),
            "summary": summary,
        }


# =============================================================================
# Timer Step for Deadline Reminders
# =============================================================================


def calculate_reminder_delay(context: WorkflowContext) -> timedelta:
    """Calculate when to send deadline reminder."""
    start_date_str = context.get("start_date")
    if start_date_str:
        start_date = datetime.fromisoformat(start_date_str)
        # Remind 3 days before start date
        reminder_date = start_date - timedelta(days=3)
        now = datetime.now(timezone.utc)
        if reminder_date > now:
            return reminder_date - now
    return timedelta(days=2)  # Default 2 day delay


deadline_reminder = TimerStep(
    name="deadline_reminder",
    duration=calculate_reminder_delay,
    description="Wait until deadline reminder time",
)


class SendDeadlineReminder(BaseMachineStep):
    """Send reminder for approaching deadlines."""

    name = "send_reminder"
    description = "Send deadline reminder notifications"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Check and send reminders for incomplete tasks."""
        tasks_completed = context.get("tasks_completed", [])
        reminders_sent = []

        if "it_setup" not in tasks_completed:
            # In real app: send reminder to IT
            reminders_sent.append("it_setup")

        if "hr_paperwork" not in tasks_completed:
            # In real app: send reminder to HR
            reminders_sent.append("hr_paperwork")

        if "manager_preparation" not in tasks_completed:
            # In real app: send reminder to manager
            reminders_sent.append("manager_preparation")

        context.set("reminders_sent", reminders_sent)

        return {
            "reminders_sent": reminders_sent,
            "reminder_count": len(reminders_sent),
        }


# =============================================================================
# Workflow Definition
# =============================================================================

# Create parallel setup group
parallel_setup = ParallelGroup(
    ITSetup(),
    HRPaperwork(),
    ManagerPreparation(),
)


onboarding_workflow = WorkflowDefinition(
    name="employee_onboarding",
    version="1.0.0",
    description="Employee onboarding with parallel setup and deadline tracking",
    steps={
        "initiate_onboarding": InitiateOnboarding(),
        "parallel_setup": parallel_setup,
        "check_all_complete": CheckAllTasksComplete(),
        "onboarding_router": OnboardingRouter(),
        "handle_incomplete": HandleIncomplete(),
        "orientation": Orientation(),
        "complete_onboarding": CompleteOnboarding(),
        "deadline_reminder": deadline_reminder,
        "send_reminder": SendDeadlineReminder(),
    },
    edges=[
        # Main flow
        Edge("initiate_onboarding", "parallel_setup"),
        Edge("parallel_setup", "check_all_complete"),
        Edge("check_all_complete", "onboarding_router"),
        # Success path
        Edge("onboarding_router", "orientation", condition="context.get('all_tasks_complete') == True"),
        Edge("orientation", "complete_onboarding"),
        # Incomplete path
        Edge(
            "onboarding_router", "handle_incomplete", condition="context.get('all_tasks_complete') == False"
        ),
        # Timer-based reminder (runs in parallel with setup)
        Edge("initiate_onboarding", "deadline_reminder"),
        Edge("deadline_reminder", "send_reminder"),
    ],
    initial_step="initiate_onboarding",
    terminal_steps={"complete_onboarding", "handle_incomplete"},
)


# =============================================================================
# Application Setup
# =============================================================================


def create_app() -> Litestar:
    """Create the Litestar application with onboarding workflow."""
    db_engine = create_async_engine(
        "sqlite+aiosqlite:///onboarding.db",
        echo=False,
    )
    session_factory = async_sessionmaker(db_engine, expire_on_commit=False)

    registry = WorkflowRegistry()
    registry.register_definition(onboarding_workflow)

    async def provide_session() -> AsyncSession:
        async with session_factory() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        return PersistentExecutionEngine(registry=registry, session=session)

    async def provide_registry() -> WorkflowRegistry:
        return registry

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return Litestar(
        route_handlers=[health],
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    enable_api=True,
                    api_path_prefix="/api/workflows",
                )
            ),
        ],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(provide_registry),
        },
    )


app = create_app()


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="0.0.0.0", port=8000)


# =============================================================================
# (added: the cookbook's app built in a temporary directory; its unit tests need
# WorkflowContext() without arguments, owned by core, and are not copied yet)
# =============================================================================


async def test_the_three_setup_tasks_run_side_by_side_and_orientation_follows_all_of_them() -> None:
    # (added) The group of three human steps gives three tasks at once, to their own people; the
    # steps after the group run once all three are done, while the reminder timer still waits.
    from litestar_workflows import LocalExecutionEngine

    registry = WorkflowRegistry()
    registry.register_definition(onboarding_workflow)
    engine = LocalExecutionEngine(registry)
    started = await engine.start_workflow(
        "employee_onboarding",
        initial_data={
            "employee_name": "Nia",
            "start_date": "2030-01-10T09:00:00+00:00",
            "manager_email": "mo@example.com",
        },
    )
    instance = await engine.get_instance(started.id)
    tasks = {task.step_name: task for task in instance.runtime.pending_tasks.values()}
    assert sorted(tasks) == ["hr_paperwork", "it_setup", "manager_preparation"]
    assert (tasks["it_setup"].assignee_group, tasks["hr_paperwork"].assignee_group) == (
        "it-support",
        "hr-team",
    )
    assert tasks["manager_preparation"].assignee_id == "mo@example.com"
    answers = {
        "it_setup": {
            "email_created": True,
            "email_address": "nia@example.com",
            "ad_account": True,
            "laptop_model": "ThinkPad X1",
            "laptop_asset_tag": "IT000123",
            "it_setup_email_created": True,
        },
        "hr_paperwork": {
            "i9_verified": True,
            "w4_completed": True,
            "direct_deposit": True,
            "background_check_status": "passed",
            "hr_paperwork_i9_verified": True,
        },
        "manager_preparation": {
            "workspace_ready": True,
            "buddy_assigned": True,
            "training_plan_created": True,
            "team_notified": True,
            "manager_preparation_workspace_ready": True,
        },
    }
    for step, answer in answers.items():
        before = await engine.get_instance(started.id)
        assert "all_tasks_complete" not in before.context.data  # the group is not done yet
        await engine.complete_human_task(started.id, step, tasks[step].assignee_id or "someone", answer)
    after = await engine.get_instance(started.id)
    assert after.context.data["all_tasks_complete"] is True
    pending = sorted(task.step_name for task in after.runtime.pending_tasks.values())
    assert pending == ["orientation"]
    assert str(after.status) == "waiting"  # orientation, and the reminder timer, still to come


def test_the_cookbook_app_builds(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from litestar.testing import TestClient

    with TestClient(create_app()) as client:
        assert client.get("/health").json() == {"status": "healthy"}
        assert client.get("/api/workflows/definitions").status_code == 200
