"""The PostgreSQL store's schema: versioned migrations, applied once by whichever replica starts first.

Each runtime keeps its tables in a PostgreSQL schema of its own (named from
the runtime id, :func:`schema_name`), so several runtimes can share one
database and every statement stays unqualified (the connections' ``search_path``).

``schema_migrations`` records every version applied. A replica starting on a
database whose schema is *newer* than its code refuses it and changes
nothing (an older replica must not write rows it does not understand); an
older one is migrated forward, one version per transaction, under an
advisory lock so that replicas starting together migrate it once.

The tables (version 1):

- ``meta`` — one row: the first worker serial, the first event id (the
  meaning of ``cursor=0``) and the list-cursor tag;
- ``counters`` — ``event_id`` (the last event id issued), ``serial`` (the
  next worker serial) and ``workers`` (how many workers the runtime holds).
  The event counter row is the id scheme (decision 0132): every transaction
  that appends events takes its ids from it *last*, so its row lock is held
  to the commit and ids are assigned in commit order with no gap;
- ``replicas`` — each live replica and when its lease expires (decision 0133);
- ``workers`` — one row per worker, with its status, turn number, transcript
  length and, while busy, the replica that runs the turn (``owner``);
- ``entries`` — transcripts;
- ``events`` — the retained event feed.

Version 2 (culling, decision 0220): ``workers.status_since``, when the
worker entered its status, set by a trigger on every change of ``status``
(so no statement that changes a status has to remember it), and two partial
indexes that let a sweep read only the workers whose deadline passed.

Version 3: ``workers.turns``, ``input_tokens``, ``output_tokens`` — each
worker's totals (decision 0201), added in the transaction that appends the
turn-ending event; a migrated runtime's workers start at 0.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from runtime_registry.runtimes.embedded.store import StoreUnusable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_name"]

#: Version 1: the tables above.
_V1 = """
CREATE TABLE meta (
    one smallint PRIMARY KEY CHECK (one = 1),
    first_serial bigint NOT NULL,
    first_event_id bigint NOT NULL,
    cursor_tag text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE counters (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
CREATE TABLE replicas (
    replica_id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz NOT NULL
);
CREATE TABLE workers (
    serial bigint PRIMARY KEY,
    worker_id text NOT NULL UNIQUE,
    label text,
    intent jsonb NOT NULL,
    profile text NOT NULL,
    created_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('idle', 'busy', 'stopped')),
    turn_number integer NOT NULL DEFAULT 0,
    entries integer NOT NULL DEFAULT 0,
    tools jsonb NOT NULL DEFAULT '[]',
    owner text,
    CHECK ((status = 'busy') = (owner IS NOT NULL))
);
CREATE INDEX workers_busy_owner ON workers (owner) WHERE status = 'busy';
CREATE TABLE entries (
    serial bigint NOT NULL REFERENCES workers (serial) ON DELETE CASCADE,
    sequence integer NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    event_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (serial, sequence)
);
CREATE INDEX entries_by_event ON entries (event_id);
CREATE TABLE events (
    id bigint PRIMARY KEY,
    type text NOT NULL,
    worker_id text,
    created_at timestamptz NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX events_by_worker ON events (worker_id, id);
"""

#: Version 2: culling's clock (decision 0220). Existing rows start their
#: time at the migration, never earlier.
_V2 = """
ALTER TABLE workers ADD COLUMN status_since timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE FUNCTION workers_status_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_since := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER workers_status_since BEFORE UPDATE OF status ON workers
    FOR EACH ROW EXECUTE FUNCTION workers_status_since();
CREATE INDEX workers_idle_since ON workers (status_since) WHERE status = 'idle';
CREATE INDEX workers_stopped_since ON workers (status_since) WHERE status = 'stopped';
"""

#: Version 3: each worker's totals (decision 0201).
_V3 = """
ALTER TABLE workers
    ADD COLUMN turns bigint NOT NULL DEFAULT 0,
    ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0;
"""

#: Every migration, oldest first: ``MIGRATIONS[n - 1]`` makes version ``n``.
MIGRATIONS: Sequence[str] = (_V1, _V2, _V3)
#: The version this code reads and writes.
SCHEMA_VERSION = len(MIGRATIONS)

#: Hashed with the schema's name into the advisory-lock key under which a
#: schema is created or migrated (so runtimes do not wait on each other).
_LOCK_NAMESPACE = b"runtime-registry schema lock:"


def schema_name(runtime_id: str) -> str:
    """The PostgreSQL schema holding ``runtime_id``'s tables: readable, and unique by a digest.

    Identifiers are at most 63 bytes; runtime ids up to 120 characters, so
    the readable part is cut and a digest of the whole id keeps names apart.
    """
    readable = re.sub(r"[^a-z0-9_]", "_", runtime_id.lower())[:36]
    digest = hashlib.sha256(runtime_id.encode()).hexdigest()[:12]
    return f"rr_{readable}_{digest}"


def _lock_key(schema: str) -> int:
    """A signed 64-bit key (``pg_advisory_xact_lock(bigint)``) for ``schema``."""
    return int.from_bytes(hashlib.sha256(_LOCK_NAMESPACE + schema.encode()).digest()[:8], "big", signed=True)


async def migrate(connection: Any, schema: str, *, first_serial: int, first_event_id: int, cursor_tag: str) -> int:
    """Create ``schema`` or bring it to :data:`SCHEMA_VERSION`; the version it had (0: new).

    ``first_serial``, ``first_event_id`` and ``cursor_tag`` seed a new
    runtime; an existing one keeps its own.

    :param connection: an asyncpg connection (not in a transaction).
    :raises StoreUnusable: the schema is newer than this code, or holds
        tables that are not a runtime's (left untouched).
    """
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1::bigint)", _lock_key(schema))
        exists = await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        version = 0
        if exists:
            has_table = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".schema_migrations')
            if not has_table:
                raise StoreUnusable(
                    "the database schema of this runtime exists but is not a runtime's; it was left untouched"
                )
            version = await connection.fetchval(f'SELECT coalesce(max(version), 0) FROM "{schema}".schema_migrations')
        if version > SCHEMA_VERSION:
            raise StoreUnusable(
                f"the database holds schema version {version}, newer than this version of the server "
                f"understands ({SCHEMA_VERSION}); it was left untouched"
            )
        if not exists:
            await connection.execute(f'CREATE SCHEMA "{schema}"')
            await connection.execute(
                f'CREATE TABLE "{schema}".schema_migrations '
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        await connection.execute(f'SET LOCAL search_path TO "{schema}"')
        for number in range(version + 1, SCHEMA_VERSION + 1):
            await connection.execute(MIGRATIONS[number - 1])
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)
            if number == 1:
                await connection.execute(
                    "INSERT INTO meta (one, first_serial, first_event_id, cursor_tag) VALUES (1, $1, $2, $3)",
                    first_serial,
                    first_event_id,
                    cursor_tag,
                )
                await connection.executemany(
                    "INSERT INTO counters (name, value) VALUES ($1, $2)",
                    [("event_id", first_event_id - 1), ("serial", first_serial), ("workers", 0)],
                )
        return int(version)
