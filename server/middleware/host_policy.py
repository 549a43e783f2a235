"""Which ``Host`` header values the server answers for: the defence against DNS rebinding.

A page on ``evil.example`` whose name the attacker later points at
``127.0.0.1`` is *same-origin* with this server as far as the browser knows,
so it could read every answer. What gives it away is the ``Host`` header: the
browser sends the name it resolved, ``evil.example``. So, when the policy is
on, a request is served only when its ``Host`` is

- an IP address literal (``127.0.0.1:8000``, ``[::1]``, ``192.0.2.7``):
  rebinding needs a *name* to re-point; a page whose origin is an address is
  served by that address, which is this server;
- ``localhost``;
- a name the operator lists in ``server.allowed_hosts`` (exact, or
  ``*.example`` for every name below ``example``), any port;
- absent (HTTP/1.0 without ``Host``: not a browser, which always sends it).

Everything else is refused. Decision 0060 has the reasons and when the policy
is on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

__all__ = ["HostPolicy", "host_name_of"]

_PORT = re.compile(rb"[0-9]{1,5}")
_NAME = re.compile(rb"[A-Za-z0-9.\-]{1,253}")
#: Accepted Host values are remembered (they repeat on every request of every
#: client); bounded, because a client can vary the port or the address.
_CACHE_MAX = 512


def host_name_of(host_header: bytes) -> str | None:
    """The host part of a ``Host`` header value, lower case, without port or brackets.

    ``None`` when the value is not ``name[:port]``, ``address[:port]`` or
    ``[v6-address][:port]`` (a space, a path, a user part, a bad port...).
    """
    if host_header.startswith(b"["):
        address, bracket, rest = host_header[1:].partition(b"]")
        if not bracket or (rest and not (rest[:1] == b":" and _PORT.fullmatch(rest[1:]))):
            return None
        try:
            return str(ipaddress.IPv6Address(address.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            return None
    name, colon, port = host_header.partition(b":")
    if colon and not _PORT.fullmatch(port):
        return None
    if not _NAME.fullmatch(name):
        return None
    return name.decode("ascii").lower()


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Decides whether a ``Host`` header value is served.

    :param allowed_hosts: the operator's names: ``registry.example``,
        ``*.example`` (names *below* ``example``) or ``*`` (any).
    """

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        patterns = [pattern.lower() for pattern in allowed_hosts]
        self.allows_any = "*" in patterns
        self._names = frozenset({"localhost", *(p for p in patterns if not p.startswith("*"))})
        self._suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        #: ``Host`` values already accepted (read directly by the middleware's fast path).
        self.accepted: set[bytes | None] = {None}

    def accepts(self, host_header: bytes | None) -> bool:
        """Whether a request with this ``Host`` header (``None``: none sent) is served."""
        if self.allows_any or host_header in self.accepted:
            return True
        name = host_name_of(host_header)  # type: ignore[arg-type]  # None is in the accepted set
        if name is None:
            return False
        accepted = name in self._names or name.endswith(self._suffixes) or _is_ip_address(name)
        if accepted and len(self.accepted) < _CACHE_MAX:
            self.accepted.add(host_header)
        return accepted
