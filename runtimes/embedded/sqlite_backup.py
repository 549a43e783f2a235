"""A consistent copy of a live SQLite store, with SQLite's online backup API.

The copy is one read transaction's snapshot (the backup runs in a single
step): everything committed before it began is in it, nothing half-written
is. The server may keep writing meanwhile (WAL mode: a reader never blocks
the writer, nor the other way round), and the store's own lock file is not
taken, so the running runtime is never refused. The copy is written beside
its destination and renamed into place once complete and synced, so a
failed backup never leaves a file that looks like a good one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

__all__ = ["BackupError", "backup_sqlite"]


class BackupError(Exception):
    """The copy could not be made; ``str()`` is one line for the operator (no path beyond the destination's name)."""


def backup_sqlite(source: Path, destination: Path) -> None:
    """Copy the SQLite database at ``source`` to ``destination`` (which must not exist).

    :raises BackupError: no database at ``source``, ``destination`` exists, or the copy failed.
    """
    if not source.is_file():
        raise BackupError("the store has no file yet (the runtime has never run with this configuration)")
    if destination.exists():
        raise BackupError(f"{destination.name} exists already; back up into an empty directory")
    partial = destination.with_name(destination.name + ".partial")
    try:
        with contextlib.closing(sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)) as reader:
            with contextlib.closing(sqlite3.connect(partial)) as copy:
                reader.backup(copy)
                # The copy is a plain file of its own: no WAL beside it to lose when it is moved.
                copy.execute("PRAGMA journal_mode = DELETE")
                (check,) = copy.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise BackupError("the copy failed its integrity check")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        raise BackupError(f"the copy failed ({getattr(exc, 'sqlite_errorname', type(exc).__name__)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
