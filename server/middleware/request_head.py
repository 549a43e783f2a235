"""Request heads that mean two things at once (pure ASGI): refused, or answered and the connection closed.

- A repeated ``Origin``, ``Authorization`` or ``Host`` header is
  ``400 malformed_request``. Each check downstream reads one of them — the
  Origin check the last ``Origin``, authentication the first
  ``Authorization`` — so two copies could pass a check with one value and act
  with the other (issue 12, point 7). None of them is a list-valued header;
  RFC 9112 section 3.2 asks for a 400 on a repeated ``Host``.
- A request with both ``Content-Length`` and ``Transfer-Encoding`` is framed
  one way by this server's parser and maybe another by a proxy in front of
  it (request smuggling). It is answered, then its connection is closed
  (``Connection: close``), so bytes after it are never read as another
  request (RFC 9112 section 6.3). httptools already refuses such a request
  with a plain 400; h11 reads it by ``Transfer-Encoding``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.errors import MalformedRequest
from runtime_registry.server.responses import error_response

__all__ = ["SINGLE_HEADERS", "RequestHeadMiddleware"]

#: Headers a request may carry once at most.
SINGLE_HEADERS = (b"host", b"origin", b"authorization")
_CLOSE = (b"connection", b"close")


class RequestHeadMiddleware:
    """Refuse repeated single-valued headers; close the connection after an ambiguously framed request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: set[bytes] = set()
        length = chunked = False
        for name, _ in scope["headers"]:
            if name in SINGLE_HEADERS:
                if name in seen:
                    error = MalformedRequest(
                        f"the request repeats the {name.decode('ascii').title()} header; send it once"
                    )
                    await error_response(error, headers={"Connection": "close"})(scope, receive, send)
                    return
                seen.add(name)
            elif name == b"content-length":
                length = True
            elif name == b"transfer-encoding":
                chunked = True
        if not (length and chunked):
            await self.app(scope, receive, send)
            return

        async def send_and_close(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        await self.app(scope, receive, send_and_close)
