"""The PostgreSQL store's schema: versioned migrations, applied once by whichever replica starts first.

Each runtime keeps its tables in a PostgreSQL schema of its own (named from
the runtime id, :func:`schema_name`), so several runtimes can share one
database and every statement stays unqualified (the connections' ``search_path``).

``schema_migrations`` records every version applied. A replica starting on a
database whose schema is *newer* than its code refuses it and changes
nothing (an older replica must not write rows it does not understand); an
older one is migrated forward, one version per transaction, under an
advisory lock so that replicas starting together migrate it once.

The tables (version 1; version 2 changes how events get their ids, below):

- ``meta`` — one row: the first worker serial, the first event id (the
  meaning of ``cursor=0``) and the list-cursor tag;
- ``counters`` — ``event_id`` (the last event id issued), ``serial`` (the
  next worker serial) and ``workers`` (how many workers the runtime holds).
  The event counter row is the id scheme (decisions 0132, 0230): it moves
  only in a sequencing pass, under a lock held to the pass's commit, so ids
  are assigned in commit order with no gap;
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

Version 4 (decision 0230): an event is inserted with a ``seq`` (a sequence)
and no ``id``; once its transaction committed, a sequencing pass
(``sequence_events``) numbers every committed event that has none, in ``seq``
order, under one lock held to its commit, so many decisions share one
flush; readers see numbered events only. ``accept_input`` and
``complete_turn`` are server-side functions: one round trip each.

Version 5 (decision 0184): turn control in the database — the waiting
inputs (queues and the admission line), ``workers.waiting``, the running
turns' counter, and the functions that decide ``if_busy`` and admission
(:mod:`.postgres_control_schema`).

Version 6 (decision 0234): ``decide()`` runs a batch of version 5's
``accept_input``/``complete_turn`` decisions in one transaction and numbers
their events before its commit (:mod:`.postgres_decisions`).

Version 7 (decision 0235): ``decide()``'s events are inserted with their
ids (a column default that numbers while ``decide()`` runs), instead of
being written a second time by a pass before its commit
(:mod:`.postgres_numbering`).

Version 8 (decision 0236): ``decide()`` decides a batch with a few set-based
statements (one read, one update per kind of decision, one insert of their
events); version 7's per-decision function stays as ``decide_each``, run
when an input waits or slots may run out (:mod:`.postgres_batch_sql`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from runtime_registry.runtimes.embedded.postgres_batch_sql import V8 as _V8
from runtime_registry.runtimes.embedded.postgres_control_schema import V5 as _V5
from runtime_registry.runtimes.embedded.postgres_decisions import V6 as _V6
from runtime_registry.runtimes.embedded.postgres_numbering import V7 as _V7
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

#: Version 4 (decision 0230): events are inserted with a ``seq`` and get their
#: ``id`` after their transaction committed, from a *sequencing pass*; a
#: decision on the send-input path is one server-side function (one round
#: trip, its own transaction). Existing events keep their ids (their ``seq``
#: is their id, so the sequence starts above them).
_V4 = """
CREATE SEQUENCE event_seq;
ALTER TABLE events ADD COLUMN seq bigint;
UPDATE events SET seq = id;
SELECT setval('event_seq', greatest(coalesce((SELECT max(id) FROM events), 1), 1));
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('event_seq');
ALTER TABLE events ALTER COLUMN seq SET NOT NULL;
ALTER SEQUENCE event_seq OWNED BY events.seq;
ALTER TABLE events ADD PRIMARY KEY (seq);
CREATE UNIQUE INDEX events_by_id ON events (id);
CREATE INDEX events_pending ON events (seq) WHERE id IS NULL;
ALTER TABLE entries ADD COLUMN event_seq bigint;
UPDATE entries SET event_seq = event_id;
ALTER TABLE entries ALTER COLUMN event_seq SET NOT NULL;
ALTER TABLE entries ALTER COLUMN event_id DROP NOT NULL;
CREATE INDEX entries_by_seq ON entries (event_seq) WHERE event_id IS NULL;

