"""The Simple Workflow guide's examples (guides/simple-workflow.rst), run as written.

The guide's ``steps.py`` / ``workflow.py`` / ``engine_setup.py`` / ``main.py`` blocks import each
other relatively (``from .steps import ...``); here they share this module instead. The Litestar
``app.py`` block needs pydantic, which is no dependency of ours, and is not run.
"""

# ruff: noqa: E402, F401, F811, F841, I001, RET504, T201, DTZ005, TRY003, EM102, BLE001
# (the documented code is kept as the guide shows it)

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import uuid4

import pytest

from litestar_workflows import WorkflowStatus

# ----------------------------------------------------------------------------- steps.py

from litestar_workflows import BaseMachineStep, WorkflowContext


class ValidateDocument(BaseMachineStep):
    """Validate document metadata and content."""

    name = "validate"
    description = "Validate document meets requirements"

    async def execute(self, context: WorkflowContext) -> None:
        # Get document data from context
        document = context.get("document", {})

        # Validate required fields
        errors = []
        if not document.get("title"):
            errors.append("Title is required")
        if not document.get("content"):
            errors.append("Content is required")
        if len(document.get("content", "")) < 10:
            errors.append("Content must be at least 10 characters")

        # Store validation results
        context.set("validation_errors", errors)
        context.set("is_valid", len(errors) == 0)

        # Fail if validation errors
        if errors:
            raise ValueError(f"Validation failed: {', '.join(errors)}")

    async def can_execute(self, context: WorkflowContext) -> bool:
        """Only run if document exists."""
        return context.get("document") is not None


class ProcessDocument(BaseMachineStep):
    """Transform document content."""

    name = "process"
    description = "Process and transform document"

    async def execute(self, context: WorkflowContext) -> None:
        document = context.get("document", {})

        # Simulate processing
        processed_content = document["content"].upper()
        word_count = len(document["content"].split())

        # Store results
        context.set("processed_content", processed_content)
        context.set("word_count", word_count)
        context.set("processed_at", datetime.now().isoformat())


class StoreDocument(BaseMachineStep):
    """Persist document to storage."""

    name = "store"
    description = "Save document to database"

    async def execute(self, context: WorkflowContext) -> None:
        document = context.get("document", {})
        processed_content = context.get("processed_content")

        # Simulate storage (replace with actual database call)
        document_id = f"doc-{uuid4().hex[:8]}"

        context.set("document_id", document_id)
        context.set("stored", True)


class NotifyComplete(BaseMachineStep):
    """Send completion notification."""

    name = "notify"
    description = "Send notification on completion"

    async def execute(self, context: WorkflowContext) -> None:
        document_id = context.get("document_id")
        word_count = context.get("word_count")

        # Simulate notification (replace with actual service)
        notification = {
            "type": "document_processed",
            "document_id": document_id,
            "word_count": word_count,
            "message": f"Document {document_id} processed successfully",
        }

        context.set("notification", notification)
        context.set("notified", True)


# ----------------------------------------------------------------------------- workflow.py

from litestar_workflows import WorkflowDefinition, Edge

document_workflow = WorkflowDefinition(
    name="document_processing",
    version="1.0.0",
    description="Validate, process, store, and notify for documents",
    steps={
        "validate": ValidateDocument(),
        "process": ProcessDocument(),
        "store": StoreDocument(),
        "notify": NotifyComplete(),
    },
    edges=[
        Edge(source="validate", target="process"),
        Edge(source="process", target="store"),
        Edge(source="store", target="notify"),
    ],
    initial_step="validate",
    terminal_steps={"notify"},
)

# ----------------------------------------------------------------------------- engine_setup.py

from litestar_workflows import WorkflowRegistry, LocalExecutionEngine

# Create and configure registry
registry = WorkflowRegistry()
registry.register_definition(document_workflow)

# Create engine
engine = LocalExecutionEngine(registry)

# ----------------------------------------------------------------------------- main.py


async def process_document(title: str, content: str) -> dict:
    """Start a document processing workflow."""

    instance = await engine.start_workflow(
        "document_processing",
        initial_data={
            "document": {
                "title": title,
                "content": content,
            }
        },
    )

    # Since all steps are machine steps, execution completes immediately
    return {
        "instance_id": str(instance.id),
        "document_id": instance.context.get("document_id"),
        "word_count": instance.context.get("word_count"),
        "status": instance.status.value,
    }


async def main():
    result = await process_document(
        title="My Document", content="This is the content of my document that needs processing."
    )
    print(f"Result: {result}")


async def test_main_completes_immediately() -> None:
    result = await process_document(
        title="My Document", content="This is the content of my document that needs processing."
    )
    assert result["status"] == "completed"
    assert result["word_count"] == 10
    assert result["document_id"].startswith("doc-")


