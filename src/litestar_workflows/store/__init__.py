"""Where instance state lives: the store protocol and the in-memory store."""

from litestar_workflows.store.base import InstanceQuery, Page, TaskQuery, WorkflowStore
from litestar_workflows.store.memory import MemoryStore

__all__ = ("InstanceQuery", "MemoryStore", "Page", "TaskQuery", "WorkflowStore")
