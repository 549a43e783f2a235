"""Which browser origins may change state, and the CORS headers the allowed ones get.

A web page can make the operator's browser send "simple" cross-site requests
(a ``POST`` with no body or a form body) to this server: the browser will not
let the page read the answer, but the request has done its work. Browsers say
where such a request comes from in ``Origin`` (and ``Sec-Fetch-Site``), so a
state-changing request is served only when

- it has no ``Origin`` (curl, scripts, server-side clients) and does not say
  ``Sec-Fetch-Site: cross-site`` / ``same-site``; or
- its ``Origin`` is the server's own: its ``host[:port]`` is the ``Host`` the
  request was sent to (the scheme is not compared: behind a TLS-terminating
  proxy the server sees ``http`` where the browser says ``https``); or
- its ``Origin`` is listed in ``server.cors_allowed_origins``.

Listed origins also get CORS: their preflights are answered and their
answers carry ``Access-Control-Allow-Origin``, so a console served elsewhere
can use the API. Cookies play no part (the API authenticates with a bearer
token), so credentials are never allowed. Decision 0060.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "OriginPolicy",
    "SAFE_METHODS",
    "CORS_ALLOWED_METHODS",
    "CORS_ALLOWED_HEADERS",
    "CORS_EXPOSED_HEADERS",
    "CORS_MAX_AGE_SECONDS",
]

#: Methods that change nothing; the origin of a request with one of them is not checked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A preflight's ``Access-Control-Allow-Methods``: every method a route has.
CORS_ALLOWED_METHODS = "GET, HEAD, POST, DELETE"
#: A preflight's ``Access-Control-Allow-Headers``: the request headers the API reads.
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-Request-ID"
#: ``Access-Control-Expose-Headers``: the response headers a console's script may read.
CORS_EXPOSED_HEADERS = "Location, X-Request-ID, WWW-Authenticate, Allow"
#: How long a browser may reuse a preflight's answer (browsers cap it: Chromium at 2 hours).
CORS_MAX_AGE_SECONDS = 600

#: Same-origin (Origin, Host) pairs remembered; bounded, as a client can vary both.
_CACHE_MAX = 512
_DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}
#: Sec-Fetch-Site values a browser sends for a request another site's page made.
_FOREIGN_FETCH_SITES = frozenset({b"cross-site", b"same-site"})


def _strip_default_port(authority: bytes, scheme: bytes) -> bytes:
    default = _DEFAULT_PORTS[scheme]
    return authority[: -len(default)] if authority.endswith(default) else authority


class OriginPolicy:
    """Decides about a request's ``Origin``.

    :param cors_allowed_origins: origins (``https://console.example``) that may
        send state-changing requests and get CORS headers.
    """

    def __init__(self, cors_allowed_origins: Iterable[str] = ()) -> None:
        self._cors = frozenset(origin.lower().encode("ascii") for origin in cors_allowed_origins)
        #: Whether any origin gets CORS headers (then every answer varies by ``Origin``).
        self.has_cors = bool(self._cors)
        # (Origin, Host) pairs found to be the same origin: a browser console
        # sends the same pair on every request.
        self._own_origins: set[tuple[bytes, bytes | None]] = set()

    def allows_cors(self, origin: bytes) -> bool:
        """Whether ``origin`` is one of the configured CORS origins."""
        return origin.lower() in self._cors

    def is_own_origin(self, origin: bytes, host_header: bytes | None) -> bool:
        """Whether ``origin`` names the host the request was sent to (any scheme of http and https)."""
        if host_header is None:
            return False
        scheme, separator, authority = origin.lower().partition(b"://")
        if not separator or scheme not in _DEFAULT_PORTS:
            return False
        return _strip_default_port(authority, scheme) == _strip_default_port(host_header.lower(), scheme)

    def refuses(self, origin: bytes | None, fetch_site: bytes | None, host_header: bytes | None) -> bool:
        """Whether a state-changing request with these headers is refused (``403 forbidden_origin``)."""
        if origin is None:
            # Browsers send Origin on every POST nowadays; one that sent only
            # Fetch Metadata still says where the request came from.
            return fetch_site is not None and fetch_site.lower() in _FOREIGN_FETCH_SITES
        if (origin, host_header) in self._own_origins:
            return False
        if self.is_own_origin(origin, host_header):
            if len(self._own_origins) < _CACHE_MAX:
                self._own_origins.add((origin, host_header))
            return False
        return not self.allows_cors(origin)
