"""The operator's configuration: a TOML file structured into attrs classes.

Example::

    [server]
    host = "127.0.0.1"
    port = 8000

    [plugins]
    disabled = ["local-compat"]

    [[runtimes]]
    id = "backend-internal"
    kind = "embedded"
    display_name = "Backend (embedded)"
    settings = { max_workers = 100 }

With no file, the configuration is one embedded runtime, ``backend-internal``.
Problems are :class:`ConfigError`: every one names its file and field.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NewType, TypeVar

import attrs
from annotated_types import Ge, Gt, Interval

from registry_core.converter import converter, structure
from registry_core.errors import InvalidRequest
from registry_core.kinds import DEFAULT_DATA_DIR
from registry_core.models import Identifier

__all__ = [
    "DATA_DIR_ENVIRONMENT_VARIABLE",
    "DEFAULT_DATA_DIR",
    "DEFAULT_RUNTIME_ID",
    "DISABLE_PLUGINS_ENVIRONMENT_VARIABLE",
    "ENABLE_PLUGINS_ENVIRONMENT_VARIABLE",
    "TOKEN_ENVIRONMENT_VARIABLE",
    "HttpParser",
    "EventLoopKind",
    "ConfigError",
    "ConfigProblem",
    "HostPattern",
    "PluginSettings",
    "RegistryConfig",
    "RuntimeConfig",
    "ServerSettings",
    "WebOrigin",
    "apply_environment",
    "load_config",
    "parse_config",
]

#: The id of the embedded runtime of the default configuration.
DEFAULT_RUNTIME_ID = "backend-internal"
#: Overrides ``server.data_dir``.
DATA_DIR_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_DATA_DIR"
#: Overrides ``server.token``.
TOKEN_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_TOKEN"
#: Comma-separated plugin names: load only these (like ``DATASETTE_LOAD_PLUGINS``).
ENABLE_PLUGINS_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_PLUGINS"
#: Comma-separated plugin names never to load.
DISABLE_PLUGINS_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_DISABLE_PLUGINS"


#: A host name the server answers to (``registry.example``), ``*.example`` for
#: every name below ``example``, or ``*`` for any name. Lower case, no port.
HostPattern = NewType("HostPattern", str)
#: A browser origin, ``http(s)://host[:port]``: no path, no trailing slash.
WebOrigin = NewType("WebOrigin", str)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NOT_AN_ORIGIN = "must be an origin: 'https://console.example' or 'http://localhost:3000', lower case, no path"
_ORIGIN = re.compile(r"(https?)://([^/:?#@\[\]]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?")


def _structure_host_pattern(value: Any, _type: Any) -> HostPattern:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    name = value.removeprefix("*.")
    if value == "*" or (_HOST_NAME.fullmatch(name) and len(name) <= 253):
        return HostPattern(value)
    raise ValueError("must be a lower-case host name without a port ('registry.example'), '*.registry.example' or '*'")


def _structure_web_origin(value: Any, _type: Any) -> WebOrigin:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    match = _ORIGIN.fullmatch(value)
    if match is None or (match[3] is not None and not 0 < int(match[3]) <= 65535):
        raise ValueError(_NOT_AN_ORIGIN)
    host = match[2]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError("must be an origin: the IPv6 address in brackets is not valid") from None
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(_NOT_AN_ORIGIN)
    return WebOrigin(value)


converter.register_structure_hook(HostPattern, _structure_host_pattern)
converter.register_structure_hook(WebOrigin, _structure_web_origin)


class HttpParser(enum.Enum):
    """Which HTTP/1.1 parser uvicorn runs (``server.http_parser``)."""

    #: httptools (C) when it is installed, else h11.
    AUTO = "auto"
    #: httptools (llhttp, C): what ``uvicorn[standard]`` brings; fast.
    HTTPTOOLS = "httptools"
    #: h11 (pure Python): slower; always available.
    H11 = "h11"


class EventLoopKind(enum.Enum):
    """Which asyncio event loop the server runs (``server.event_loop``)."""

    #: uvloop when it is installed, else asyncio's own.
    AUTO = "auto"
    #: uvloop (libuv): what ``uvicorn[standard]`` brings; fast.
    UVLOOP = "uvloop"
    #: the standard library's loop: always available.
    ASYNCIO = "asyncio"


@attrs.frozen
class ServerSettings:
    """The ``[server]`` table.

    :param host: the address to bind; anything but loopback needs a ``token``
        (or ``allow_insecure_bind``).
    :param token: the bearer token every ``/api/*`` request must carry.
    :param max_body_bytes: the largest request body accepted.
    :param call_timeout_seconds: how long a runtime may take to answer one call.
    :param stream_heartbeat_seconds: how often an idle event stream sends a comment.
    :param allowed_hosts: host names (besides ``localhost`` and IP addresses)
        that requests may name in their ``Host`` header. The check defends
        against DNS rebinding; it runs when no ``token`` is configured, or
        when this list is not empty. ``["*"]`` turns it off (decision 0060).
    :param cors_allowed_origins: browser origins (other than the server's own)
        that may send state-changing requests and read answers (CORS).
    :param max_connections: open connections (or requests in flight) at which
        new requests get uvicorn's plain ``503``; ``None`` for no limit.
    :param keep_alive_timeout_seconds: how long an idle keep-alive connection stays open.
    :param data_dir: where runtimes keep their files (the embedded runtime's
        SQLite store); relative to the working directory. Never shown to clients.
    :param header_timeout_seconds: how long a connection may take to send a
        complete request head (a new connection, or the next request on a
        kept-alive one) before it is closed.
    :param http_parser: the HTTP/1.1 parser (``auto``: httptools if installed, else h11).
    :param event_loop: the event loop (``auto``: uvloop if installed, else asyncio's).
    :param failed_token_burst: wrong bearer tokens a client (an address) may
        send at once before its token checks are paced.
    :param failed_tokens_per_second: how many token checks a second a client
        past its burst gets; one due more than 5 s away is ``429``.
    :param console: serve the web console at ``/console`` (static files; it
        reads and drives the runtimes through ``/api`` like any client, with
        the same token); ``false`` answers ``/console`` with 404 (decision 0140).
    :param metrics_public: serve ``/metrics`` without the token (it needs it, like ``/api``, by default).
    :param readiness_optional_runtimes: runtime ids that may be unavailable without ``/readyz`` answering 503.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Interval(ge=0, le=65535)] = 8000
    token: str | None = attrs.field(default=None, repr=False)
    allow_insecure_bind: bool = False
    max_body_bytes: Annotated[int, Ge(1)] = 1_048_576
    call_timeout_seconds: Annotated[float, Gt(0)] = 10.0
    stream_heartbeat_seconds: Annotated[float, Gt(0)] = 15.0
    allowed_hosts: tuple[HostPattern, ...] = ()
    cors_allowed_origins: tuple[WebOrigin, ...] = ()
    max_connections: Annotated[int, Ge(2)] | None = 1000
    keep_alive_timeout_seconds: Annotated[float, Interval(gt=0, le=3600)] = 5.0
    data_dir: str = DEFAULT_DATA_DIR
    header_timeout_seconds: Annotated[float, Interval(gt=0, le=3600)] = 10.0
    http_parser: HttpParser = HttpParser.AUTO
    event_loop: EventLoopKind = EventLoopKind.AUTO
    failed_token_burst: Annotated[int, Interval(ge=1, le=1_000_000)] = 20
    failed_tokens_per_second: Annotated[float, Interval(gt=0, le=1_000_000)] = 2.0
    console: bool = True
    metrics_public: bool = False
    readiness_optional_runtimes: tuple[Identifier, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.data_dir.strip() or "\x00" in self.data_dir:
            raise ValueError("data_dir: must be a non-empty directory path without NUL characters")


@attrs.frozen
class PluginSettings:
    """The ``[plugins]`` table: ``enabled`` (``None`` = all discovered) and ``disabled`` names."""

    enabled: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()


@attrs.frozen
class RuntimeConfig:
    """One ``[[runtimes]]`` entry. ``settings`` is structured later, into the kind's settings type."""

    id: Identifier
    kind: str
    display_name: str | None = None
    settings: dict[str, Any] = attrs.Factory(dict)


def _default_runtimes() -> tuple[RuntimeConfig, ...]:
    return (RuntimeConfig(id=Identifier(DEFAULT_RUNTIME_ID), kind="embedded", display_name="Backend (embedded)"),)


@attrs.frozen
class RegistryConfig:
    """The whole configuration."""

    server: ServerSettings = ServerSettings()
    plugins: PluginSettings = PluginSettings()
    runtimes: tuple[RuntimeConfig, ...] = attrs.Factory(_default_runtimes)


@attrs.frozen
class ConfigProblem:
    """One problem: the field's path (``runtimes[0].kind``) and what is wrong."""

    path: str
    message: str


class ConfigError(Exception):
    """The configuration cannot be used. ``str()`` is one line per problem, each naming file and field."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """``FILE: FIELD: MESSAGE`` per problem."""
        return [f"{self.source}: {p.path + ': ' if p.path else ''}{p.message}" for p in self.problems]


def load_config(path: str | os.PathLike[str] | None) -> RegistryConfig:
    """Read and check a TOML config file; ``None`` gives the default configuration."""
    if path is None:
        return RegistryConfig()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [ConfigProblem("", "is a directory, not a file")]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, [ConfigProblem("", "is not UTF-8 text")]) from None
    except OSError as exc:
        raise ConfigError(
            source, [ConfigProblem("", f"cannot be read ({exc.strerror or type(exc).__name__})")]
        ) from None
    return parse_config(text, source=source)


def parse_config(text: str, *, source: str = "<config>") -> RegistryConfig:
    """Parse TOML text into a :class:`RegistryConfig`, or raise :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"is not valid TOML: {exc}")]) from None
    try:
        config = structure(data, RegistryConfig)
    except InvalidRequest as exc:
        raise ConfigError(
            source, [ConfigProblem(d["path"], _suggest(d["path"], d["message"])) for d in exc.details]
        ) from None
    problems = [
        ConfigProblem(f"runtimes[{index}].id", f"runtime id {runtime.id!r} is used more than once")
        for index, runtime in enumerate(config.runtimes)
        if any(other.id == runtime.id for other in config.runtimes[:index])
    ]
    if problems:
        raise ConfigError(source, problems)
    return config


T = TypeVar("T")


def check_config_data(data: Mapping[str, Any]) -> tuple[RegistryConfig, list[ConfigProblem]]:
    """Every problem of a parsed config file, section by section, and the config its sound sections make.

    ``parse_config`` stops at the first section that does not structure; a
    check wants them all in one run: an unknown top-level key, a bad
    ``[server]`` and a bad runtime are reported together, and the runtimes
    that are sound are kept (with defaults for an unsound ``[server]`` or
    ``[plugins]``) so that their kinds and settings can be checked next.
    ``[runtimes]`` written for ``[[runtimes]]`` is explained, and its one
    table checked as the one runtime it was meant to be.
    """
    problems: list[ConfigProblem] = []
    for key in data:
        if key not in ("server", "plugins", "runtimes"):
            problems.append(ConfigProblem(key, _suggest(key, "unknown field")))

    def section(name: str, cls: type[T], default: T) -> T:
        try:
            return structure(data.get(name, {}), cls, path=name)
        except InvalidRequest as exc:
            problems.extend(ConfigProblem(d["path"], _suggest(d["path"], d["message"])) for d in exc.details)
            return default

    server = section("server", ServerSettings, ServerSettings())
    plugins = section("plugins", PluginSettings, PluginSettings())
    raw_runtimes: Any = data.get("runtimes", None)
    if isinstance(raw_runtimes, Mapping):
        problems.append(
            ConfigProblem(
                "runtimes",
                "written as [runtimes], one table; runtimes are an array of tables: write [[runtimes]] "
                "(two brackets) before each runtime",
            )
        )
        raw_runtimes = [raw_runtimes]
    runtimes: list[RuntimeConfig] = []
    if raw_runtimes is None:
        runtimes = list(_default_runtimes())
    elif not isinstance(raw_runtimes, list):
        problems.append(ConfigProblem("runtimes", "must be an array of tables ([[runtimes]])"))
    else:
        for index, item in enumerate(raw_runtimes):
            try:
                runtime = structure(item, RuntimeConfig, path=f"runtimes[{index}]")
            except InvalidRequest as exc:
                problems.extend(ConfigProblem(d["path"], _suggest(d["path"], d["message"])) for d in exc.details)
                continue
            if any(other.id == runtime.id for other in runtimes):
                problems.append(
                    ConfigProblem(f"runtimes[{index}].id", f"runtime id {runtime.id!r} is used more than once")
                )
                continue
            runtimes.append(runtime)
    return RegistryConfig(server=server, plugins=plugins, runtimes=tuple(runtimes)), problems


def apply_environment(config: RegistryConfig, environ: Mapping[str, str] = os.environ) -> RegistryConfig:
    """Apply the environment overrides: the token, the data directory and the plugin selection."""
    server, plugins = config.server, config.plugins
    token = environ.get(TOKEN_ENVIRONMENT_VARIABLE)
    if token:
        server = attrs.evolve(server, token=token)
    data_dir = environ.get(DATA_DIR_ENVIRONMENT_VARIABLE)
    if data_dir and "\x00" not in data_dir:
        server = attrs.evolve(server, data_dir=data_dir)
    enabled = environ.get(ENABLE_PLUGINS_ENVIRONMENT_VARIABLE)
    if enabled is not None:
        plugins = attrs.evolve(plugins, enabled=_names(enabled))
    disabled = environ.get(DISABLE_PLUGINS_ENVIRONMENT_VARIABLE)
    if disabled is not None:
        plugins = attrs.evolve(plugins, disabled=(*plugins.disabled, *_names(disabled)))
    return attrs.evolve(config, server=server, plugins=plugins)


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _suggest(path: str, message: str) -> str:
    """An unknown key of a table of the config gets the closest known key as a suggestion."""
    if message != "unknown field":
        return message
    table, _, key = path.rpartition(".")
    table_type = {"": RegistryConfig, "server": ServerSettings, "plugins": PluginSettings}.get(table)
    if table_type is None and re.fullmatch(r"runtimes\[\d+\]", table):
        table_type = RuntimeConfig
    if table_type is None:
        return message
    match = difflib.get_close_matches(key, [field.name for field in attrs.fields(table_type)], n=1)
    return f"{message}; did you mean {match[0]!r}?" if match else message
