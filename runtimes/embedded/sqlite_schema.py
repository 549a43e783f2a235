"""The SQLite store's file format: checks before touching a file, the schema, and migrations.

A file is checked *read-only* before anything writes to it (decision 0087):
it must be a SQLite database, carry this store's ``application_id``, have a
schema version this code knows, and be as long as its header says. A file
that fails is never opened for writing, so it is never "repaired" or
overwritten; the runtime is ``unavailable`` and says why, without the path.

Versions (the ``schema_version`` table; ``PRAGMA user_version`` mirrors it):

1. ``meta``, ``workers``, ``entries``, ``events``.
2. ``workers.entries``: each worker's transcript length, so a restart reads
   one row per worker instead of counting every entry (O(workers), not
   O(entries)).
3. ``workers.tools``: the tools granted at create.
4. ``events_by_worker``: an index of each worker's event ids, so one
   worker's events older than the in-memory window are read O(page).
5. ``workers.status_since_us``: when the worker entered its status, so
   culling's deadlines survive restarts (decision 0220). Rows of older files
   get the migration's time: their deadlines start then, never earlier.
6. ``workers.turns``, ``input_tokens``, ``output_tokens``: each worker's
   totals (decision 0201); a migrated file's workers start at 0.
7. ``worker_state``: each worker's hot state (status, turn, transcript
   length, status time, totals) in a narrow table of its own, out of
   ``workers``, which keeps what is written once (id, label, intent,
   profile, tools). An input rewrites its worker's state row in every commit
   that changes it; narrow rows share pages, so a commit writes fewer of them
   (decision 0197). The migration moves the columns over and rebuilds
   ``workers`` without them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from pathlib import Path

from runtime_registry.runtimes.embedded.sqlite_errors import start_failure
from runtime_registry.runtimes.embedded.store import StoreUnusable

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "check_file",
    "check_structure",
    "create_file",
    "create_schema",
    "ensure_directory",
    "migrate",
    "restrict_file",
]

#: ``PRAGMA application_id`` of every store file: "RREG". Tells our files from foreign SQLite files.
APPLICATION_ID = 0x52524547
#: The schema version this code writes.
SCHEMA_VERSION = 7

_HEADER_MAGIC = b"SQLite format 3\x00"

_EVENTS_BY_WORKER = "CREATE INDEX events_by_worker ON events (worker_id, id) WHERE worker_id IS NOT NULL"

#: Version 7's tables of workers: what is written once, and the hot state every turn rewrites.
_WORKERS = (
    "CREATE TABLE {name} ("
    " serial INTEGER PRIMARY KEY, worker_id TEXT NOT NULL UNIQUE, label TEXT, intent TEXT NOT NULL,"
    " profile TEXT NOT NULL, created_us INTEGER NOT NULL, tools TEXT NOT NULL DEFAULT '[]')"
)
_WORKER_STATE = (
    "CREATE TABLE worker_state ("
    " serial INTEGER PRIMARY KEY, status TEXT NOT NULL, turn_number INTEGER NOT NULL, entries INTEGER NOT NULL,"
    " status_since_us INTEGER, turns INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL)"
)

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    _WORKERS.format(name="workers"),
    _WORKER_STATE,
    "CREATE TABLE entries ("
    " serial INTEGER NOT NULL, sequence INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,"
    " event_id INTEGER NOT NULL, created_us INTEGER NOT NULL, PRIMARY KEY (serial, sequence)) WITHOUT ROWID",
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY, type TEXT NOT NULL, worker_id TEXT, data TEXT NOT NULL, created_us INTEGER NOT NULL)",
    _EVENTS_BY_WORKER,
)


def check_file(path: Path) -> int | None:
    """Check an existing file without writing to it; return its schema version (``None``: empty, start fresh).

    :raises StoreUnusable: not SQLite, truncated, foreign, or newer than this code.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    wal = path.with_name(path.name + "-wal")
    wal_holds_frames = wal.exists() and wal.stat().st_size > 0
    if size == 0:
        if not wal_holds_frames:
            # This code never leaves an empty file (it builds a new one aside
            # and renames it into place): an empty file is a store that lost
            # its contents (issue 24, point 12), never a new one.
            raise StoreUnusable(
                "the store file is empty (0 bytes) and was not created by this runtime; it was left untouched "
                "(move it away to start a new store)"
            )
        return _version_of(path)
    with path.open("rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(_HEADER_MAGIC):
        raise StoreUnusable("the store file is not a SQLite database of this runtime; it was left untouched")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is valid when its "version-valid-for" matches
    # the change counter; then a shorter file has lost its tail. Not while a
    # write-ahead log holds frames: a crash in the middle of a checkpoint can
    # leave the file short, and opening it replays the log.
    if not wal_holds_frames and header[92:96] == header[24:28] and size < pages * page_size:
        raise StoreUnusable("the store file is truncated; it was left untouched")
    return _version_of(path)


def _version_of(path: Path) -> int | None:
    """The schema version, read through a read-only connection (``None``: an empty database)."""
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise start_failure(error, path.parent) from None
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if application_id == 0 and not tables:
            return None
        if application_id != APPLICATION_ID or "schema_version" not in tables:
            raise StoreUnusable("the store file belongs to another program; it was left untouched")
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
    except sqlite3.DatabaseError as error:
        # A full or read-only filesystem fails here too (a read-only open of a
        # WAL file needs its shared-memory file): say which, not "damaged".
        raise start_failure(error, path.parent) from None
    finally:
        connection.close()
    if not isinstance(version, int) or version < 1:
        raise StoreUnusable("the store file has no schema version; it was left untouched")
    if version > SCHEMA_VERSION:
        raise StoreUnusable(
            f"the store file was written by a newer version (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); it was left untouched"
        )
    return version


def create_schema(connection: sqlite3.Connection) -> None:
    """Create the current schema in an empty database (inside the caller's transaction)."""
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate_1_to_2(connection: sqlite3.Connection) -> None:
    connection.execute("ALTER TABLE workers ADD COLUMN entries INTEGER NOT NULL DEFAULT 0")
    connection.execute(
        "UPDATE workers SET entries = (SELECT count(*) FROM entries WHERE entries.serial = workers.serial)"
    )


def _migrate_2_to_3(connection: sqlite3.Connection) -> None:
    # The tools granted at create (issue 10): workers of older files had none.
    connection.execute("ALTER TABLE workers ADD COLUMN tools TEXT NOT NULL DEFAULT '[]'")


def _migrate_3_to_4(connection: sqlite3.Connection) -> None:
    # One worker's events beyond the in-memory window are read from the file (issue 23).
    connection.execute(_EVENTS_BY_WORKER)


def _migrate_4_to_5(connection: sqlite3.Connection) -> None:
    # Culling's clock (decision 0220): an older file's workers are idle (or
    # stopped) from now on, never from a guess further back.
    connection.execute("ALTER TABLE workers ADD COLUMN status_since_us INTEGER")
    connection.execute("UPDATE workers SET status_since_us = ?", (time.time_ns() // 1000,))


def _migrate_5_to_6(connection: sqlite3.Connection) -> None:
    # Each worker's totals (issue 21, decision 0201): older files kept none, so they start at 0.
    for column in ("turns", "input_tokens", "output_tokens"):
        connection.execute(f"ALTER TABLE workers ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


def _migrate_6_to_7(connection: sqlite3.Connection) -> None:
    # The hot state moves to its own narrow table (decision 0197). ``workers`` is
    # rebuilt without it (copy, drop, rename: SQLite's way to drop columns on
    # every version of the library), so no stale copy of the state stays behind.
    connection.execute(_WORKER_STATE)
    connection.execute(
        "INSERT INTO worker_state (serial, status, turn_number, entries, status_since_us, turns, input_tokens,"
        " output_tokens) SELECT serial, status, turn_number, entries, status_since_us, turns, input_tokens,"
        " output_tokens FROM workers"
    )
    connection.execute(_WORKERS.format(name="workers_v7"))
    connection.execute(
        "INSERT INTO workers_v7 (serial, worker_id, label, intent, profile, created_us, tools)"
        " SELECT serial, worker_id, label, intent, profile, created_us, tools FROM workers"
    )
    connection.execute("DROP TABLE workers")
    connection.execute("ALTER TABLE workers_v7 RENAME TO workers")


#: ``from version -> step to the next``.
_MIGRATIONS = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
    4: _migrate_4_to_5,
    5: _migrate_5_to_6,
    6: _migrate_6_to_7,
}


def migrate(connection: sqlite3.Connection, version: int) -> None:
    """Bring a database from ``version`` to :data:`SCHEMA_VERSION`, in one transaction (all or nothing)."""
    if version == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        while version < SCHEMA_VERSION:
            _MIGRATIONS[version](connection)
            version += 1
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def ensure_directory(path: Path) -> None:
    """Create the store file's directory (owner-only), or make an existing one owner-only.

    Transcripts are private whatever the directory was before (issue 24,
    point 11). A shared directory (sticky bit: ``/tmp``) is left as it is:
    it is not the store's to change.
    """
    directory = path.parent
    os.makedirs(directory, mode=0o700, exist_ok=True)
    mode = directory.stat().st_mode
    if mode & 0o077 and not mode & stat.S_ISVTX:
        os.chmod(directory, stat.S_IMODE(mode) & 0o700)


def restrict_file(path: Path) -> None:
    """Make the store file and its companions owner-only (SQLite creates ``-wal`` and ``-shm`` with the file's mode)."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        companion = path.with_name(name)
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(companion.stat().st_mode)
            if mode & 0o077:
                os.chmod(companion, mode & 0o700)


def create_file(path: Path, meta: list[tuple[str, object]]) -> None:
    """Build a new store (schema and ``meta`` rows) next to ``path``, owner-only, and rename it into place.

    Nobody ever sees a half-made file at ``path``: a crash leaves only the
    ``.new`` file, which the next start rebuilds.
    """
    building = path.with_name(path.name + ".new")
    for name in (building.name, building.name + "-wal", building.name + "-shm", building.name + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(name).unlink()
    os.close(os.open(building, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    connection = sqlite3.connect(building, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        create_schema(connection)
        connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    with open(building, "rb+") as file:
        os.fsync(file.fileno())
    os.replace(building, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def check_structure(connection: sqlite3.Connection) -> None:
    """Before a migration writes to an older file: every page's structure, read-only (``PRAGMA quick_check``).

    :raises StoreUnusable: the file is damaged.
    """
    try:
        result = connection.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        raise start_failure(error) from None
    if not result or result[0] != "ok":
        raise StoreUnusable("the store file is damaged; it was left untouched")
