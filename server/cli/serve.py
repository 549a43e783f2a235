"""``runtime-registry serve``: bind the socket, build the app, run uvicorn until a signal ends it."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
from collections.abc import Iterator
from typing import Any

import attrs

from runtime_registry.host.assembly import assemble
from runtime_registry.host.config import ServerSettings
from runtime_registry.server.cli.binding import BindError, bind_socket, insecure_bind_problem
from runtime_registry.server.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, load
from runtime_registry.server.http_protocol import ParserUnavailable, available_loop, protocol_class
from runtime_registry.server.observe.logs import configure_logging

__all__ = ["serve", "connection_limits", "GRACEFUL_SHUTDOWN_SECONDS"]

#: How long shutdown waits for open connections (live streams close at once) before cancelling them.
GRACEFUL_SHUTDOWN_SECONDS = 5


def serve(args: argparse.Namespace) -> int:
    config = load(args.config)
    server_settings = config.server
    if args.host is not None:
        server_settings = attrs.evolve(server_settings, host=args.host)
    if args.port is not None:
        server_settings = attrs.evolve(server_settings, port=args.port)
    config = attrs.evolve(config, server=server_settings)
    problem = insecure_bind_problem(
        server_settings.host,
        token=server_settings.token,
        allow_insecure_bind=args.allow_insecure_bind or server_settings.allow_insecure_bind,
    )
    if problem is not None:
        error(problem)
        return EXIT_USAGE

    configure_logging(args.log_level, args.log_format)
    try:
        http_protocol = protocol_class(
            server_settings.http_parser.value, header_timeout_seconds=server_settings.header_timeout_seconds
        )
        loop = available_loop(server_settings.event_loop.value)
    except ParserUnavailable as exc:
        error(str(exc))
        return EXIT_USAGE
    try:
        sock = bind_socket(server_settings.host, server_settings.port)
    except BindError as exc:
        error(str(exc))
        return EXIT_FAILED

    with sock:
        with _startup_without_gc():
            # Imported here so that `plugins` and `check-config` stay quick.
            import uvicorn

            from runtime_registry.engines.llm_engine import deferring_checks
            from runtime_registry.server.app import create_app

            # Engine checks that need llm run once the server listens (decision 0172).
            with deferring_checks():
                app = create_app(
                    assembly=assemble(config, source=args.config or "<default config>"),
                    access_log=not args.no_access_log,
                )
            uvicorn_config = uvicorn.Config(
                app,
                log_config=None,
                log_level=args.log_level,
                # The app writes the access line itself (latency, request id: runtime_registry.server.observe.http).
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                server_header=False,
                http=http_protocol,
                loop=loop,
                # The API has no WebSocket route: an upgrade is answered as plain HTTP.
                ws="none",
                **connection_limits(server_settings),
            )
            server = uvicorn.Server(uvicorn_config)
        bound_host, bound_port = sock.getsockname()[:2]
        logging.getLogger("runtime_registry.server").info(
            "listening on http://%s:%d (HTTP parser %s, event loop %s)",
            _url_host(bound_host),
            bound_port,
            http_protocol.parser_name,  # type: ignore[attr-defined]
            loop,
        )
        from runtime_registry.server.cli.deferred_checks import check_engines_once_listening

        check_engines_once_listening(server)
        with _signals_end_the_server_quietly():
            try:
                server.run(sockets=[sock])
            except SystemExit:
                error("the server failed to start (see the log above)")
                return EXIT_FAILED
    return EXIT_OK if server.started else EXIT_FAILED


@contextlib.contextmanager
def _startup_without_gc() -> Iterator[None]:
    """Build the server without the cyclic garbage collector, then freeze what was built.

    Starting allocates almost only objects that live as long as the process
    (modules, classes, the registry, the app): collecting while it runs is
    wasted work (docs/performance.md, "Startup"). Freezing them afterwards takes them
    out of the collector's generations, so that full collections while
    serving do not walk them again (shorter pauses; docs/performance.md).
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def connection_limits(settings: ServerSettings) -> dict[str, Any]:
    """The uvicorn options that bound connections, from ``[server]``.

    ``limit_concurrency``: uvicorn answers a plain-text ``503`` to a request
    arriving while that many connections are open or requests in flight (the
    connection it arrives on counts). ``timeout_keep_alive``: an idle
    keep-alive connection is closed after that long. The timeout for a
    request head is the protocol's (:mod:`runtime_registry.server.http_protocol`);
    docs/configuration.md says what still needs a proxy.
    """
    return {
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def _signals_end_the_server_quietly() -> Iterator[None]:
    """uvicorn handles SIGINT/SIGTERM while it serves, then re-raises the signal to the
    handler that was there before. Make that one a no-op, so a signalled shutdown
    that went well exits 0 instead of dying by the signal."""
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
