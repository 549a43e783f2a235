"""Where the server listens: the loopback rule and binding the socket ourselves.

Binding before uvicorn starts lets ``serve`` report "address already in use"
as one clear line (uvicorn would log and exit from deep inside), and lets the
startup benchmark measure the same thing for our app and a bare one.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

__all__ = ["is_loopback", "insecure_bind_problem", "bind_socket", "BindError"]


class BindError(Exception):
    """The socket could not be bound; ``str()`` is one line for the operator."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1`` or ``localhost``).

    Any other name counts as not loopback: it may resolve to anything.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_bind_problem(host: str, *, token: str | None, allow_insecure_bind: bool) -> str | None:
    """One line saying why serving on ``host`` is refused, or ``None`` if it is fine."""
    if is_loopback(host) or token or allow_insecure_bind:
        return None
    return (
        f"refusing to listen on {host} without a token: anyone who can reach it could drive the workers; "
        "set server.token or RUNTIME_REGISTRY_TOKEN, or pass --allow-insecure-bind"
    )


_REASONS = {
    errno.EADDRINUSE: "address already in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "address not available on this machine",
}


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or :class:`BindError` with one line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise BindError(f"cannot listen on {host}:{port}: the host name does not resolve") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise BindError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock
