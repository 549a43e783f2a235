"""registry_core: the thin, stable API of runtime-registry that plugin authors import.

- :class:`RuntimeProvider` — subclass it to implement a runtime kind;
- :class:`RuntimeKind` and :data:`hookimpl` — register the kind from a plugin;
- the models (:class:`Worker`, :class:`TranscriptPage`, ...) and typed errors
  (:class:`UnknownWorker`, :class:`WorkerBusy`, ...) the provider speaks;
- :class:`RuntimeRegistry`, plugin loading and configuration, for hosts.

It imports neither starlette nor uvicorn.
"""

from registry_core.assembly import Assembly, assemble
from registry_core.config import (
    ConfigError,
    ConfigProblem,
    PluginSettings,
    RegistryConfig,
    RuntimeConfig,
    ServerSettings,
    apply_environment,
    load_config,
    parse_config,
)
from registry_core.converter import converter, format_timestamp, structure, unstructure
from registry_core.errors import (
    ERROR_TYPES,
    CapacityExceeded,
    CursorExpired,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    RegistryError,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownRuntime,
    UnknownWorker,
    UnsupportedOperation,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.hookspecs import hookimpl
from registry_core.identifiers import is_valid_identifier, validate_identifier
from registry_core.kinds import NoSettings, RuntimeKind
from registry_core.models import (
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
    RuntimeLimits,
    RuntimeList,
    RuntimeState,
    RuntimeStatus,
    RuntimeSummary,
    Severity,
    TranscriptEntry,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerOverview,
    WorkerPage,
)
from registry_core.plugin_loading import DiscoveredPlugin, PluginSet, discover_plugins, load_plugins
from registry_core.provider import RuntimeProvider, capabilities_of
from registry_core.registry import RuntimeRegistry

__all__ = [
    "Assembly", "assemble",
    "ConfigError", "ConfigProblem", "PluginSettings", "RegistryConfig", "RuntimeConfig", "ServerSettings",
    "apply_environment", "load_config", "parse_config",
    "converter", "format_timestamp", "structure", "unstructure",
    "ERROR_TYPES", "CapacityExceeded", "CursorExpired", "InvalidIdentifier", "InvalidRequest", "LimitTooLarge",
    "RegistryError", "RuntimeTimeout", "RuntimeUnavailable", "UnknownRuntime", "UnknownWorker",
    "UnsupportedOperation", "WorkerBusy", "WorkerStopped",
    "hookimpl",
    "is_valid_identifier", "validate_identifier",
    "NoSettings", "RuntimeKind",
    "Capabilities", "CreateWorkerRequest", "Diagnostic", "Event", "EventPage", "InputAccepted", "InputKind",
    "InputRequest", "Intent", "IntentKind", "PluginInfo", "PluginRef", "PluginState", "RuntimeLimits",
    "RuntimeList", "RuntimeState", "RuntimeStatus", "RuntimeSummary", "Severity", "TranscriptEntry",
    "TranscriptPage", "Worker", "WorkerActionResult", "WorkerOverview", "WorkerPage",
    "DiscoveredPlugin", "PluginSet", "discover_plugins", "load_plugins",
    "RuntimeProvider", "capabilities_of",
    "RuntimeRegistry",
]

__version__ = "0.1.0"
