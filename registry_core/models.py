"""The data the registry speaks: attrs models for everything in the HTTP contract.

Every model is frozen and slotted. Providers build them; the server turns them
into JSON with :data:`registry_core.converter.converter`. Request models
(:class:`CreateWorkerRequest`, :class:`InputRequest`) use the constrained string
types below (``Annotated`` with their rules), which the converter enforces with
field-level validation errors and the server's OpenAPI document shows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import attrs
from annotated_types import Len, doc

from registry_core.constraints import (
    ID_PATTERN,
    NO_BIDI_CONTROLS,
    NO_LINE_SEPARATORS,
    NO_TAG_CHARACTERS,
    NOT_BLANK,
    SINGLE_LINE,
    VISIBLE,
    Pattern,
)

__all__ = [
    "Severity",
    "Diagnostic",
    "RuntimeStatus",
    "PluginRef",
    "Capabilities",
    "RuntimeLimits",
    "RuntimeState",
    "RuntimeSummary",
    "RuntimeList",
    "IntentKind",
    "Intent",
    "Worker",
    "WorkerPage",
    "WorkerOverview",
    "WorkerFilter",
    "WorkerTotals",
    "CreateWorkerRequest",
    "InputKind",
    "BusyPolicy",
    "InputRequest",
    "InputAccepted",
    "WorkerActionResult",
    "TranscriptEntry",
    "TranscriptPage",
    "Event",
    "EventPage",
    "PluginState",
    "PluginInfo",
    "ProfileInfo",
    "ProfileList",
    "SettingInfo",
    "Identifier",
    "Label",
    "ProfileSelector",
    "CapabilityName",
    "ShortText",
    "LongText",
    "InputContent",
    "WorkerAction",
]

# Constrained strings of request bodies: each rule is declared here, once, as
# annotated metadata. registry_core.converter enforces it (422 naming the
# field) and the server's OpenAPI document shows it (decision 0073).
#: A runtime or worker id in a document (config): the rules of :mod:`registry_core.identifiers`.
Identifier = Annotated[str, ID_PATTERN]
#: A display label: 1–200 characters, no control characters, no bidi
#: embedding, override or isolate, and something visible (issue 12); no line
#: separators and no invisible tag characters (issue 24).
Label = Annotated[str, Len(1, 200), SINGLE_LINE, NO_LINE_SEPARATORS, NO_BIDI_CONTROLS, NO_TAG_CHARACTERS, VISIBLE]
#: A profile selector: ``default``, ``builtin:NAME`` or ``NAME`` (id characters).
ProfileSelector = Annotated[str, ID_PATTERN]
#: A capability name asked for at create: 1–64 id characters.
CapabilityName = Annotated[
    str, Pattern("^[A-Za-z0-9_:\\-]{1,64}$", "must be 1-64 characters of ASCII letters, digits, '-', '_' or ':'")
]
#: A short free text (a role name): 1–200 characters, no control characters.
ShortText = Annotated[str, Len(1, 200), SINGLE_LINE]
#: A long free text (a purpose or objective): 1–4000 characters.
LongText = Annotated[str, Len(1, 4000)]
#: Input content: not only whitespace (its upper bound is the runtime's ``limits.max_input_chars``).
InputContent = Annotated[str, NOT_BLANK, doc("not only whitespace; at most the runtime's limits.max_input_chars")]
#: A worker status to filter lists by: kind-specific, so any 1–120 id characters.
StatusSelector = Annotated[str, ID_PATTERN]
#: What a cancel, stop or delete answer says it did.
WorkerAction = Literal["cancel", "stop", "delete"]


class Severity(enum.Enum):
    """How much a diagnostic matters."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@attrs.frozen
class Diagnostic:
    """A machine-readable note attached to a response: ``{code, severity, message}``.

    Messages are shown to HTTP clients: never put a path, socket, session id or
    exception text in them.
    """

    code: str
    severity: Severity
    message: str

    @classmethod
    def info(cls, code: str, message: str) -> Diagnostic:
        """An ``info`` diagnostic."""
        return cls(code, Severity.INFO, message)

    @classmethod
    def warning(cls, code: str, message: str) -> Diagnostic:
        """A ``warning`` diagnostic."""
        return cls(code, Severity.WARNING, message)

    @classmethod
    def error(cls, code: str, message: str) -> Diagnostic:
        """An ``error`` diagnostic."""
        return cls(code, Severity.ERROR, message)


