"""registry_core: the plugin API of runtime-registry — what a runtime kind's author imports.

- :class:`RuntimeProvider` — subclass it to implement a runtime kind;
- :class:`RuntimeKind` and :data:`hookimpl` — register the kind from a plugin;
- :class:`TurnEngine` (with :class:`Turn`, :class:`TurnResult`, :class:`TurnFailed`)
  and :class:`WorkerTool` — what a turn does and the tools a model may call;
- the models (:class:`Worker`, :class:`TranscriptPage`, ...) and typed errors
  (:class:`UnknownWorker`, :class:`WorkerBusy`, ...) the provider speaks;
- the event contract (:mod:`registry_core.event_contract`: the ``WORKER_*``
  event types, a data model per type, the order rules);
- identifiers (:func:`validate_identifier`) and the JSON converter
  (:func:`structure`, :func:`unstructure`, loaded on first use).

Importing it loads no host machinery (the registry, plugin loading,
configuration: :mod:`runtime_registry.host`) and no web framework; a test holds
that in a fresh interpreter. The compatibility policy is in docs/plugins.md:
semantic versioning, and a name that moves keeps working with a
DeprecationWarning for one minor release.
"""

import importlib
from typing import Any

from registry_core.engines import (
    ENGINE_CODE_PATTERN,
    STOP_REASONS,
    TURN_FAILURE_CODES,
    EngineFailed,
    EngineProfile,
    ProfileProblem,
    TokenUsage,
    Turn,
    TurnEngine,
    TurnFailed,
    TurnResult,
)
from registry_core.errors import (
    ERROR_TYPES,
    CapacityExceeded,
    CursorExpired,
    InvalidCursor,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    MalformedRequest,
    QueueFull,
    RegistryError,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownProfile,
    UnknownRuntime,
    UnknownWorker,
    UnsupportedOperation,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.event_contract import (
    CANCEL_REASONS,
    EVENT_SPECS,
    TURN_ENDS,
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_OUTPUT_DELTA,
    WORKER_STOPPED,
    WORKER_TOOL_CALL_FINISHED,
    WORKER_TOOL_CALL_STARTED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_FAILED,
    WORKER_TURN_INTERRUPTED,
    WORKER_TURN_STARTED,
    EventSpec,
    InputAcceptedData,
    OutputData,
    OutputDeltaData,
    ToolCallFinishedData,
    ToolCallStartedData,
    TurnCancelledData,
    TurnCompletedData,
    TurnFailedData,
    TurnInterruptedData,
    TurnStartedData,
    WorkerCreatedData,
    WorkerDeletedData,
    WorkerStoppedData,
    data_problems,
    event_data,
    order_problems,
)
from registry_core.extensions import HostExtensions
from registry_core.hookspecs import hookimpl
from registry_core.identifiers import is_valid_identifier, validate_identifier
from registry_core.kinds import NoSettings, RuntimeContext, RuntimeKind
from registry_core.live import LiveSubscription
from registry_core.models import (
    BusyPolicy,
    Capabilities,
    CreateWorkerRequest,
    Diagnostic,
    Event,
    EventPage,
    InputAccepted,
    InputKind,
    InputRequest,
    Intent,
    IntentKind,
    PluginInfo,
    PluginRef,
    PluginState,
    ProfileInfo,
    ProfileList,
    RuntimeLimits,
    RuntimeList,
    RuntimeState,
    RuntimeStatus,
    RuntimeSummary,
    SettingInfo,
    Severity,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerOverview,
    WorkerPage,
    WorkerTotals,
)
from registry_core.provider import RuntimeProvider, capabilities_of
from registry_core.tools import ToolCall, ToolError, ToolOutcome, WorkerTool

__all__ = [
    "CANCEL_REASONS",
    "ERROR_TYPES",
    "ENGINE_CODE_PATTERN",
    "STOP_REASONS",
    "TURN_FAILURE_CODES",
    "EngineFailed",
    "EngineProfile",
    "ProfileProblem",
    "HostExtensions",
    "LiveSubscription",
    "TokenUsage",
    "ToolCall",
    "ToolError",
    "ToolOutcome",
    "Turn",
    "TurnEngine",
    "TurnFailed",
    "TurnResult",
    "WorkerTool",
    "Capabilities",
    "CapacityExceeded",
    "CreateWorkerRequest",
    "CursorExpired",
    "Diagnostic",
    "EVENT_SPECS",
    "Event",
    "EventPage",
    "EventSpec",
    "InputAccepted",
    "InputAcceptedData",
    "InputKind",
    "BusyPolicy",
    "InputRequest",
    "Intent",
    "IntentKind",
    "InvalidCursor",
    "InvalidIdentifier",
    "InvalidRequest",
    "LimitTooLarge",
    "MalformedRequest",
    "NoSettings",
    "OutputData",
    "OutputDeltaData",
    "PluginInfo",
    "PluginRef",
    "PluginState",
    "ProfileInfo",
    "ProfileList",
    "RegistryError",
    "RuntimeContext",
    "RuntimeKind",
    "RuntimeLimits",
    "RuntimeList",
    "RuntimeProvider",
    "RuntimeState",
    "RuntimeStatus",
    "RuntimeSummary",
    "RuntimeTimeout",
    "RuntimeUnavailable",
    "SettingInfo",
    "Severity",
    "TURN_ENDS",
    "ToolCallFinishedData",
    "ToolCallStartedData",
    "TranscriptEntry",
    "TranscriptPage",
    "TurnCancelledData",
    "TurnCompletedData",
    "TurnFailedData",
    "TurnInterruptedData",
    "TurnStartedData",
    "UnknownProfile",
    "UnknownRuntime",
    "UnknownWorker",
    "UnsupportedOperation",
    "WORKER_CREATED",
    "WORKER_DELETED",
    "WORKER_INPUT_ACCEPTED",
    "WORKER_OUTPUT",
    "WORKER_OUTPUT_DELTA",
    "WORKER_STOPPED",
    "WORKER_TOOL_CALL_FINISHED",
    "WORKER_TOOL_CALL_STARTED",
    "WORKER_TURN_CANCELLED",
    "WORKER_TURN_COMPLETED",
    "WORKER_TURN_FAILED",
    "WORKER_TURN_INTERRUPTED",
    "WORKER_TURN_STARTED",
    "Worker",
    "WorkerActionResult",
    "WorkerBusy",
    "QueueFull",
    "WorkerCreatedData",
    "WorkerDeletedData",
    "WorkerOverview",
    "WorkerPage",
    "WorkerFilter",
    "WorkerTotals",
    "WorkerStopped",
    "WorkerStoppedData",
    "capabilities_of",
    "converter",
    "data_problems",
    "event_data",
    "format_timestamp",
    "hookimpl",
    "is_valid_identifier",
    "order_problems",
    "structure",
    "unstructure",
    "validate_identifier",
]

__version__ = "0.3.0"

# The converter pulls in cattrs; a plugin that never converts JSON never pays for it.
_LAZY = dict.fromkeys(("converter", "format_timestamp", "structure", "unstructure"), "registry_core.converter")

# Host names that version 0.1 exported from here: they keep working, with a
# DeprecationWarning, until 1.0 (docs/decisions/0070, 0161).
_MOVED_TO_HOST = frozenset(
    {
        "Assembly",
        "assemble",
        "ConfigError",
        "ConfigProblem",
        "PluginSettings",
        "RegistryConfig",
        "RuntimeConfig",
        "ServerSettings",
        "apply_environment",
        "load_config",
        "parse_config",
        "DiscoveredPlugin",
        "PluginSet",
        "discover_plugins",
        "load_plugins",
        "RuntimeRegistry",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _MOVED_TO_HOST:
        from registry_core._moved import host_name

        return host_name(name)
    raise AttributeError(f"module 'registry_core' has no attribute {name!r}")
