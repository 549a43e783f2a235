"""Config files for tests of the client and the remote kind: back servers and front servers over them."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

from .server_process import ServerProcess, serve_command, started, wait_until_healthy

__all__ = ["BACK_RUNTIMES", "back_config", "front_config", "server_on_port", "stopped_process"]

#: The embedded runtimes of a back server; the tests' profiles are in each.
BACK_RUNTIMES = ("back-a", "back-b")

_PROFILES = """
[runtimes.settings.profiles.slow-echo]
base = "builtin:echo"
reply_delay_seconds = 0.3
[runtimes.settings.profiles.hold]
base = "builtin:echo"
reply_delay_seconds = 60.0
"""


def back_config(
    folder: Path, *, token: str | None = None, extra: str = "", retention: int | None = None, store: str | None = None
) -> Path:
    """A back server's config: two embedded runtimes (``back-a``, ``back-b``) with slow profiles.

    :param store: the embedded store backend (``"memory"`` or ``"sqlite"``; ``None``: the kind's default).
    """
    server = "[server]\ncall_timeout_seconds = 5.0\nstream_heartbeat_seconds = 0.5\n"
    if token is not None:
        server += f'token = "{token}"\n'
    runtimes = ""
    for runtime_id in BACK_RUNTIMES:
        runtimes += f'\n[[runtimes]]\nid = "{runtime_id}"\nkind = "embedded"\n[runtimes.settings]\n'
        if retention is not None:
            runtimes += f"event_retention = {retention}\n"
        runtimes += _PROFILES
        if store is not None:
            runtimes += f'[runtimes.settings.store]\nbackend = "{store}"\n'
    path = folder / "back.toml"
    path.write_text(server + runtimes + extra)
    return path


def front_config(
    folder: Path,
    remotes: Iterable[tuple[str, str, str]],
    *,
    token_env: str | None = None,
    timeout_seconds: float = 2.0,
    call_timeout_seconds: float = 4.0,
    refresh_seconds: float = 30.0,
    server_extra: str = "",
    name: str = "front.toml",
) -> Path:
    """A front server's config: one ``remote`` runtime per ``(id, url, remote runtime id)``."""
    text = f"[server]\ncall_timeout_seconds = {call_timeout_seconds}\nstream_heartbeat_seconds = 0.5\n{server_extra}"
    for runtime_id, url, remote_id in remotes:
        text += (
            f'\n[[runtimes]]\nid = "{runtime_id}"\nkind = "remote"\n[runtimes.settings]\n'
            f'url = "{url}"\nruntime_id = "{remote_id}"\ntimeout_seconds = {timeout_seconds}\nrefresh_seconds = {refresh_seconds}\n'
        )
        if token_env is not None:
            text += f'token_env = "{token_env}"\n'
    path = folder / name
    path.write_text(text)
    return path


@contextlib.contextmanager
def server_on_port(
    port: int, config: Path, *, log: Path, environ: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Serve ``config`` on ``port`` (a restart of a server must come back where clients look for it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
    env.update(environ or {})
    arguments = ("--host", "127.0.0.1", "--port", str(port), "--config", str(config))
    with (
        log.open("ab") as output,
        started(serve_command(*arguments), cwd=config.parent, env=env, output=output) as process,
    ):
        wait_until_healthy(process, port, log=log)
        yield ServerProcess(f"http://127.0.0.1:{port}", process, log)


@contextlib.contextmanager
def stopped_process(server: ServerProcess) -> Iterator[None]:
    """Freeze ``server`` (SIGSTOP: it accepts connections, answers nothing) until the block ends (SIGCONT)."""
    server.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.signal(signal.SIGCONT)
