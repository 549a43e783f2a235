"""What a plugin registers: a :class:`RuntimeKind`; and what the host gives its factory."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from registry_core.provider import RuntimeProvider

__all__ = [
    "DEFAULT_DATA_DIR",
    "KIND_NAME_PATTERN",
    "NoSettings",
    "ProviderFactory",
    "RuntimeContext",
    "RuntimeKind",
    "accepts_context",
    "accepts_keyword",
]

#: Kind names: lowercase letters, digits and ``-``, starting with a letter, at most 64.
KIND_NAME_PATTERN = re.compile(r"[a-z][a-z0-9\-]{0,63}")

#: Builds a provider: ``factory(runtime_id, settings) -> RuntimeProvider`` (with
#: ``context=`` and ``extensions=`` too when it takes those keyword arguments).
ProviderFactory = Callable[..., RuntimeProvider]


#: The data directory of a host that configures none: relative to the working directory.
DEFAULT_DATA_DIR = ".runtime-registry"


@attrs.frozen
class RuntimeContext:
    """What the host tells a runtime about where it runs (added in 0.x with durable stores).

    A factory that takes a keyword argument ``context`` receives one; other
    factories are called as before (``factory(runtime_id, settings)``).

    :ivar data_dir: the absolute directory where runtimes keep their files
        (the server's ``data_dir``). Resolve relative paths of your settings
        against it; never show it to clients.
    """

    data_dir: Path


def accepts_context(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` takes the ``context`` keyword argument."""
    return accepts_keyword(factory, "context")


def accepts_keyword(factory: Callable[..., Any], name: str) -> bool:
    """Whether ``factory`` takes the keyword argument ``name`` (``context``, ``extensions``)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    parameter = parameters.get(name)
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


@attrs.frozen
class NoSettings:
    """The settings type of a kind that takes none: its ``settings`` table must be empty."""


def _check_kind_name(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not KIND_NAME_PATTERN.fullmatch(value):
        raise ValueError("runtime kind names are 1-64 lowercase letters, digits or '-', starting with a letter")


@attrs.frozen
class RuntimeKind:
    """A runtime kind a plugin provides.

    :ivar name: the kind name operators write in config (``kind = "embedded"``)
        and clients see in every summary and worker row.
    :ivar description: one line for ``runtime-registry plugins`` and ``/api/plugins``.
    :ivar factory: ``factory(runtime_id, settings)`` returns a new, not yet
        started :class:`~registry_core.provider.RuntimeProvider`. It runs at
        startup, outside any event loop: do not start tasks here, do that in
        ``start()``. A factory with a ``context`` keyword parameter is also
        given a :class:`RuntimeContext` (where to keep files); one with an
        ``extensions`` keyword parameter a
        :class:`~registry_core.extensions.HostExtensions` (every registered
        turn engine and worker tool, for kinds that run turns through
        engines, like ``embedded``). A factory that finds a setting it cannot
        use raises :class:`~registry_core.errors.InvalidRequest` with
        ``details`` whose paths are relative to the ``settings`` table: the
        operator sees them as configuration errors.
    :ivar settings_type: an attrs class the runtime's ``settings`` table is
        structured into (unknown keys are errors, every field should have a
        default). The factory receives an instance.
    """

    name: str = attrs.field(validator=_check_kind_name)
    description: str
    factory: ProviderFactory
    settings_type: type = NoSettings
