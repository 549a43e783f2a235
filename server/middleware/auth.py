"""Bearer-token authentication of every ``/api`` route (pure ASGI, constant-time compare).

``/healthz`` and ``/openapi.json`` stay open: the first is a liveness probe
that says nothing, the second describes an open-source API and holds no data
(decision 0012). Everything under ``/api`` — data and plugin listing alike —
needs ``Authorization: Bearer <token>`` when a token is configured.
"""

from __future__ import annotations

import hmac

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime_registry.server.errors import Unauthorized
from runtime_registry.server.responses import error_response

__all__ = ["BearerAuthMiddleware", "is_protected_path"]

_CHALLENGE = 'Bearer realm="runtime-registry"'


def is_protected_path(path: str) -> bool:
    """Whether ``path`` needs the token: ``/api`` and everything below it."""
    return path == "/api" or path.startswith("/api/")


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (ASGI's ``path`` includes ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class BearerAuthMiddleware:
    """Refuse protected requests without the configured token: ``401 unauthorized``.

    :param token: the expected token; must not be empty.
    :param also_protected: exact paths outside ``/api`` that need it too (``/metrics``, unless public).
    """

    def __init__(self, app: ASGIApp, *, token: str, also_protected: frozenset[str] = frozenset()) -> None:
        if not token:
            raise ValueError("an empty token protects nothing")
        self.app = app
        self._expected = token.encode("utf-8")
        self._also_protected = also_protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (is_protected_path(path := _route_path(scope)) or path in self._also_protected):
            presented = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    presented = value or None
                    break
            if not self._accepts(presented):
                await self._refuse(presented is not None)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _accepts(self, header: bytes | None) -> bool:
        if header is None:
            return False
        scheme, _, credentials = header.partition(b" ")
        # compare_digest takes as long whatever the first differing byte is.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected)

    @staticmethod
    def _refuse(token_presented: bool) -> Response:
        if token_presented:
            message = "the bearer token is not valid"
            challenge = f'{_CHALLENGE}, error="invalid_token"'
        else:
            message = "this server needs a bearer token: send 'Authorization: Bearer <token>'"
            challenge = _CHALLENGE
        return error_response(Unauthorized(message), headers={"WWW-Authenticate": challenge})
