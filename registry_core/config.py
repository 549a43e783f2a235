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

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import attrs
from annotated_types import Ge, Gt, Interval

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import Identifier

__all__ = [
    "DEFAULT_RUNTIME_ID",
    "TOKEN_ENVIRONMENT_VARIABLE",
    "ENABLE_PLUGINS_ENVIRONMENT_VARIABLE",
    "DISABLE_PLUGINS_ENVIRONMENT_VARIABLE",
    "ServerSettings",
    "PluginSettings",
    "RuntimeConfig",
    "RegistryConfig",
    "ConfigError",
    "ConfigProblem",
    "load_config",
    "parse_config",
    "apply_environment",
]

#: The id of the embedded runtime of the default configuration.
DEFAULT_RUNTIME_ID = "backend-internal"
#: Overrides ``server.token``.
TOKEN_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_TOKEN"
#: Comma-separated plugin names: load only these (like ``DATASETTE_LOAD_PLUGINS``).
ENABLE_PLUGINS_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_PLUGINS"
#: Comma-separated plugin names never to load.
DISABLE_PLUGINS_ENVIRONMENT_VARIABLE = "RUNTIME_REGISTRY_DISABLE_PLUGINS"


@attrs.frozen
class ServerSettings:
    """The ``[server]`` table.

    :param host: the address to bind; anything but loopback needs a ``token``
        (or ``allow_insecure_bind``).
    :param token: the bearer token every ``/api/*`` request must carry.
    :param max_body_bytes: the largest request body accepted.
    :param call_timeout_seconds: how long a runtime may take to answer one call.
    :param stream_heartbeat_seconds: how often an idle event stream sends a comment.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Interval(ge=0, le=65535)] = 8000
    token: str | None = attrs.field(default=None, repr=False)
    allow_insecure_bind: bool = False
    max_body_bytes: Annotated[int, Ge(1)] = 1_048_576
    call_timeout_seconds: Annotated[float, Gt(0)] = 10.0
    stream_heartbeat_seconds: Annotated[float, Gt(0)] = 15.0


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
        raise ConfigError(source, [ConfigProblem("", f"cannot be read ({exc.strerror or type(exc).__name__})")]) from None
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
        raise ConfigError(source, [ConfigProblem(d["path"], d["message"]) for d in exc.details]) from None
    problems = [
        ConfigProblem(f"runtimes[{index}].id", f"runtime id {runtime.id!r} is used more than once")
        for index, runtime in enumerate(config.runtimes)
        if any(other.id == runtime.id for other in config.runtimes[:index])
    ]
    if problems:
        raise ConfigError(source, problems)
    return config


def apply_environment(config: RegistryConfig, environ: Mapping[str, str] = os.environ) -> RegistryConfig:
    """Apply the environment overrides: the token and the plugin selection."""
    server, plugins = config.server, config.plugins
    token = environ.get(TOKEN_ENVIRONMENT_VARIABLE)
    if token:
        server = attrs.evolve(server, token=token)
    enabled = environ.get(ENABLE_PLUGINS_ENVIRONMENT_VARIABLE)
    if enabled is not None:
        plugins = attrs.evolve(plugins, enabled=_names(enabled))
    disabled = environ.get(DISABLE_PLUGINS_ENVIRONMENT_VARIABLE)
    if disabled is not None:
        plugins = attrs.evolve(plugins, disabled=(*plugins.disabled, *_names(disabled)))
    return attrs.evolve(config, server=server, plugins=plugins)


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())
