"""The ``runtime-registry`` command: ``serve``, ``plugins``, ``check-config`` and ``new-kind``.

Everything an operator can get wrong (a missing or broken config file, a port
in use, a public address without a token) ends in one line on stderr and a
non-zero exit, never a traceback. Exit codes: 0 success (also after SIGTERM or
Ctrl-C while serving), 1 the server could not start, 2 the configuration or the
command line is wrong, 130 interrupted before the server started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from registry_core import __version__
from registry_core.converter import unstructure
from runtime_registry.host.assembly import assemble
from runtime_registry.host.config import ConfigError, RegistryConfig, ServerSettings, apply_environment, load_config
from runtime_registry.host.plugin_loading import discover_plugins, load_plugins
from runtime_registry.server.binding import BindError, bind_socket, insecure_bind_problem
from runtime_registry.server.http_protocol import ParserUnavailable, available_loop, protocol_class
from runtime_registry.server.log_redaction import CredentialRedactingFilter

__all__ = ["main", "build_parser", "connection_limits", "GRACEFUL_SHUTDOWN_SECONDS"]

PROG = "runtime-registry"
#: How long shutdown waits for open connections (live streams close at once) before cancelling them.
GRACEFUL_SHUTDOWN_SECONDS = 5

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog=PROG, description="A registry of runtimes for long-lived agent workers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the HTTP API", description="Serve the HTTP API with uvicorn.")
    serve.add_argument("--config", metavar="FILE", help="TOML configuration (default: one embedded runtime)")
    serve.add_argument("--host", help="address to bind (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="TCP port (default: server.port, 8000)")
    serve.add_argument(
        "--allow-insecure-bind",
        action="store_true",
        help="allow a non-loopback host without a token (anyone who reaches it can drive the workers)",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    serve.add_argument("--no-access-log", action="store_true", help="do not log one line per request")

    plugins = commands.add_parser(
        "plugins", help="list discovered plugins", description="List discovered plugins and their state."
    )
    plugins.add_argument("--config", metavar="FILE", help="TOML configuration whose [plugins] table applies")
    plugins.add_argument("--json", action="store_true", help="print JSON (the body of GET /api/plugins)")

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file without serving.",
    )
    check.add_argument("file", metavar="FILE")

    new_kind = commands.add_parser(
        "new-kind",
        help="write a new runtime kind's package",
        description="Write a pip package providing a new runtime kind: entry point, provider, settings, tests, README.",
    )
    new_kind.add_argument("name", metavar="NAME", help="the kind name (lowercase letters, digits and '-')")
    new_kind.add_argument(
        "directory", metavar="DIR", nargs="?", help="where to write it (default: ./runtime-registry-NAME)"
    )
    return parser


def _port(value: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 65535:
        return int(value)
    raise argparse.ArgumentTypeError("must be an integer from 0 to 65535")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    command = {"serve": _serve, "plugins": _plugins, "check-config": _check_config, "new-kind": _new_kind}[args.command]
    try:
        return command(args)
    except ConfigError as exc:
        for line in exc.lines():
            _error(line)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Ctrl-C before the server took over the signals (while loading plugins, say).
        return EXIT_INTERRUPTED


def _error(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


def _load(path: str | None) -> RegistryConfig:
    return apply_environment(load_config(path))


# -- serve ---------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    config = _load(args.config)
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
        _error(problem)
        return EXIT_USAGE

    _configure_logging(args.log_level)
    try:
        http_protocol = protocol_class(
            server_settings.http_parser.value, header_timeout_seconds=server_settings.header_timeout_seconds
        )
        loop = available_loop(server_settings.event_loop.value)
    except ParserUnavailable as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        sock = bind_socket(server_settings.host, server_settings.port)
    except BindError as exc:
        _error(str(exc))
        return EXIT_FAILED

    with sock:
        with _startup_without_gc():
            # Imported here so that `plugins` and `check-config` stay quick.
            import uvicorn

            from runtime_registry.engines.llm_engine import deferring_checks
            from runtime_registry.server.app import create_app

            # Engine checks that need llm run once the server listens (decision 0172).
            with deferring_checks():
                app = create_app(assembly=assemble(config, source=args.config or "<default config>"))
            uvicorn_config = uvicorn.Config(
                app,
                log_config=None,
                log_level=args.log_level,
                access_log=not args.no_access_log,
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
        logging.getLogger("server").info(
            "listening on http://%s:%d (HTTP parser %s, event loop %s)",
            _url_host(bound_host),
            bound_port,
            http_protocol.parser_name,  # type: ignore[attr-defined]
            loop,
        )
        from runtime_registry.server.deferred_checks import check_engines_once_listening

        check_engines_once_listening(server)
        with _signals_end_the_server_quietly():
            try:
                server.run(sockets=[sock])
            except SystemExit:
                _error("the server failed to start (see the log above)")
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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # On the handler, not a logger: every line written passes through it.
    for handler in logging.getLogger().handlers:
        handler.addFilter(CredentialRedactingFilter())


@contextlib.contextmanager
def _logging_off() -> Iterator[None]:
    """No log output while the block runs (the one-shot commands print their own findings)."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