class RuntimeStatus(enum.StrEnum):
    """The health of a runtime as a whole.

    A ``str`` too (``RuntimeStatus.RUNNING == "running"``), as ``Worker.status``
    is a plain string: comparing either with a literal works.

    .. versionchanged:: 0.4
       A ``StrEnum`` (it was a plain ``Enum``, so ``== "running"`` was silently false).
    """

    RUNNING = "running"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"
    STOPPED = "stopped"


@attrs.frozen
class PluginRef:
    """The plugin (entry-point name and distribution version) that provides a runtime kind."""

    name: str
    version: str


@attrs.frozen
class Capabilities:
    """What a runtime does. A capability is ``False`` if and only if the
    operation raises :class:`~registry_core.errors.UnsupportedOperation`.

    Providers do not fill this in: the registry derives it from which
    :class:`~registry_core.provider.RuntimeProvider` operations the provider
    class implements, so it cannot lie.
    """

    list_workers: bool
    get_worker: bool
    create_worker: bool
    send_input: bool
    cancel_worker: bool
    stop_worker: bool
    read_transcript: bool
    read_events: bool
    stream_events: bool
    #: Added after v0 (decision 0065), so it comes last: positional construction keeps working.
    delete_worker: bool = False
    #: Added in 0.4 (decision 0141): ``GET .../profiles``; last for the same reason.
    list_profiles: bool = False
    #: Added in 0.4 (decision 0190): the :class:`BusyPolicy` values ``send_input``
    #: takes as ``if_busy``. Not an operation: a provider claims policies with
    #: :attr:`~registry_core.provider.RuntimeProvider.busy_policies`; a kind
    #: that claims nothing takes ``reject`` only, and the registry answers any
    #: other value with ``422`` without calling it.
    busy_policies: tuple[str, ...] = ("reject",)


@attrs.frozen
class RuntimeLimits:
    """The runtime's page maxima and capacity, for clients to size requests by.

    ``None`` means the runtime sets no such limit (or the limit does not apply).
    ``kind_specific`` holds limits only this kind has, by name (the
    ``subprocess`` example: ``timeout_seconds``, ``max_output_chars``); added
    in 0.3, empty unless the kind sets it.
    """

    worker_page_max: int = 100
    transcript_page_max: int = 100
    event_page_max: int = 100
    max_workers: int | None = None
    max_transcript_entries: int | None = None
    max_input_chars: int | None = None
    event_retention: int | None = None
    kind_specific: Mapping[str, int | float] = attrs.field(factory=dict)


@attrs.frozen
class RuntimeState:
    """What a provider reports of its health from :meth:`RuntimeProvider.describe`.

    The registry adds identity (id, display name, kind, plugin), capabilities
    and the provider's ``limits`` to make a :class:`RuntimeSummary`.
    """

    status: RuntimeStatus = RuntimeStatus.RUNNING
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class RuntimeSummary:
    """One runtime as clients see it."""

    runtime_id: str
    display_name: str
    kind: str
    plugin: PluginRef
    status: RuntimeStatus
    capabilities: Capabilities
    limits: RuntimeLimits
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class RuntimeList:
    """Every registered runtime, in configuration order."""

    items: tuple[RuntimeSummary, ...]
    diagnostics: tuple[Diagnostic, ...] = ()


class IntentKind(enum.Enum):
    """Why a worker exists."""

    ASSISTANT = "assistant"
    TASK = "task"
    ROLE = "role"


@attrs.frozen
class Intent:
    """A worker's intent: its kind and, optionally, a purpose, objective or role."""

    kind: IntentKind
    purpose: LongText | None = None
    objective: LongText | None = None
    role: ShortText | None = None


@attrs.frozen
class WorkerTotals:
    """What a worker's turns added up to so far.

    ``turns`` counts the turns that ended (completed, failed, cancelled or
    interrupted; a turn in flight is not counted yet); ``input_tokens`` and
    ``output_tokens`` sum the ``usage`` of its ``worker.turn_completed``
    events (a turn whose model reported none adds nothing).

    .. versionadded:: 0.4
    """

    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@attrs.frozen(cache_hash=True)
