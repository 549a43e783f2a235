"""``runtime-registry check-config FILE``: validate a configuration without serving."""

from __future__ import annotations

import argparse
import asyncio
import sys

from runtime_registry.host.assembly import assemble
from runtime_registry.server.cli.binding import insecure_bind_problem
from runtime_registry.server.cli.common import EXIT_OK, EXIT_USAGE, PROG, error, load, logging_off

__all__ = ["check_config"]


def check_config(args: argparse.Namespace) -> int:
    config = load(args.file)
    # Problems are reported below, one line each; the log's tracebacks are not for this check.
    with logging_off():
        assembly = assemble(config, strict=True, source=args.file)
        runtimes = asyncio.run(assembly.registry.list_runtimes())
    failed = [
        f"{args.file}: runtimes[{index}]: {diagnostic.message}"
        for index, runtime in enumerate(runtimes.items)
        for diagnostic in runtime.diagnostics
        if diagnostic.code == "runtime_failed"
    ]
    for line in failed:
        error(line)
    if failed:
        return EXIT_USAGE
    # Problems that do not stop a runtime from starting (an unset key_env), as
    # each kind reports them, with the settings path they start with.
    indexes = {entry.id: index for index, entry in enumerate(config.runtimes)}
    for runtime_id, lines in assembly.registry.configuration_warnings().items():
        for line in lines:
            print(f"{PROG}: warning: {args.file}: runtimes[{indexes[runtime_id]}].settings.{line}", file=sys.stderr)
    warning = insecure_bind_problem(
        config.server.host, token=config.server.token, allow_insecure_bind=config.server.allow_insecure_bind
    )
    if warning is not None:
        print(f"{PROG}: warning: {args.file}: server.host: {warning}", file=sys.stderr)
    summary = ", ".join(f"{r.runtime_id} ({r.kind})" for r in runtimes.items) or "no runtimes"
    print(f"{args.file}: ok: {summary}")
    return EXIT_OK
