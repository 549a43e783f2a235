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
- An absolute-form target (``GET http://name/path``) names the request's
  host, and RFC 9112 section 3.2.2 has it win over ``Host``: its host
  becomes the ``Host`` header the checks downstream read, so a foreign one
  is refused as a foreign ``Host`` is (issue 24, point 13). httptools hands
  the app the target's path and the protocol
  (:mod:`runtime_registry.server.http_protocol`) sets the host; h11 hands
  the whole target as the path, which is split here.
"""

from __future__ import annotations

import urllib.parse

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.errors import MalformedRequest
from runtime_registry.server.http_protocol import HEAD_TOO_LARGE_MESSAGE, MAX_HEAD_BYTES, split_absolute_form, with_host
from runtime_registry.server.responses import error_response

__all__ = ["SINGLE_HEADERS", "RequestHeadMiddleware"]

#: Headers a request may carry once at most.
SINGLE_HEADERS = (b"host", b"origin", b"authorization")
_CLOSE = (b"connection", b"close")


def _origin_form(scope: Scope) -> Scope:
    """The scope as if an absolute-form target (as h11 reports it) had been sent in origin form with its host."""
    raw_path: bytes = scope.get("raw_path") or b""
    root = scope.get("root_path", "").encode("ascii")
    split = split_absolute_form(raw_path[len(root) :])
    if split is None:
        return scope
    authority, path = split
    path = path.partition(b"?")[0].partition(b"#")[0]
    return {
        **scope,
        "headers": with_host(scope["headers"], authority),
        "raw_path": root + path,
        "path": scope.get("root_path", "") + urllib.parse.unquote(path.decode("latin-1")),
    }


class RequestHeadMiddleware:
    """Refuse repeated single-valued headers; close the connection after an ambiguously framed request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"][len(scope.get("root_path", "")) :].startswith("/"):
            scope = _origin_form(scope)
        seen: set[bytes] = set()
        length = chunked = False
        # h11 bounds a head only while it is incomplete: one that arrives whole
        # in a single read passes it at any size up to the read's. The bound
        # is held here for both parsers (httptools' protocol stops earlier).
        head_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        for name, value in scope["headers"]:
            head_bytes += len(name) + len(value) + 4
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
        if head_bytes > MAX_HEAD_BYTES:
            await error_response(MalformedRequest(HEAD_TOO_LARGE_MESSAGE), headers={"Connection": "close"})(
                scope, receive, send
            )
            return
        if not (length and chunked):
            await self.app(scope, receive, send)
            return

        async def send_and_close(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        await self.app(scope, receive, send_and_close)