class Worker:
    """One worker, addressed by ``runtime_id`` + ``worker_id``.

    ``status`` is kind-specific: the embedded kind uses ``idle``, ``busy`` and
    ``stopped``. ``profile`` is the *resolved* profile name; ``label`` a
    display hint, never authority.

    Its hash is computed once (the server caches renderings by model).

    .. versionchanged:: 0.4
       The hash is cached.
    """

    runtime_id: str
    worker_id: str
    kind: str
    label: str | None
    status: Annotated[str, doc("kind-specific; embedded: idle, busy, stopped")]
    profile: str | None
    intent: Intent | None
    created_at: datetime | None
    transcript_length: int
    diagnostics: tuple[Diagnostic, ...] = ()
    #: Added in 0.4 (decision 0201), so it comes last: ``None`` where the kind keeps no totals.
    totals: WorkerTotals | None = None


@attrs.frozen
class WorkerFilter:
    """Which workers a list returns: ``?status=``, ``?profile=`` and ``?label=``, each repeatable.

    A worker matches when its ``status`` is one of ``status``, its resolved
    ``profile`` one of ``profile`` and its ``label`` (exactly, case and all)
    one of ``label`` — an empty tuple does not restrict (values of one field
    are alternatives; fields all apply). The host checks each value by the
    same rules a create body's fields have, so a kind gets only well-formed
    values (decision 0200).

    .. versionadded:: 0.4
    """

    status: tuple[StatusSelector, ...] = ()
    profile: tuple[ProfileSelector, ...] = ()
    label: tuple[Label, ...] = ()

    def __bool__(self) -> bool:
        """Whether it restricts anything (an empty filter lists every worker)."""
        return bool(self.status or self.profile or self.label)

    def matches(self, worker: Worker) -> bool:
        """Whether ``worker`` is one this filter lists."""
        return self.admits(worker.status, worker.profile, worker.label)

    def admits(self, status: str, profile: str | None, label: str | None) -> bool:
        """Whether a worker with these values is one this filter lists (for a kind's own records)."""
        return (
            (not self.status or status in self.status)
            and (not self.profile or profile in self.profile)
            and (not self.label or label in self.label)
        )


@attrs.frozen
class WorkerPage:
    """A page of one runtime's workers. ``next_cursor`` is opaque; ``None`` at the end."""

    runtime_id: str
    items: tuple[Worker, ...]
    next_cursor: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class WorkerOverview:
    """The read-only list across runtimes; a failing runtime is a diagnostic."""

    items: tuple[Worker, ...]
    next_cursor: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class CreateWorkerRequest:
    """The body of a create: every field optional.

    ``profile`` omitted or ``default`` means the runtime default; ``builtin:NAME``
    a builtin profile; ``NAME`` an operator-configured one. ``capabilities``
    lists what the worker needs (``tools``, ``shell``, ...); a runtime that
    cannot grant one raises :class:`~registry_core.errors.InvalidRequest`.
    """

    intent: Intent | None = None
    profile: ProfileSelector | None = None
    label: Label | None = None
    capabilities: tuple[CapabilityName, ...] = ()


class InputKind(enum.Enum):
    """Who an input speaks as."""

    USER = "user"
    SYSTEM = "system"


class BusyPolicy(enum.Enum):
    """What an input does when its worker is in a turn (``if_busy``; decision 0190).

    ``reject``: ``409 worker_busy``, nothing queued (the default, and what
    every kind does). ``enqueue``: wait in the worker's queue and run after
    the turns before it, in order. ``interrupt``: end the running turn
    (``worker.turn_cancelled``, ``reason: "interrupt"``) and start this one.
    """

    REJECT = "reject"
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"


@attrs.frozen
class InputRequest:
    """The body of a send-input: non-empty ``content``, an optional ``kind`` and ``if_busy``.

    ``if_busy`` (added in 0.4) is one of the runtime's
    ``capabilities.busy_policies``: the registry refuses any other value
    before a provider sees the request, so a provider only ever reads a
    policy it claimed.
    """

    content: InputContent
    kind: InputKind = InputKind.USER
    if_busy: BusyPolicy = BusyPolicy.REJECT


@attrs.frozen
class InputAccepted:
    """The answer to an accepted input: where it landed in the transcript and event log.

    ``status`` is the worker's status right after (``busy``: its turn runs),
    or ``queued``: the input waits (behind the worker's turn, or for a turn
    slot of the runtime) and enters the transcript when its turn starts, so
    ``transcript_sequence`` is ``None``, ``event_id`` is its
    ``worker.input_queued`` event and ``queue_position`` its place (1: next).
    """

    runtime_id: str
    worker_id: str
    transcript_sequence: int | None
    event_id: int
    status: str
    #: Added in 0.4: the input's place in the worker's queue while ``status`` is ``queued``, else ``None``.
    queue_position: int | None = None


@attrs.frozen
class WorkerActionResult:
    """The answer to cancel, stop or delete (``action``). ``changed`` is ``False`` when
    it was a no-op (cancel while idle, stop when already stopped); a delete always
    changes something (deleting an unknown worker is ``UnknownWorker``)."""

    runtime_id: str
    worker_id: str
    action: WorkerAction
    changed: bool
    status: str


@attrs.frozen
class ProfileInfo:
    """One profile a client may name when creating a worker: what it is, never how it is configured.

    Only these fields reach a client: no endpoint, key variable, option value
    or anything else from the profile's settings (decision 0141).

    :ivar name: the selector to send as ``CreateWorkerRequest.profile`` (and
        the name a worker created with it carries as ``profile``).
    :ivar engine: the turn engine its turns run through (``echo``, ``llm``, ...).
    :ivar description: one line the operator wrote; ``None`` when there is none.
    :ivar tools: the names of the tools a worker of this profile may be granted.
    :ivar default: whether an omitted profile means this one.

    .. versionadded:: 0.4
    """

    name: str
    engine: str
    description: str | None = None
    tools: tuple[str, ...] = ()
    default: bool = False


@attrs.frozen
class ProfileList:
    """Every profile of one runtime a client may name, the default among them.

    .. versionadded:: 0.4
    """

    runtime_id: str
    items: tuple[ProfileInfo, ...]


@attrs.frozen
class TranscriptEntry:
    """One transcript entry; ``sequence`` starts at 1 and has no gaps."""

    sequence: int
    role: str
    content: str
    event_id: int | None
    created_at: datetime


@attrs.frozen
class TranscriptPage:
    """A bounded transcript page; ``next_start`` is ``None`` at the end."""

    runtime_id: str
    worker_id: str
    items: tuple[TranscriptEntry, ...]
    start: int
    limit: int
    total: int
    next_start: int | None


@attrs.frozen
class Event:
    """One runtime event. Ids increase strictly within a runtime."""

    id: int
    type: str
    worker_id: str | None
    data: Mapping[str, Any]
    created_at: datetime


@attrs.frozen
class EventPage:
    """Events after a cursor. ``next_cursor`` is where to poll from next."""

    runtime_id: str
    events: tuple[Event, ...]
    next_cursor: int
    has_more: bool


class PluginState(enum.Enum):
    """Whether a discovered plugin is in use."""

    LOADED = "loaded"
    DISABLED = "disabled"
    FAILED = "failed"


@attrs.frozen
class SettingInfo:
    """One key of a runtime kind's ``settings`` table, derived from its settings class.

    :ivar name: the key operators write.
    :ivar type: the value's type and range, readable (``int (>= 1)``, ``str | None``).
    :ivar required: whether the key has no default.
    :ivar default: the default as JSON (``None`` when required or when the default is ``None``).
    :ivar doc: one line from the settings class's docstring (``:param name:`` or ``:ivar name:``), if any.
    """

    name: str
    type: str
    required: bool
    default: Any = None
    doc: str | None = None


@attrs.frozen
class PluginInfo:
    """A discovered plugin: its name, version, the kinds, turn engines and tools it registered, and its state.

    ``reason`` is one line, set when the plugin is ``disabled`` or ``failed``.
    ``settings`` lists, for each kind of a loaded plugin, the keys of its
    ``settings`` table (added in 0.3); ``engine_settings``, for each of its
    engines that declares a settings class, the keys of a profile's
    ``options`` table (added in 0.4).
    """

    name: str
    version: str
    kinds: tuple[str, ...]
    state: PluginState
    reason: str | None = None
    settings: Mapping[str, tuple[SettingInfo, ...]] = attrs.field(factory=dict)
    engines: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    engine_settings: Mapping[str, tuple[SettingInfo, ...]] = attrs.field(factory=dict)
