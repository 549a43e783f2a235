"""A request's head read once for every check, and the heads that mean two things at once.

:class:`RequestHead` is the one pass over a request's headers that the front
door (:mod:`runtime_registry.server.middleware.front_door`) makes: each check
after it reads what it needs from there instead of scanning the headers again.

:func:`head_refusal` refuses a head that means two things at once:

- A repeated ``Origin``, ``Authorization`` or ``Host`` header is
  ``400 malformed_request``. Each check downstream reads one of them — the
  Origin check the last ``Origin``, authentication the first
  ``Authorization`` — so two copies could pass a check with one value and act
  with the other (issue 12, point 7). None of them is a list-valued header;
  RFC 9112 section 3.2 asks for a 400 on a repeated ``Host``.
- A head over :data:`~runtime_registry.server.http_protocol.MAX_HEAD_BYTES`:
  h11 bounds a head only while it is incomplete, so one that arrives whole in
  a single read passes it at any size up to the read's. The bound is held
  here for both parsers (httptools' protocol stops earlier).

A request with both ``Content-Length`` and ``Transfer-Encoding`` is framed one
way by this server's parser and maybe another by a proxy in front of it
(request smuggling). :attr:`RequestHead.ambiguous_framing` says so: the front
door answers it, then closes its connection (``Connection: close``), so bytes
after it are never read as another request (RFC 9112 section 6.3). httptools
already refuses such a request with a plain 400; h11 reads it by
``Transfer-Encoding``.

An absolute-form target (``GET http://name/path``) names the request's host,
and RFC 9112 section 3.2.2 has it win over ``Host``: its host becomes the
``Host`` header the checks read, so a foreign one is refused as a foreign
``Host`` is (issue 24, point 13). httptools hands the app the target's path
and the protocol (:mod:`runtime_registry.server.http_protocol`) sets the
host; h11 hands the whole target as the path, which :func:`origin_form`
splits.
"""

from __future__ import annotations

import urllib.parse

from starlette.responses import Response
from starlette.types import Scope

from runtime_registry.server.errors import MalformedRequest
from runtime_registry.server.http_protocol import HEAD_TOO_LARGE_MESSAGE, MAX_HEAD_BYTES, split_absolute_form, with_host
from runtime_registry.server.responses import error_response

__all__ = ["SINGLE_HEADERS", "RequestHead", "head_refusal", "origin_form", "route_path"]

#: Headers a request may carry once at most.
SINGLE_HEADERS = (b"host", b"origin", b"authorization")


#: The headers :class:`RequestHead` reads.
_READ = frozenset(
    {b"host", b"content-length", b"x-request-id", b"authorization", b"origin", b"sec-fetch-site", b"transfer-encoding"}
)


class RequestHead:
    """What the checks read from a request's headers, gathered in one pass over them.

    Of ``Host`` and ``Authorization`` the first copy is kept, of ``Origin`` the
    last (a repeat of any of them is refused before it matters).
    """

    __slots__ = (
        "authorization",
        "chunked",
        "content_length",
        "fetch_site",
        "host",
        "origin",
        "repeated",
        "request_id",
        "size",
    )

    def __init__(self, scope: Scope) -> None:
        host = origin = authorization = fetch_site = request_id = content_length = None
        repeated: bytes | None = None
        chunked = False
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name not in _READ:
                continue  # most headers (Content-Type, Accept, ...): one lookup, not seven comparisons
            if name == b"host":
                if host is not None:
                    repeated = name
                else:
                    host = value
            elif name == b"content-length":
                content_length = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"authorization":
                if authorization is not None:
                    repeated = name
                else:
                    authorization = value
            elif name == b"origin":
                if origin is not None:
                    repeated = name
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"transfer-encoding":
                chunked = True
        self.host: bytes | None = host
        self.origin: bytes | None = origin
        self.authorization: bytes | None = authorization
        self.fetch_site: bytes | None = fetch_site
        #: The client's ``X-Request-ID``, as sent (checked by the request-id rules).
        self.request_id: bytes | None = request_id
        #: The declared ``Content-Length``, as sent (the last copy).
        self.content_length: bytes | None = content_length
        #: Whether a ``Transfer-Encoding`` was sent: the body's length is only known once read.
        self.chunked = chunked
        #: A single-valued header the request repeats, or ``None``.
        self.repeated = repeated
        #: The request line's target and the headers, in bytes, as the head-size bound counts them.
        self.size = size

    @property
    def ambiguous_framing(self) -> bool:
        """Both ``Content-Length`` and ``Transfer-Encoding``: framed one way here, maybe another by a proxy."""
        return self.chunked and self.content_length is not None


def head_refusal(head: RequestHead) -> Response | None:
    """The answer to a head that repeats a single-valued header or is too large, else ``None``."""
    if head.repeated is not None:
        name = head.repeated.decode("ascii").title()
        return error_response(
            MalformedRequest(f"the request repeats the {name} header; send it once"), headers={"Connection": "close"}
        )
    if head.size > MAX_HEAD_BYTES:
        return error_response(MalformedRequest(HEAD_TOO_LARGE_MESSAGE), headers={"Connection": "close"})
    return None


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (ASGI's ``path`` includes ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def origin_form(scope: Scope) -> Scope:
    """The scope as if an absolute-form target (as h11 reports it) had been sent in origin form with its host.

    A scope whose path is already in origin form is returned as it is.
    """
    root_path: str = scope.get("root_path", "")
    if scope["path"][len(root_path) :].startswith("/"):
        return scope
    raw_path: bytes = scope.get("raw_path") or b""
    root = root_path.encode("ascii")
    split = split_absolute_form(raw_path[len(root) :])
    if split is None:
        return scope
    authority, path = split
    path = path.partition(b"?")[0].partition(b"#")[0]
    return {
        **scope,
        "headers": with_host(scope["headers"], authority),
        "raw_path": root + path,
        "path": root_path + urllib.parse.unquote(path.decode("latin-1")),
    }
