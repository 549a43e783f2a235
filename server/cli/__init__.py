"""The ``runtime-registry`` command: ``serve``, ``plugins``, ``check-config``, ``new-kind``, ``backup``,
and ``workers``, ``events``, ``send`` (a running server's workers, through the Python client).

Everything an operator can get wrong (a missing or broken config file, a port
in use, a public address without a token) ends in one line on stderr and a
non-zero exit, never a traceback. Exit codes: 0 success (also after SIGTERM or
Ctrl-C while serving), 1 the server could not start, 2 the configuration or the
command line is wrong, 130 interrupted before the server started.

One module per command (:mod:`.serve`, :mod:`.plugins`, :mod:`.check_config`,
:mod:`.new_kind`, :mod:`.backup`; :mod:`.workers` for the three that talk to a
server); :mod:`.common` holds what they share.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from registry_core import __version__
from runtime_registry.host.config import ConfigError
from runtime_registry.server.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, PROG, add_connection_options, error
from runtime_registry.server.cli.serve import GRACEFUL_SHUTDOWN_SECONDS, connection_limits

__all__ = ["main", "build_parser", "connection_limits", "GRACEFUL_SHUTDOWN_SECONDS"]


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
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text lines, or one JSON object per line (both redact credentials)",
    )
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

    backup = commands.add_parser(
        "backup",
        help="copy each durable store while the server runs",
        description="Make a consistent copy of each runtime's durable store (docs/operations.md: backup and restore).",
    )
    backup.add_argument("--config", metavar="FILE", help="the TOML configuration the server runs with")
    backup.add_argument("destination", metavar="DEST_DIR", help="a new or empty directory for the copies")

    workers = commands.add_parser(
        "workers", help="list workers of a running server", description="List the workers of a running server."
    )
    workers.add_argument(
        "runtime", metavar="RUNTIME", nargs="?", help="one runtime's workers (default: every runtime's)"
    )
    add_connection_options(workers)

    events = commands.add_parser(
        "events", help="print a runtime's events", description="Print a runtime's events, one line each."
    )
    events.add_argument("runtime", metavar="RUNTIME")
    events.add_argument("--cursor", type=int, help="start after this event id (default: the oldest retained)")
    events.add_argument(
        "--follow", action="store_true", help="go on with new events until Ctrl-C (resuming after drops)"
    )
    add_connection_options(events)

    send = commands.add_parser(
        "send",
        help="send a worker input and print its reply",
        description="Send input to a worker and print the reply as it streams. Exit status: 0 completed, "
        "1 failed, 3 cancelled, 4 interrupted, 2 input refused, 5 server unreachable.",
    )
    send.add_argument("runtime", metavar="RUNTIME")
    send.add_argument("worker", metavar="WORKER")
    send.add_argument("text", metavar="TEXT")
    add_connection_options(send)

    new_kind = commands.add_parser(
        "new-kind",
        help="write a new runtime kind's package",
        description="Write a pip package providing a new runtime kind: entry point, provider, settings, tests, README.",
    )
    new_kind.add_argument("name", metavar="NAME", help="the kind name (lowercase letters, digits and '-')")
    new_kind.add_argument(
        "directory", metavar="DIR", nargs="?", help="where to write it (default: ./runtime-registry-NAME)"
    )
    new_kind.add_argument(
        "--turns",
        action="store_true",
        help="a kind whose turns take time, on the WorkerLifecycle block (busy, cancel, stop, delete done for you)",
    )
    return parser


def _port(value: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 65535:
        return int(value)
    raise argparse.ArgumentTypeError("must be an integer from 0 to 65535")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    # Each command's module is imported when it runs, so that `plugins` and `check-config` stay quick.
    if args.command == "serve":
        from runtime_registry.server.cli.serve import serve as command
    elif args.command == "plugins":
        from runtime_registry.server.cli.plugins import plugins as command
    elif args.command in ("workers", "events", "send"):
        from runtime_registry.server.cli import workers

        command = {"workers": workers.workers, "events": workers.events, "send": workers.send}[args.command]
    elif args.command == "backup":
        from runtime_registry.server.cli.backup import backup as command
    elif args.command == "check-config":
        from runtime_registry.server.cli.check_config import check_config as command
    else:
        from runtime_registry.server.cli.new_kind import new_kind as command
    try:
        return command(args)
    except ConfigError as exc:
        for line in exc.lines():
            error(line)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Ctrl-C before the server took over the signals (while loading plugins, say).
        return EXIT_INTERRUPTED
