"""Bearer-token authentication of every ``/api`` route (constant-time compare).

``/healthz`` and ``/openapi.json`` stay open: the first is a liveness probe
that says nothing, the second describes an open-source API and holds no data
(decision 0012). Everything under ``/api`` — data and plugin listing alike —
needs ``Authorization: Bearer <token>`` when a token is configured.

Failed guesses are paced per client (:mod:`runtime_registry.server.middleware.token_guesses`),
and a token too short to resist guessing is named at start
(:func:`short_token_warning`; issue 24, point 11).
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.responses import Response
from starlette.types import Scope

from runtime_registry.server.errors import TooManyRequests, Unauthorized
from runtime_registry.server.middleware.request_head import RequestHead, route_path
from runtime_registry.server.middleware.token_guesses import TokenGuessPacer
from runtime_registry.server.responses import error_response

__all__ = ["BearerAuth", "MIN_TOKEN_CHARS", "is_protected_path", "short_token_warning"]

_CHALLENGE = 'Bearer realm="runtime-registry"'
#: Shorter tokens get a warning at start: 16 random characters of a URL-safe
#: alphabet are about 96 bits, out of reach of any guessing this server allows.
MIN_TOKEN_CHARS = 16


def short_token_warning(token: str | None) -> str | None:
    """The start-up warning for a token that is too short to resist guessing, else ``None`` (never the token)."""
    if not token or len(token) >= MIN_TOKEN_CHARS:
        return None
    return (
        f"server.token has {len(token)} characters: a short token can be guessed; "
        f"use at least {MIN_TOKEN_CHARS} random characters (python -c 'import secrets; print(secrets.token_urlsafe())')"
    )


def is_protected_path(path: str) -> bool:
    """Whether ``path`` needs the token: ``/api`` and everything below it."""
    return path == "/api" or path.startswith("/api/")


def _client_of(scope: Scope) -> str:
    """The client's address as the server sees it (a proxy's, behind one)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class BearerAuth:
    """Refuse protected requests without the configured token: ``401 unauthorized``.

    :param token: the expected token; must not be empty.
    :param also_protected: exact paths outside ``/api`` that need it too (``/metrics``, unless public).
    """

    def __init__(
        self,
        *,
        token: str,
        pacer: TokenGuessPacer | None = None,
        also_protected: frozenset[str] = frozenset(),
    ) -> None:
        if not token:
            raise ValueError("an empty token protects nothing")
        self._expected = token.encode("utf-8")
        self._pacer = pacer if pacer is not None else TokenGuessPacer()
        self._also_protected = also_protected

    async def refusal(self, scope: Scope, head: RequestHead) -> Response | None:
        """The answer to a protected request without the token (after its guess is paced), else ``None``."""
        path = route_path(scope)
        if not (is_protected_path(path) or path in self._also_protected):
            return None
        presented = head.authorization or None
        if presented is None:
            # Nothing guessed: no pacing, the plain challenge.
            return self._refuse(False)
        client = _client_of(scope)
        turn = self._pacer.turn(client)
        if turn is None:
            return self._too_many(client)
        if turn > 0:
            # A reserved turn: the check waits for it (the pacer counted it already).
            await asyncio.sleep(turn)
        if not self._accepts(presented):
            if turn == 0:
                self._pacer.failed(client)
            return self._refuse(True)
        self._pacer.succeeded(client)
        return None

    def _too_many(self, client: str) -> Response:
        retry_after = self._pacer.retry_after(client)
        error = TooManyRequests(
            f"too many failed bearer tokens from this client; the next one is checked in {retry_after} s"
        )
        return error_response(error, headers={"Retry-After": str(retry_after)})

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
