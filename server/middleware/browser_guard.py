"""Keep web pages the operator visits from driving the API: Host and Origin checks, and CORS.

Over the front door's one scan of the headers (:class:`~runtime_registry.server.middleware.request_head.RequestHead`):

1. ``Host`` (:class:`~runtime_registry.server.middleware.host_policy.HostPolicy`), when the policy is on:
   anything else than an address, ``localhost`` or an allowed name is
   ``421 misdirected_request`` — a DNS-rebinding page never reaches a route.
   ``/healthz`` is exempt: probes send whatever ``Host`` they like, and it
   says nothing.
2. ``Origin`` (:class:`~runtime_registry.server.middleware.origin_policy.OriginPolicy`) on state-changing
   methods: another site's page is ``403 forbidden_origin``.
3. CORS for the configured origins: preflights answered here (before auth: a
   browser never sends credentials on a preflight), and their answers —
   errors included — carry ``Access-Control-Allow-Origin``.

The front door runs it before auth: a refused request costs no token
comparison and no body read. With the default settings the common request
(loopback ``Host``, no ``Origin``) costs a set lookup (decision 0060 has the
figures).
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import Scope

from runtime_registry.server.errors import ForbiddenOrigin, MisdirectedRequest
from runtime_registry.server.middleware.host_policy import HostPolicy, host_name_of
from runtime_registry.server.middleware.origin_policy import (
    CORS_ALLOWED_HEADERS,
    CORS_ALLOWED_METHODS,
    CORS_EXPOSED_HEADERS,
    CORS_MAX_AGE_SECONDS,
    SAFE_METHODS,
    OriginPolicy,
)
from runtime_registry.server.middleware.request_head import RequestHead, route_path
from runtime_registry.server.responses import error_response

__all__ = ["BrowserGuard", "HOST_CHECK_EXEMPT_PATHS"]

log = logging.getLogger("runtime_registry.server.middleware.browser_guard")

#: Paths served whatever the ``Host``: liveness probes.
HOST_CHECK_EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
#: How many refused host names are logged (once each); a flood of names is not logged on and on.
_LOGGED_HOSTS_MAX = 64


class BrowserGuard:
    """Refuse misdirected and cross-site requests; add CORS headers for allowed origins.

    :param host_policy: the ``Host`` check, or ``None`` when it is off (a token
        is configured and no ``allowed_hosts`` are listed).
    :param origin_policy: the ``Origin`` check and the CORS origins.
    """

    def __init__(self, *, host_policy: HostPolicy | None, origin_policy: OriginPolicy) -> None:
        self._hosts = host_policy
        self._origins = origin_policy
        self._logged_hosts: set[str] = set()

    def refusal(self, scope: Scope, head: RequestHead) -> Response | None:
        """The answer to a misdirected or cross-site request, or to a CORS preflight; ``None`` to serve it."""
        host = head.host
        origin = head.origin
        hosts = self._hosts
        # The set lookup first: a Host seen before costs no method call.
        if (
            hosts is not None
            and host not in hosts.accepted
            and not hosts.accepts(host)
            and route_path(scope) not in HOST_CHECK_EXEMPT_PATHS
        ):
            return self._misdirected(host or b"")
        method = scope["method"]
        origins = self._origins
        if method not in SAFE_METHODS:
            fetch_site = head.fetch_site
            if (origin is not None or fetch_site is not None) and origins.refuses(origin, fetch_site, host):
                return error_response(ForbiddenOrigin(_FORBIDDEN_ORIGIN_MESSAGE))
        elif method == "OPTIONS" and origin is not None and _is_preflight(scope):
            if origins.allows_cors(origin):
                return _preflight_answer(origin)
            if not origins.is_own_origin(origin, host):
                return error_response(ForbiddenOrigin(_FORBIDDEN_ORIGIN_MESSAGE))
        return None

    def response_headers(self, head: RequestHead) -> tuple[tuple[bytes, bytes], ...]:
        """The CORS headers every answer to a served request carries (none when no origin is listed)."""
        origins = self._origins
        if not origins.has_cors:
            return ()
        origin = head.origin
        return _cors_headers(origin) if origin is not None and origins.allows_cors(origin) else _VARY_ONLY

    def _misdirected(self, host: bytes) -> Response:
        name = host_name_of(host)
        if name is None:
            message = "the Host header is not a host name: this server does not answer for it"
        else:
            message = (
                f"this server does not answer for the host name {name!r} (a defence against DNS rebinding); "
                "its operator can list the name in server.allowed_hosts"
            )
            if name not in self._logged_hosts and len(self._logged_hosts) < _LOGGED_HOSTS_MAX:
                self._logged_hosts.add(name)
                log.warning(
                    "refused a request for host %r: not an address, not localhost and not in server.allowed_hosts "
                    "(DNS rebinding defence; logged once per name)",
                    name,
                )
        return error_response(MisdirectedRequest(message))


_FORBIDDEN_ORIGIN_MESSAGE = (
    "a page of another origin may not change state here (cross-site request); "
    "the server's operator can list that origin in server.cors_allowed_origins"
)
_VARY_ONLY = ((b"vary", b"Origin"),)


def _cors_headers(origin: bytes) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", CORS_EXPOSED_HEADERS.encode("ascii")),
        (b"vary", b"Origin"),
    )


def _is_preflight(scope: Scope) -> bool:
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def _preflight_answer(origin: bytes) -> Response:
    response = Response(status_code=204)
    response.raw_headers += [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", CORS_ALLOWED_METHODS.encode("ascii")),
        (b"access-control-allow-headers", CORS_ALLOWED_HEADERS.encode("ascii")),
        (b"access-control-max-age", str(CORS_MAX_AGE_SECONDS).encode("ascii")),
        (b"vary", b"Origin"),
    ]
    return response
