"""SparkQ's pure core: entities, the task state machine, ports and the `Queue` service.

Imports only the standard library and attrs; adapters plug into the ports.
"""

from __future__ import annotations

from .errors import (
    Conflict,
    Duplicate,
    InvalidInput,
    InvalidTransition,
    NotFound,
    SparkQError,
    StorageBusy,
    StorageCorrupt,
    StorageError,
    StorageFull,
    TooLarge,
)
from .limits import (
    MAX_ERROR_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INTEGER,
    MAX_OUTPUT_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_RESULT_BYTES,
)
from .model import (
    AUTO_FAIL_MESSAGE,
    DEFAULT_CLASS_TIMEOUTS,
    DEFAULT_TOOLS,
    TRANSITIONS,
    JSONObject,
    Project,
    Registry,
    Session,
    Status,
    Stream,
    StreamCounts,
    Task,
    TaskClass,
    TaskStatus,
    ToolSpec,
    default_registry,
    validate_name,
)
from .ports import Clock, IdFactory, Repository, Store, TaskQuery
from .services import Claimed, Queue, TaskPage
from .stats import FinishedTask, HourCount, Stats, ToolDurations

__all__ = [
    "AUTO_FAIL_MESSAGE",
    "DEFAULT_CLASS_TIMEOUTS",
    "DEFAULT_TOOLS",
    "MAX_ERROR_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INTEGER",
    "MAX_OUTPUT_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_BYTES",
    "TRANSITIONS",
    "Claimed",
    "Clock",
    "Conflict",
    "Duplicate",
    "FinishedTask",
    "HourCount",
    "IdFactory",
    "InvalidInput",
    "InvalidTransition",
    "JSONObject",
    "NotFound",
    "Project",
    "Queue",
    "Registry",
    "Repository",
    "Session",
    "SparkQError",
    "Stats",
    "Status",
    "StorageBusy",
    "StorageCorrupt",
    "StorageError",
    "StorageFull",
    "Store",
    "Stream",
    "StreamCounts",
    "Task",
    "TaskClass",
    "TaskPage",
    "TaskQuery",
    "TaskStatus",
    "TooLarge",
    "ToolDurations",
    "ToolSpec",
    "default_registry",
    "validate_name",
]
