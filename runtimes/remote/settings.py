"""What an operator configures for a ``remote`` runtime.

Example (in the registry's config file)::

    [[runtimes]]
    id = "gpu-box-1"
    kind = "remote"

    [runtimes.settings]
    url = "http://gpu-box-1.internal:8000"   # the other runtime-registry server
    runtime_id = "backend-internal"          # which of its runtimes
    token_env = "GPU_BOX_1_TOKEN"            # optional: the env var holding its bearer token

Neither the URL nor the token is ever shown to clients (decision 0098).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import attrs
from annotated_types import Interval

from registry_core.models import Identifier

__all__ = ["RemoteSettings"]

_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@attrs.frozen
class RemoteSettings:
    """The ``settings`` table of a ``remote`` runtime.

    :param url: the other server's base URL, ``http(s)://host[:port][/prefix]``
        (no user, query or fragment). Never shown to clients.
    :param runtime_id: the id of the runtime on that server this runtime fronts.
    :param token_env: the name of the environment variable that holds that
        server's bearer token (``None``: it has none). The token is read once,
        at startup; the variable's name is shown in diagnostics, its value never.
    :param timeout_seconds: how long one call to the other server may take
        before it is ``runtime_timeout``; keep it below the front server's
        ``server.call_timeout_seconds``.
    :param refresh_seconds: how often the remote's summary (status,
        capabilities, limits) is read again in the background; while the
        remote is unreachable, every ``min(refresh_seconds, 2)`` seconds.
    :param max_connections: connections kept to the other server for calls.
    :param max_streams: connections for waiting on events (one per open event
        stream of this runtime on the front server, while it waits).
    """

    url: str
    runtime_id: Identifier
    token_env: str | None = None
    timeout_seconds: Annotated[float, Interval(gt=0, le=300)] = 5.0
    refresh_seconds: Annotated[float, Interval(gt=0, le=3600)] = 30.0
    max_connections: Annotated[int, Interval(ge=1, le=10_000)] = 100
    max_streams: Annotated[int, Interval(ge=1, le=10_000)] = 100

    def __attrs_post_init__(self) -> None:
        parts = urlsplit(self.url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
        ):
            raise ValueError("url: must be http:// or https:// with a host, and no user, query or fragment")
        try:
            parts.port  # noqa: B018 - reading it validates it
        except ValueError:
            raise ValueError("url: the port must be a number from 0 to 65535") from None
        if self.token_env is not None and not _ENVIRONMENT_NAME.fullmatch(self.token_env):
            raise ValueError("token_env: must be an environment variable name (letters, digits, '_')")