-- The sequencing pass: under the runtime's sequencing lock (an advisory
-- lock: taking it writes nothing, so a caller that finds its events already
-- numbered commits without a flush), every committed event without an id
-- gets the next ids in seq order, its transcript entry the same id, and the
-- counter moves past them. The lock is held to the commit, so ids become
-- visible in order and without gaps; decisions commit in parallel (their
-- flushes are grouped) and one pass numbers what all of them committed.
CREATE FUNCTION sequence_events(p_channel text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    v_last bigint;
    v_count bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()));
    SELECT value INTO v_last FROM counters WHERE name = 'event_id';
    WITH pending AS (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events WHERE id IS NULL
    ), numbered AS (
        UPDATE events e SET id = v_last + p.n FROM pending p WHERE e.seq = p.seq RETURNING e.seq, e.id
    ), entry AS (
        UPDATE entries en SET event_id = nb.id FROM numbered nb WHERE en.event_seq = nb.seq
    )
    SELECT count(*) INTO v_count FROM numbered;
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE counters SET value = v_last + v_count WHERE name = 'event_id';
    -- Delivered at the commit, with the new watermark: replicas that are
    -- already there need not read.
    PERFORM pg_notify(p_channel, 'e' || (v_last + v_count));
    RETURN v_last + v_count;
END
$fn$;

-- The ids of events a caller committed: numbered by a pass already (no
-- lock, no write), else after waiting for the pass in progress, else by a
-- pass of the caller's own.
CREATE FUNCTION own_events(p_seqs bigint[], p_channel text)
RETURNS TABLE (seq bigint, id bigint, type text, worker_id text, data text, created_at timestamptz,
               role text, content text)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM events e WHERE e.seq = ANY(p_seqs) AND e.id IS NULL) THEN
        PERFORM pg_advisory_xact_lock(hashtext('runtime-registry sequencing'), hashtext(current_schema()));
        IF EXISTS (SELECT 1 FROM events e WHERE e.seq = ANY(p_seqs) AND e.id IS NULL) THEN
            PERFORM sequence_events(p_channel);
        END IF;
    END IF;
    -- With the transcript entry each wrote: the caller replays them without reading them again.
    RETURN QUERY SELECT e.seq, e.id, e.type, e.worker_id, e.data::text, e.created_at, en.role, en.content
        FROM events e LEFT JOIN entries en ON en.event_seq = e.seq WHERE e.seq = ANY(p_seqs) ORDER BY e.seq;
END
$fn$;

-- The busy rule in one round trip: the conditional update, or why not
-- (read under the row's lock; a turn that ended meanwhile lets the update
-- be tried again), then the input's entry and its two events.
CREATE FUNCTION accept_input(
    p_worker text, p_owner text, p_role text, p_content text, p_max integer, p_per_turn integer,
    OUT outcome text, OUT w_serial bigint, OUT w_worker_id text, OUT w_label text, OUT w_intent jsonb,
    OUT w_profile text, OUT w_created_at timestamptz, OUT w_status text, OUT w_turn_number integer,
    OUT w_entries integer, OUT w_tools jsonb, OUT w_owner text, OUT w_turns bigint,
    OUT w_input_tokens bigint, OUT w_output_tokens bigint, OUT seqs bigint[]
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    v_now timestamptz;
    v_first bigint;
    v_second bigint;
BEGIN
    -- This transaction's commit need not wait for its flush: the caller
    -- answers only after a sequencing pass numbered its events, and that
    -- pass's commit (at the server's setting) flushes the log up to and past
    -- this one. Nothing is acknowledged before it is durable (decision 0230).
    PERFORM set_config('synchronous_commit', 'off', true);
    -- A replica whose lease lapsed (a database outage) must not take a turn
    -- another replica would end as replica_lost: it renews first (decision 0232).
    IF NOT EXISTS (SELECT 1 FROM replicas rp WHERE rp.replica_id = p_owner AND rp.expires_at > clock_timestamp()) THEN
        outcome := 'lapsed';
        RETURN;
    END IF;
    LOOP
        UPDATE workers w SET status = 'busy', owner = p_owner, turn_number = w.turn_number + 1, entries = w.entries + 1
        WHERE w.worker_id = p_worker AND w.status = 'idle' AND w.entries + p_per_turn <= p_max
        RETURNING w.* INTO r;
        EXIT WHEN FOUND;
        SELECT w.* INTO r FROM workers w WHERE w.worker_id = p_worker FOR UPDATE;
        IF NOT FOUND THEN
            outcome := 'unknown';
            RETURN;
        ELSIF r.status = 'stopped' THEN
            outcome := 'stopped';
            RETURN;
        ELSIF r.status = 'busy' THEN
            outcome := 'busy';
            RETURN;
        ELSIF r.entries + p_per_turn > p_max THEN
            outcome := 'full';
            RETURN;
        END IF;
    END LOOP;
    v_now := clock_timestamp();
    INSERT INTO events (type, worker_id, created_at, data)
    VALUES ('worker.input_accepted', p_worker, v_now,
            jsonb_build_object('transcript_sequence', r.entries, 'role', p_role, 'content', p_content))
    RETURNING events.seq INTO v_first;
    INSERT INTO events (type, worker_id, created_at, data)
    VALUES ('worker.turn_started', p_worker, v_now, jsonb_build_object('turn', r.turn_number))
    RETURNING events.seq INTO v_second;
    INSERT INTO entries (serial, sequence, role, content, event_seq, created_at)
    VALUES (r.serial, r.entries, p_role, p_content, v_first, v_now);
    outcome := 'accepted';
    w_serial := r.serial; w_worker_id := r.worker_id; w_label := r.label; w_intent := r.intent;
    w_profile := r.profile; w_created_at := r.created_at; w_status := r.status;
    w_turn_number := r.turn_number; w_entries := r.entries; w_tools := r.tools; w_owner := r.owner;
    w_turns := r.turns; w_input_tokens := r.input_tokens; w_output_tokens := r.output_tokens;
    seqs := ARRAY[v_first, v_second];
