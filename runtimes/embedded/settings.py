"""What an operator configures for an embedded runtime: limits and named profiles.

The classes here are plain attrs classes whose numeric fields declare their
ranges with ``annotated-types`` (decision 0002), so the registry's converter
reports a bad value at its path (``runtimes[0].settings.max_workers``). The
runtime itself does not need the converter: ``EmbeddedSettings()`` is a valid
configuration and tests build settings directly.

Example (in the registry's config file)::

    [runtimes.settings]
    max_workers = 1000
    default_profile = "builtin:default"

    [runtimes.settings.store]
    backend = "sqlite"          # the default; "memory" keeps nothing across restarts
    durability = "acknowledged"

    [runtimes.settings.profiles.slow-echo]
    base = "builtin:echo"
    reply_delay_seconds = 2.0
    description = "Echoes after two seconds"

    [runtimes.settings.profiles.assistant]
    engine = "llm"
    model = "gpt-4o-mini"
    key_env = "OPENAI_API_KEY"
    tools = ["clock"]

Whether an engine, model or tool named here exists is checked when the
runtime is built (against what the loaded plugins registered), and reported
as a configuration error of the profile's key.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

import attrs
from annotated_types import Ge, Gt, Interval, Le, MaxLen

from registry_core.page_bytes import DEFAULT_MAX_PAGE_BYTES

__all__ = [
    "BUILTIN_PREFIX",
    "DEFAULT_HISTORY_BYTES",
    "DEFAULT_SELECTOR",
    "MAX_EXPIRY_SECONDS",
    "MAX_HISTORY_BYTES",
    "MAX_REPLY_DELAY_SECONDS",
    "MAX_TURN_SECONDS",
    "Durability",
    "EmbeddedSettings",
    "ProfileBase",
    "ProfileSettings",
    "StoreBackend",
    "StoreSettings",
]

#: Selectors of builtin profiles start with this: ``builtin:default``, ``builtin:echo``.
BUILTIN_PREFIX = "builtin:"
#: The selector that means "the runtime's default profile" (as does omitting it).
DEFAULT_SELECTOR = "default"
#: The longest reply delay a profile may configure (an hour: longer is a mistake).
MAX_REPLY_DELAY_SECONDS = 3600.0

#: The longest ``idle_stop_seconds`` or ``stopped_delete_seconds`` (a year: longer is "never", leave it unset).
MAX_EXPIRY_SECONDS = 366 * 24 * 3600.0
#: The longest a turn may be allowed to take (an hour).
MAX_TURN_SECONDS = 3600.0
#: A profile's history budget unless it sets one: 1 MiB of contents, about
#: 250k tokens, past the context of most models (decision 0121).
DEFAULT_HISTORY_BYTES = 1024 * 1024
#: The largest history budget a profile may set (64 MiB: past it, a mistake).
MAX_HISTORY_BYTES = 64 * 1024 * 1024

_PROFILE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_ENGINE_NAME = re.compile(r"[a-z][a-z0-9\-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_OPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class ProfileBase(enum.Enum):
    """The builtin behaviour a profile is built on."""

    #: Input goes into the transcript; the turn completes with no reply (the ``record`` engine).
    DEFAULT = "builtin:default"
    #: The turn replies with an ``assistant`` entry repeating the input.
    ECHO = "builtin:echo"


@attrs.frozen
class ProfileSettings:
    """One operator-defined profile: the engine its turns run through, and how it behaves.

    :param base: ``"builtin:default"`` (engine ``record``) or ``"builtin:echo"``
        (engine ``echo``); ignored when ``engine`` is given, and then it must
        be left out.
    :param engine: a turn engine a loaded plugin registered: ``record``,
        ``echo``, ``llm`` or a third party's.
    :param model: the model id (``llm``: any model llm or an installed llm
        plugin knows, or any name an ``api_base`` server serves).
    :param api_base: an OpenAI-compatible server's base URL (``http``/``https``).
    :param key_env: the environment variable that holds the key.
    :param system_prompt: the system prompt of every turn.
    :param options: options passed to the model (numbers, strings, booleans).
    :param tools: tools this profile may grant (registered tool names).
    :param max_turn_seconds: the longest a turn may take; then it fails with
        ``turn_timeout``.
    :param max_tool_rounds: the most rounds of tool calls in one turn.
    :param max_history_bytes: the most of the transcript a turn's engine is
        given (``turn.history``), in UTF-8 bytes of the entries' contents: the
        newest entries that fit, the oldest dropped first; 0 gives none.
    :param reply_delay_seconds: how long every ``record``/``echo`` turn takes
        before it completes (and, for echo, before it replies): 0–3600
        seconds. A delay makes ``busy`` and ``cancel`` observable, for demos
        and tests.
    :param description: one line for people reading the configuration.
    """

    # Built in Python, a profile may name its base by value, as TOML does ("builtin:echo").
    base: ProfileBase = attrs.field(default=ProfileBase.DEFAULT, converter=ProfileBase)
    engine: str | None = None
    model: Annotated[str, MaxLen(200)] | None = None
    api_base: Annotated[str, MaxLen(2000)] | None = None
    key_env: str | None = None
    system_prompt: Annotated[str, MaxLen(100_000)] | None = None
    options: dict[str, Any] = attrs.Factory(dict)
    tools: list[str] = attrs.Factory(list)
    max_turn_seconds: Annotated[float, Gt(0), Le(MAX_TURN_SECONDS)] = 300.0
    max_tool_rounds: Annotated[int, Interval(ge=1, le=64)] = 8
    max_history_bytes: Annotated[int, Interval(ge=0, le=MAX_HISTORY_BYTES)] = DEFAULT_HISTORY_BYTES
    reply_delay_seconds: Annotated[float, Interval(ge=0, le=MAX_REPLY_DELAY_SECONDS)] = 0.0
    description: Annotated[str, MaxLen(200)] = ""

    def __attrs_post_init__(self) -> None:
        # Each message starts with its field's name: the converter reports it
        # at the profile's path, so the operator sees which key to fix.
        if self.engine is not None:
            if not _ENGINE_NAME.fullmatch(self.engine):
                raise ValueError("engine: 1-64 lowercase letters, digits or '-', starting with a letter")
            if self.base is not ProfileBase.DEFAULT:
                raise ValueError("base: give either base or engine, not both")
        if self.api_base is not None and not _is_http_url(self.api_base):
            raise ValueError("api_base: must be an http:// or https:// URL with a host")
        if self.key_env is not None and not _ENV_NAME.fullmatch(self.key_env):
            raise ValueError("key_env: must be an environment variable name (letters, digits, '_')")
        for name, value in self.options.items():
            if not _OPTION_NAME.fullmatch(name):
                raise ValueError(f"options: {name[:64]!r} is not an option name")
            if not isinstance(value, (str, int, float, bool)):
                raise ValueError(f"options: {name!r} must be a number, a string or a boolean")
        if len(set(self.tools)) != len(self.tools):
            raise ValueError("tools: a tool is listed twice")

    @property
    def engine_name(self) -> str:
        """The engine the profile's turns run through (``base`` decides when ``engine`` is not given)."""
        if self.engine is not None:
            return self.engine
        return "echo" if self.base is ProfileBase.ECHO else "record"


def _is_http_url(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


class StoreBackend(enum.Enum):
    """Where an embedded runtime keeps its workers, transcripts and events."""

    #: A SQLite database file: everything survives restarts and crashes (decision 0085).
    SQLITE = "sqlite"
    #: The process's memory: everything ends with the process.
    MEMORY = "memory"
    #: A PostgreSQL database shared by every replica serving the runtime (issue 18; docs/scaling.md).
    POSTGRES = "postgres"


class Durability(enum.Enum):
    """When a SQLite store's answers go out relative to its commits."""

    #: An answer is sent only once what it acknowledges is committed (and synced).
    ACKNOWLEDGED = "acknowledged"
    #: Answers go out at once; commits follow within ``BATCH_INTERVAL_SECONDS``.
    BATCHED = "batched"


_STORE_PATH = re.compile(r"[^\x00]{1,4096}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")


@attrs.frozen
class StoreSettings:
    """The ``[runtimes.settings.store]`` table: where the runtime keeps its state.

    :param backend: ``"sqlite"`` (the default) or ``"memory"``.
    :param path: the SQLite file; a relative path resolves against the
        server's ``data_dir``. ``None`` (the default) is
        ``state/<runtime id>.db``. Never shown to clients.
    :param durability: ``"acknowledged"`` (the default) or ``"batched"``.
    :param dsn_env: ``postgres`` only, and required there: the name of the
        environment variable holding the connection string (a
        ``postgresql://`` URL or libpq ``key=value`` pairs). The string itself
        is never in the file, shown or logged.
    :param lease_seconds: ``postgres`` only: how long a replica may be silent
        before another takes its turns as lost (``worker.turn_interrupted``,
        ``reason: "replica_lost"``); 1 and up, 10 by default (decision 0133).
    """

    backend: StoreBackend = StoreBackend.SQLITE
    path: str | None = None
    durability: Durability = Durability.ACKNOWLEDGED
    dsn_env: str | None = None
    lease_seconds: Annotated[float, Interval(ge=1, le=3600)] = 10.0

    def __attrs_post_init__(self) -> None:
        if self.path is not None and (not _STORE_PATH.fullmatch(self.path) or not self.path.strip()):
            raise ValueError("store.path: must be a non-empty file path without NUL characters")
        if self.backend is StoreBackend.POSTGRES:
            if self.dsn_env is None:
                raise ValueError(
                    'store.dsn_env: required with backend = "postgres" (the variable holding the connection string)'
                )
            if self.path is not None:
                raise ValueError('store.path: only for backend = "sqlite"')
        elif self.dsn_env is not None:
            raise ValueError('store.dsn_env: only for backend = "postgres"')
        if self.dsn_env is not None and not _ENV_NAME.fullmatch(self.dsn_env):
            raise ValueError("store.dsn_env: must be an environment variable name (letters, digits, '_')")


_PageMax = Annotated[int, Interval(ge=1, le=10_000)]


@attrs.frozen
class EmbeddedSettings:
    """The ``settings`` table of an ``embedded`` runtime (docs/configuration.md).

    :param max_workers: workers held, stopped ones included (they stay readable).
    :param max_transcript_entries: entries per worker; an input that would not
        leave room for itself and its reply is refused, never truncated.
    :param max_input_chars: the longest input content accepted.
    :param worker_page_max: the largest worker-list page.
    :param transcript_page_max: the largest transcript page.
    :param event_page_max: the largest event page.
    :param event_retention: events kept in the runtime's log.
    :param events_in_memory: with a durable store, the newest events also
        kept in memory (at most ``event_retention``); older retained events
        are read from the store, page by page, so a long retention costs
        disk, not memory. The memory store keeps all ``event_retention``.
    :param max_page_bytes: the most JSON bytes one page of workers, transcript
        entries or events holds (besides its count limit; one item larger than
        this is still served alone). A page cut short carries its cursor.
    :param max_store_bytes: the most bytes of stored content (transcript
        entries and worker texts, measured as JSON) the runtime holds; input
        or a worker that would go over it is ``capacity_exceeded``. The event
        log also drops its oldest events beyond this many bytes.
    :param default_profile: the profile for a selector that is omitted,
        ``"default"`` or unknown: a builtin selector or a name in ``profiles``.
    :param profiles: operator-defined profiles by name (letters, digits,
        ``-`` and ``_``; not ``default``; selected by bare name).
    :param store: where workers, transcripts and events live (:class:`StoreSettings`).
    :param output_deltas_per_second: the most ``worker.output_delta`` events
        per second per worker: an engine's streamed pieces are coalesced to
        this rate.
    :param max_queued_inputs: inputs one worker holds queued behind its turn
        (``if_busy: "enqueue"``); one more is ``409 queue_full`` (decision 0190).
    :param max_concurrent_turns: turns of this runtime running at once in
        this process; an accepted input beyond it waits (``status: "queued"``,
        ``worker.input_queued`` with ``reason: "admission"``) and starts in
        FIFO order across workers as turns end (memory and SQLite stores).
    :param idle_stop_seconds: stop a worker that has been idle this long
        (``worker.stopped`` with ``reason: "idle"``); idle means no turn since
        it was created or since its last turn ended. ``None`` (the default):
        never (decision 0220).
    :param stopped_delete_seconds: delete a worker this long after it was
        stopped (``worker.deleted`` with ``reason: "expired"``), freeing its
        ``max_workers`` slot. ``None`` (the default): never (decision 0220).
    """

    max_workers: Annotated[int, Ge(1)] = 1000
    max_transcript_entries: Annotated[int, Ge(2)] = 10_000
    max_input_chars: Annotated[int, Ge(1)] = 65_536
    worker_page_max: _PageMax = 200
    transcript_page_max: _PageMax = 500
    event_page_max: _PageMax = 1000
    event_retention: Annotated[int, Ge(1)] = 10_000
    events_in_memory: Annotated[int, Ge(1)] = 10_000
    max_page_bytes: Annotated[int, Interval(ge=1024, le=1 << 30)] = DEFAULT_MAX_PAGE_BYTES
    max_store_bytes: Annotated[int, Ge(65_536)] = 128 * 1024 * 1024
    default_profile: str = ProfileBase.DEFAULT.value
    profiles: dict[str, ProfileSettings] = attrs.Factory(dict)
    store: StoreSettings = StoreSettings()
    output_deltas_per_second: Annotated[float, Interval(ge=1, le=1000)] = 20.0
    max_queued_inputs: Annotated[int, Interval(ge=1, le=10_000)] = 8
    max_concurrent_turns: Annotated[int, Interval(ge=1, le=100_000)] = 64
    idle_stop_seconds: Annotated[float, Interval(gt=0, le=MAX_EXPIRY_SECONDS)] | None = None
    stopped_delete_seconds: Annotated[float, Interval(gt=0, le=MAX_EXPIRY_SECONDS)] | None = None

    def __attrs_post_init__(self) -> None:
        # Cross-field rules: reported at the settings table's path, so each
        # message names its own field.
        for name in self.profiles:
            if name == DEFAULT_SELECTOR or not _PROFILE_NAME.fullmatch(name):
                raise ValueError(
                    f"profiles: {name[:64]!r} is not a usable profile name "
                    "(1-64 letters, digits, '-' or '_'; not 'default')"
                )
        builtin = {base.value for base in ProfileBase}
        if self.default_profile not in builtin and self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile: {self.default_profile[:64]!r} is neither a builtin profile "
                "('builtin:default', 'builtin:echo') nor a name in profiles"
            )