# -- plugins -------------------------------------------------------------------


def _plugins(args: argparse.Namespace) -> int:
    config = _load(args.config)
    # A broken plugin is reported in the table; its traceback is not for this
    # listing. A plugin that prints while it is imported must not corrupt the
    # listing (``--json`` output is read by programs): its output goes to stderr.
    with _logging_off(), contextlib.redirect_stdout(sys.stderr):
        plugins = load_plugins(discover_plugins(), enabled=config.plugins.enabled, disabled=config.plugins.disabled)
    if args.json:
        print(json.dumps({"items": unstructure(plugins.listing())}, indent=2))
        return EXIT_OK
    rows = [("NAME", "VERSION", "KINDS", "ENGINES", "TOOLS", "STATE", "REASON")]
    rows += [
        (
            p.name,
            p.version,
            ",".join(p.kinds) or "-",
            ",".join(p.engines) or "-",
            ",".join(p.tools) or "-",
            p.state.value,
            p.reason or "",
        )
        for p in plugins.plugins
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print(("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[6]).rstrip())
    return EXIT_OK


# -- check-config --------------------------------------------------------------


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    # Problems are reported below, one line each; the log's tracebacks are not for this check.
    with _logging_off():
        assembly = assemble(config, strict=True, source=args.file)
        runtimes = asyncio.run(assembly.registry.list_runtimes())
    failed = [
        f"{args.file}: runtimes[{index}]: {diagnostic.message}"
        for index, runtime in enumerate(runtimes.items)
        for diagnostic in runtime.diagnostics
        if diagnostic.code == "runtime_failed"
    ]
    for line in failed:
        _error(line)
    if failed:
        return EXIT_USAGE
    warning = insecure_bind_problem(
        config.server.host, token=config.server.token, allow_insecure_bind=config.server.allow_insecure_bind
    )
    if warning is not None:
        print(f"{PROG}: warning: {args.file}: server.host: {warning}", file=sys.stderr)
    summary = ", ".join(f"{r.runtime_id} ({r.kind})" for r in runtimes.items) or "no runtimes"
    print(f"{args.file}: ok: {summary}")
    return EXIT_OK


# -- new-kind ------------------------------------------------------------------


def _new_kind(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime_registry.server.new_kind import NewKindError, write_kind_package

    try:
        root, written = write_kind_package(args.name, Path(args.directory) if args.directory else None)
    except NewKindError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _error(f"cannot write the package ({exc.strerror or type(exc).__name__})")
        return EXIT_FAILED
    print(f"wrote the {args.name!r} runtime kind's package to {root}:")
    for path in written:
        print(f"  {path}")
    print(f"next: cd {root} && pip install -e '.[test]' && pytest && runtime-registry plugins")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
