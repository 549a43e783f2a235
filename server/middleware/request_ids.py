"""Request ids: each request gets one (the client's ``X-Request-ID`` when it is a short token, else a new one).

The front door (:mod:`runtime_registry.server.middleware.front_door`) puts
it in the scope and in the ``X-Request-ID`` response header; logs and the
500 envelope quote it.
"""

from __future__ import annotations

import os
import re

from starlette.types import Scope

__all__ = ["REQUEST_ID_SCOPE_KEY", "new_request_id", "request_id_for", "request_id_of"]

#: Where the request id lives in the ASGI scope.
REQUEST_ID_SCOPE_KEY = "runtime_registry.request_id"

_CLIENT_ID = re.compile(rb"[A-Za-z0-9._\-]{1,64}")


def new_request_id() -> str:
    """16 random hex digits (64 bits from the OS).

    Random, not a counter: a counter told every client how many requests the
    server had handled since it started (issue 12, point 11). 64 bits make a
    repeat among a day's requests unlikely enough for an id quoted in a report.
    """
    if not _random_ids:
        # One read of the OS's randomness per 256 ids: a read per request cost 0.8 µs.
        block = os.urandom(8 * 256).hex()
        _random_ids.extend(block[start : start + 16] for start in range(0, len(block), 16))
    return _random_ids.pop()


_random_ids: list[str] = []


def request_id_of(scope: Scope) -> str:
    """The id of the request ``scope`` belongs to (``"-"`` outside the middleware)."""
    request_id: str = scope.get(REQUEST_ID_SCOPE_KEY, "-")
    return request_id


def request_id_for(client_id: bytes | None) -> str:
    """The id of a request that sent ``client_id`` as its ``X-Request-ID``: that, if it is a short token, else a new one."""
    if client_id is not None and _CLIENT_ID.fullmatch(client_id):
        return client_id.decode("ascii")
    return new_request_id()
