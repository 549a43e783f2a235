"""``runtime-registry backup --config FILE DEST_DIR``: a consistent copy of each durable store, while the server runs.

Each runtime whose provider can copy its store (``backup_store``; the
embedded kind with a SQLite store: SQLite's online backup API) writes its
copy into ``DEST_DIR``; the server goes on serving and nothing it
acknowledged before the copy began is missing from it. A runtime that keeps
nothing durable says so; one whose store is a database server's says to use
that server's tools (``pg_dump`` for PostgreSQL). docs/operations.md says how
to restore. Exit 0 when every copy was made, 1 when one failed, 2 for a bad
configuration or a destination that is not an empty directory.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from registry_core.errors import UnsupportedOperation
from runtime_registry.host.assembly import assemble
from runtime_registry.server.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, load, logging_off

__all__ = ["backup"]


def backup(args: argparse.Namespace) -> int:
    """The ``backup`` command."""
    destination = Path(args.destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        error(f"{destination} is not an empty directory; back up into a new or empty one")
        return EXIT_USAGE
    config = load(args.config)
    with logging_off():
        # Assembled, never started: the providers only know where their stores are.
        registry = assemble(config, source=args.config).registry
    destination.mkdir(parents=True, exist_ok=True)
    failed = False
    for runtime_id in registry.runtime_ids:
        provider = registry.built_provider(runtime_id)
        if provider is None:
            error(f"{runtime_id}: the runtime could not be built (run check-config on the file)")
            failed = True
            continue
        copy = getattr(provider, "backup_store", None)
        if copy is None:
            print(f"{runtime_id} ({provider.kind}): nothing to copy (the kind keeps no store this command can copy)")
            continue
        try:
            written = asyncio.run(copy(destination))
        except UnsupportedOperation as exc:
            print(f"{runtime_id} ({provider.kind}): not copied: {exc.message}")
            continue
        except Exception as exc:
            error(f"{runtime_id}: the backup failed: {exc}")
            failed = True
            continue
        what = ", ".join(str(destination / name) for name in written) if written else "nothing durable (memory store)"
        print(f"{runtime_id} ({provider.kind}): {what}")
    return EXIT_FAILED if failed else EXIT_OK
