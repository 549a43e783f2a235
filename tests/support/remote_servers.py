"""Config files for tests of the client and the remote kind: back servers and front servers over them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["BACK_RUNTIMES", "back_config", "front_config"]

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


def back_config(folder: Path, *, token: str | None = None, extra: str = "", retention: int | None = None) -> Path:
    """A back server's config: two embedded runtimes (``back-a``, ``back-b``) with slow profiles."""
    server = "[server]\ncall_timeout_seconds = 5.0\nstream_heartbeat_seconds = 0.5\n"
    if token is not None:
        server += f'token = "{token}"\n'
    runtimes = ""
    for runtime_id in BACK_RUNTIMES:
        runtimes += f'\n[[runtimes]]\nid = "{runtime_id}"\nkind = "embedded"\n[runtimes.settings]\n'
        if retention is not None:
            runtimes += f"event_retention = {retention}\n"
        runtimes += _PROFILES
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