END
$fn$;

-- A turn's end in one round trip, only while the turn is still the
-- caller's: the reply (or transcript_full when it has no room), then
-- worker.turn_completed; the worker is idle.
CREATE FUNCTION complete_turn(
    p_worker text, p_owner text, p_turn integer, p_reply text, p_max integer, p_completed jsonb,
    p_full_message text, p_input_tokens bigint, p_output_tokens bigint, OUT outcome text, OUT seqs bigint[]
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    r workers%ROWTYPE;
    v_now timestamptz;
    v_seq bigint;
    v_added integer := 0;
BEGIN
    -- As accept_input: durable once a pass numbered its events.
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT w.* INTO r FROM workers w
    WHERE w.worker_id = p_worker AND w.status = 'busy' AND w.owner = p_owner AND w.turn_number = p_turn FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'lost';
        RETURN;
    END IF;
    v_now := clock_timestamp();
    seqs := ARRAY[]::bigint[];
    outcome := 'completed';
    IF coalesce(p_reply, '') <> '' THEN
        IF r.entries >= p_max THEN
            INSERT INTO events (type, worker_id, created_at, data)
            VALUES ('worker.turn_failed', p_worker, v_now,
                    jsonb_build_object('turn', p_turn, 'code', 'transcript_full', 'message', p_full_message))
            RETURNING events.seq INTO v_seq;
            seqs := seqs || v_seq;
            outcome := 'transcript_full';
        ELSE
            v_added := 1;
            INSERT INTO events (type, worker_id, created_at, data)
            VALUES ('worker.output', p_worker, v_now,
                    jsonb_build_object('transcript_sequence', r.entries + 1, 'role', 'assistant', 'content', p_reply))
            RETURNING events.seq INTO v_seq;
            seqs := seqs || v_seq;
            INSERT INTO entries (serial, sequence, role, content, event_seq, created_at)
            VALUES (r.serial, r.entries + 1, 'assistant', p_reply, v_seq, v_now);
        END IF;
    END IF;
    IF outcome = 'completed' THEN
        INSERT INTO events (type, worker_id, created_at, data)
        VALUES ('worker.turn_completed', p_worker, v_now, jsonb_build_object('turn', p_turn) || p_completed)
        RETURNING events.seq INTO v_seq;
        seqs := seqs || v_seq;
    END IF;
    -- The turn ends: it counts in the worker's totals, with its tokens when it completed (decision 0201).
    UPDATE workers SET status = 'idle', owner = NULL, entries = entries + v_added, turns = turns + 1,
        input_tokens = input_tokens + CASE WHEN outcome = 'completed' THEN p_input_tokens ELSE 0 END,
        output_tokens = output_tokens + CASE WHEN outcome = 'completed' THEN p_output_tokens ELSE 0 END
    WHERE serial = r.serial;
END
$fn$;
"""

#: Every migration, oldest first: ``MIGRATIONS[n - 1]`` makes version ``n``.
MIGRATIONS: Sequence[str] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8)
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
