"""The configurations the reliability tests serve: small limits, so that boundaries are reached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runtime_registry.host import RegistryConfig, parse_config

from ..support.server_process import ServerProcess, running_server

#: The embedded runtime every reliability test drives.
EMBEDDED = "backend-internal"
#: Its profile whose turns take long enough to be busy when the next request comes.
SLOW_PROFILE = "slow-echo"


def embedded_toml(
    *,
    token: str | None = None,
    max_workers: int = 1000,
    max_transcript_entries: int = 10_000,
    event_retention: int = 10_000,
    slow_delay_seconds: float = 2.0,
    heartbeat_seconds: float = 15.0,
    extra: str = "",
    settings: str = "",
    server_settings: str = "",
) -> str:
    """A config with one embedded runtime (``EMBEDDED``), its slow profile, and ``extra`` appended
    (``settings``: more lines of its ``[runtimes.settings]`` table; ``server_settings``: of ``[server]``)."""
    server = [*server_settings.splitlines(), f"stream_heartbeat_seconds = {heartbeat_seconds}"]
    if token is not None:
        server.append(f'token = "{token}"')
    return (
        "[server]\n" + "\n".join(server) + "\n\n"
        "[[runtimes]]\n"
        f'id = "{EMBEDDED}"\nkind = "embedded"\ndisplay_name = "Backend (embedded)"\n\n'
        "[runtimes.settings]\n"
        f"max_workers = {max_workers}\nmax_transcript_entries = {max_transcript_entries}\n"
        f"event_retention = {event_retention}\n{settings}\n"
        f"[runtimes.settings.profiles.{SLOW_PROFILE}]\n"
        f'base = "builtin:echo"\nreply_delay_seconds = {slow_delay_seconds}\n\n'
        "[runtimes.settings.profiles.echo]\n"
        'base = "builtin:echo"\n\n' + extra
    )


def embedded_config(**kwargs) -> RegistryConfig:
    """:func:`embedded_toml`, parsed."""
    return parse_config(embedded_toml(**kwargs))


def write_config(directory: Path, text: str) -> Path:
    """Write ``text`` as ``registry.toml`` in ``directory``; return its path."""
    path = directory / "registry.toml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def serving_embedded(directory: Path, **settings: Any) -> Iterator[ServerProcess]:
    """The real server on :func:`embedded_toml` (called with ``settings``), its config and log in ``directory``."""
    config = write_config(directory, embedded_toml(**settings))
    with running_server(config, log=directory / "server.log") as served:
        yield served