async def test_the_guide_steps_run_through() -> None:
    """The same workflow, read after it ran (``engine.wait`` added)."""
    instance = await engine.start_workflow(
        "document_processing", initial_data={"document": {"title": "T", "content": "one two three four"}}
    )
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("processed_content") == "ONE TWO THREE FOUR"
    assert instance.context.get("notification")["word_count"] == 4


async def test_validation_errors_fail_the_instance_and_no_document_skips_validation() -> None:
    instance = await engine.start_workflow("document_processing", initial_data={"document": {"title": ""}})
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.FAILED
    assert "Title is required" in (instance.error or "")
    # can_execute() is False without a document: validate is skipped, and process then fails on it
    instance = await engine.start_workflow("document_processing")
    await engine.wait(instance.id)
    assert instance.context.get("is_valid") is None
    assert instance.status is WorkflowStatus.FAILED


# ----------------------------------------------------------------------------- Step 5: Add Error Handling


class ProcessDocumentWithErrorHandling(BaseMachineStep):  # the guide's second ProcessDocument
    name = "process"

    async def execute(self, context: WorkflowContext) -> None:
        try:
            document = context.get("document", {})
            processed_content = document["content"].upper()
            context.set("processed_content", processed_content)
        except Exception as e:
            context.set("processing_error", str(e))
            raise

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        """Handle processing failures."""
        # Log the error
        print(f"Processing failed: {error}")

        # Set failure state
        context.set("failed_at", "process")
        context.set("failure_reason", str(error))


async def test_error_handling(capsys: pytest.CaptureFixture[str]) -> None:
    definition = WorkflowDefinition(
        name="process_only",
        version="1.0.0",
        steps={"process": ProcessDocumentWithErrorHandling()},
        edges=[],
        initial_step="process",
    )
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("process_only", initial_data={"document": {"title": "no content"}})
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.FAILED
    assert "Processing failed: 'content'" in capsys.readouterr().out


# ----------------------------------------------------------------------------- Complete Example


def complete_example() -> object:
    """Complete document processing workflow."""

    import asyncio
    from datetime import datetime
    from uuid import uuid4

    from litestar_workflows import (
        WorkflowDefinition,
        Edge,
        BaseMachineStep,
        LocalExecutionEngine,
        WorkflowRegistry,
        WorkflowContext,
    )

    # Steps
    class ValidateDocument(BaseMachineStep):
        name = "validate"
        description = "Validate document"

        async def execute(self, context: WorkflowContext) -> None:
            document = context.get("document", {})
            if not document.get("title") or not document.get("content"):
                raise ValueError("Title and content required")
            context.set("is_valid", True)

    class ProcessDocument(BaseMachineStep):
        name = "process"
        description = "Process document"

        async def execute(self, context: WorkflowContext) -> None:
            document = context.get("document", {})
            context.set("processed_content", document["content"].upper())
            context.set("word_count", len(document["content"].split()))

    class StoreDocument(BaseMachineStep):
        name = "store"
        description = "Store document"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("document_id", f"doc-{uuid4().hex[:8]}")
            context.set("stored", True)

    class NotifyComplete(BaseMachineStep):
        name = "notify"
        description = "Send notification"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("notified", True)

    # Workflow definition
    document_workflow = WorkflowDefinition(
        name="document_processing",
        version="1.0.0",
        description="Document processing pipeline",
        steps={
            "validate": ValidateDocument(),
            "process": ProcessDocument(),
            "store": StoreDocument(),
            "notify": NotifyComplete(),
        },
        edges=[
            Edge("validate", "process"),
            Edge("process", "store"),
            Edge("store", "notify"),
        ],
        initial_step="validate",
        terminal_steps={"notify"},
    )

    # Setup
    registry = WorkflowRegistry()
    registry.register_definition(document_workflow)
    engine = LocalExecutionEngine(registry)

    async def main():
        instance = await engine.start_workflow(
            "document_processing",
            initial_data={
                "document": {
                    "title": "Test Document",
                    "content": "Hello world this is a test document.",
                }
            },
        )

        print(f"Status: {instance.status}")
        print(f"Document ID: {instance.context.get('document_id')}")
        print(f"Word count: {instance.context.get('word_count')}")

    return main


async def test_complete_example(capsys: pytest.CaptureFixture[str]) -> None:
    await complete_example()()  # type: ignore[operator]
    status, document_id, word_count = capsys.readouterr().out.splitlines()
    assert status == "Status: completed"
    assert document_id.startswith("Document ID: doc-")
    assert word_count == "Word count: 7"
