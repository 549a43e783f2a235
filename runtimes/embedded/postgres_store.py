"""The PostgreSQL store: one embedded runtime shared by any number of replicas (issue 18).

Every decision that must be unique across replicas is made by the database,
in one transaction, never in a replica's memory (docs/design-notes "Version
three"):

- **the busy rule** — a conditional ``UPDATE workers ... WHERE status =
  'idle'``: of N concurrent inputs to one worker on any replicas, one row
  update wins; the others find the worker busy (``WorkerBusy``);
- **capacity** — the ``workers`` counter row is raised only ``WHERE value <
  max_workers``;
- **event order** — a decision inserts its events with a ``seq`` only and
  commits without any shared lock (PostgreSQL groups the flushes of
  concurrent commits); a *sequencing pass* then gives every committed event
  without an id the next ids, under a lock held to its commit, so ids are
  assigned in commit order, without gaps, and a reader that saw id N can
  never later find a committed id below N (decisions 0132, 0230). A decision
  returns once its events are numbered; the callers waiting at once share
  one round trip for it (:class:`~.postgres_batch.Batched`);
- **turn ownership** — a busy worker names the replica running its turn
  (``owner``); every write of a turn is conditioned on it still being that
  replica's turn, so a turn cancelled elsewhere, or taken as lost, writes
  nothing more (decision 0133).

Readers see only committed rows; live-only ``worker.output_delta`` events
and wake-ups travel over LISTEN/NOTIFY (:mod:`.postgres_signals`).

The connection string is read from the environment variable the
configuration names and is never shown or logged: errors say
``store_unreachable`` and nothing of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from registry_core.errors import CapacityExceeded, RuntimeUnavailable, UnknownWorker, WorkerBusy, WorkerStopped
from registry_core.event_contract import (
    WORKER_CREATED,
    WORKER_TURN_COMPLETED,
)
from registry_core.models import Event, Intent, IntentKind, TranscriptEntry, WorkerTotals
from runtime_registry.runtimes.embedded.postgres_batch import Batched
from runtime_registry.runtimes.embedded.postgres_control import (
    PgControl,
    StartedTurn,
    WaitingInput,
    started_turns,
)
from runtime_registry.runtimes.embedded.postgres_decisions import (
    Decision,
    DecisionResult,
    Decisions,
    Replayed,
    data_size,
)
from runtime_registry.runtimes.embedded.postgres_schema import migrate, schema_name
from runtime_registry.runtimes.embedded.store import StoreUnusable
from runtime_registry.runtimes.embedded.totals import totals_delta

__all__ = [
    "AcceptedInput",
    "PgStore",
    "PgWorker",
    "Replayed",
    "StoreUnreachable",
    "TurnLost",
    "UNREACHABLE_MESSAGE",
]

log = logging.getLogger("runtime_registry.runtimes.embedded.postgres")

#: What clients are told while the database cannot be reached (no host, no DSN, no driver text).
UNREACHABLE_MESSAGE = "the runtime's database cannot be reached; try again shortly"

#: Why a reply that does not fit fails its turn (``transcript_full``).
_FULL_MESSAGE = "the worker's transcript has no room for the reply"

#: The roles of a transcript entry written by a turn's end.
ASSISTANT = "assistant"


class StoreUnreachable(RuntimeUnavailable):
    """The database did not answer (down, restarting, network): a 503 that names nothing of it."""

    def __init__(self) -> None:
        super().__init__(UNREACHABLE_MESSAGE)


class TurnLost(Exception):
    """The turn is no longer this replica's: cancelled, stopped, deleted, or taken as lost elsewhere."""


@attrs.frozen
class PgWorker:
    """A worker row as the runtime serves it."""

    serial: int
    worker_id: str
    label: str | None
    intent: Intent
    profile: str
    created_at: datetime
    status: str
    turn_number: int
    entries: int
    tools: tuple[str, ...]
    owner: str | None
    #: What its ended turns added up to (decision 0201).
    totals: WorkerTotals = attrs.field(factory=WorkerTotals)


@attrs.frozen
class AcceptedInput:
    """An input the database accepted: the turn it starts is this replica's to run."""

    worker: PgWorker
    transcript_sequence: int
    event_id: int


#: One event to append: its type, its worker and its data.
NewEvent = tuple[str, str | None, Mapping[str, Any]]
#: One transcript entry to add with an event: role, content, and which of the
#: transaction's new events (by position) it belongs to.
NewEntry = tuple[str, str, int]

_WORKER_COLUMNS = (
    "serial, worker_id, label, intent, profile, created_at, status, turn_number, entries, tools, owner,"
    " turns, input_tokens, output_tokens"
)

# A decision inserts its events with a ``seq`` only: no shared lock, so
# decisions commit in parallel and PostgreSQL groups their flushes. They get
# their ids after the commit (``own_events``, decision 0230).
_APPEND = """
INSERT INTO events (type, worker_id, created_at, data)
SELECT e.type, e.worker_id, clock_timestamp(), e.data::jsonb
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS e(type, worker_id, data, ord)
ORDER BY e.ord
RETURNING seq, created_at
"""

#: The events a decision appended in the running task's transaction, numbered after its commit.
_APPENDED: contextvars.ContextVar[list[_Pending] | None] = contextvars.ContextVar("_APPENDED", default=None)


@attrs.define
class _Pending:
    """An event appended in a transaction: its ``seq`` now, its ``id`` once numbered."""

    seq: int
    kind: str
    worker_id: str | None
    data: Mapping[str, Any]
    created_at: datetime
    id: int = 0

    def event(self) -> Event:
        return Event(self.id, self.kind, self.worker_id, self.data, self.created_at)


#: libpq keywords a key=value connection string may use, and asyncpg's names for them.
_DSN_KEYWORDS = {
    "host": "host",
    "hostaddr": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "dbname": "database",
    "sslmode": "ssl",
}


def connect_kwargs(dsn: str) -> dict[str, Any]:
    """asyncpg's arguments for ``dsn``: a ``postgresql://`` URL as it is, or libpq's ``key=value`` form.

    :raises StoreUnusable: a ``key=value`` string with a malformed pair or a key not supported here
        (the message names the key, never a value).
    """
    if dsn.startswith(("postgresql://", "postgres://")):
        return {"dsn": dsn}
    import shlex

    arguments: dict[str, Any] = {}
    try:
        pairs = shlex.split(dsn)
    except ValueError:
        raise StoreUnusable("the PostgreSQL connection string cannot be read") from None
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise StoreUnusable("the PostgreSQL connection string cannot be read (expected key=value pairs or a URL)")
        if key == "connect_timeout":
            continue
        if key not in _DSN_KEYWORDS:
            raise StoreUnusable(
                f"the PostgreSQL connection string has a key this server does not support: {key[:40]!r}"
            )
        arguments[_DSN_KEYWORDS[key]] = int(value) if key == "port" and value.isdigit() else value
    return arguments


@contextlib.contextmanager
def _outages_as_unreachable() -> Iterator[None]:
    """Turn an exception that means the database is down into :class:`StoreUnreachable`; let others through."""
    try:
        yield
    except Exception as exc:
        if _is_unreachable(exc):
            raise StoreUnreachable() from None
        raise


def _is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is down or the connection was lost (not a bug or a constraint)."""
    import asyncpg

    if isinstance(exc, (OSError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(
        exc,
        (
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.InterfaceError,
            # A connection left mid-operation by an outage ("another operation is in progress").
            asyncpg.exceptions.InternalClientError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.CrashShutdownError,
            asyncpg.exceptions.ConnectionFailureError,
            asyncpg.exceptions.TooManyConnectionsError,
        ),
    ):
        return True
    return isinstance(exc, asyncpg.exceptions.PostgresConnectionError)


class PgStore:
    """One replica's handle on a runtime's tables.

    :param dsn: the connection string (from the environment; never shown).
    :param runtime_id: names the runtime's PostgreSQL schema.
    :param lease_seconds: how long this replica may be silent before its
        turns are taken as lost by another (decision 0133).
    :param pool_size: connections this replica keeps.
    """

    def __init__(self, dsn: str, runtime_id: str, *, lease_seconds: float, pool_size: int = 16) -> None:
        self._dsn = dsn
        self.schema = schema_name(runtime_id)
        #: The channel this runtime's replicas signal each other on.
        self.channel = self.schema
        self.lease_seconds = lease_seconds
        self.pool_size = pool_size
        #: This replica's id: random per process, so a restarted replica is a new one.
        self.replica_id = secrets.token_hex(8)
        self._pool: Any = None
        #: Callers waiting for their committed events' ids share one round trip (decision 0231).
        self._numbering: Batched[int, Event] = Batched(self._own_events)
        #: Send-input decisions waiting at once share one round trip and one transaction (decision 0234).
        self._decisions: Batched[Decision, DecisionResult] = Batched(self._decide_batch)
        self._decide = Decisions(self._fetch, self.replica_id, self.channel, _FULL_MESSAGE)
        #: The newest event id this replica knows to be committed (its own decisions' and passes').
        self.newest_id = 0
        #: This replica's own events just numbered, by id, with their transcript entries and data
        #: sizes: the cache replays them without reading the feed when they are next in line
        #: (emptied by the replay).
        self.fresh: dict[int, Replayed] = {}
        #: Turns this replica's decisions started from waiting inputs: this replica runs them
        #: (the store takes them after replaying the decision; decision 0184).
        self.started: list[StartedTurn] = []
        #: ``(worker_id, turn)`` of turns a committed decision started whose events could not be numbered.
        self.orphaned: list[tuple[str, int]] = []
        #: Workers of accepts whose ``decide()`` lost its answer (the connection died): committed or not,
        #: nobody knows yet; the next batch (or :meth:`settle_in_doubt`) finds out first.
        self.in_doubt: set[str] = set()
        #: The turn-control functions (``if_busy``, queues, admission; decision 0184).
        self.control = PgControl(self)
        #: What the last :meth:`load` read of the waiting inputs: ``(worker_id, reason, queued event id)``.
        self.loaded_waiting: list[tuple[str, str, int]] = []
        #: Set once the schema is known good; read by the runtime.
        self.first_serial = 0
        self.first_event_id = 0
        self.cursor_tag = ""

    # -- connections ----------------------------------------------------------------

    async def open(self, *, first_serial: int, first_event_id: int, cursor_tag: str) -> None:
        """Connect, create or migrate the schema, and register this replica.

        :raises StoreUnusable: the schema is newer than this code or not a runtime's.
        :raises StoreUnreachable: the database cannot be reached.
        """
        import asyncpg

        try:
            connection = await asyncpg.connect(**connect_kwargs(self._dsn), timeout=10)
        except StoreUnusable:
            raise
        except Exception as exc:
            log.error("embedded runtime: the PostgreSQL store cannot be reached (%s)", type(exc).__name__)
            raise StoreUnreachable() from None
        try:
            await migrate(
                connection, self.schema, first_serial=first_serial, first_event_id=first_event_id, cursor_tag=cursor_tag
            )
        except StoreUnusable:
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                raise StoreUnreachable() from None
            raise
        finally:
            await connection.close()
        try:
            self._pool = await asyncpg.create_pool(
                **connect_kwargs(self._dsn),
                # No floor: asyncpg restores one by reconnecting in the background
                # and logs a traceback for every failed try while the database is away.
                min_size=0,
                max_size=self.pool_size,
                # A startup setting, not a SET: it is the session's default.
                server_settings={"search_path": f'"{self.schema}"'},
                # No reset round trip on every release: these connections keep
                # no session state (no SET, LISTEN, temporary tables or locks
                # outside transactions; the listener has its own connection).
                reset=_no_reset,
                timeout=10,
                command_timeout=30,
            )
        except Exception as exc:
            log.error("embedded runtime: the PostgreSQL store cannot be reached (%s)", type(exc).__name__)
            raise StoreUnreachable() from None
        row = await self._fetchrow("SELECT first_serial, first_event_id, cursor_tag FROM meta")
        self.first_serial, self.first_event_id, self.cursor_tag = row[0], row[1], row[2]
        await self.renew_lease()

    async def close(self, *, leave: bool = True) -> None:
        """Release the pool; with ``leave``, remove this replica so others end its turns at once."""
        await self._numbering.close()
        await self._decisions.close()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if leave:
            try:
                async with pool.acquire(timeout=2) as connection:
                    await connection.execute(
                        "UPDATE replicas SET expires_at = clock_timestamp() WHERE replica_id = $1", self.replica_id
                    )
            except Exception:
                pass  # the database is away: the lease expires by itself
        try:
            await asyncio.wait_for(pool.close(), 5)
        except Exception:
            pool.terminate()

    def _acquire(self) -> Any:
        if self._pool is None:
            raise RuntimeUnavailable("the runtime is closed")
        # No timeout of its own: asyncpg runs an acquire with a timeout as a
        # task of its own (CPU on every statement); a connection is held only
        # by statements, which ``command_timeout`` bounds, so a wait ends.
        return self._pool.acquire()

    async def _run(self, work: Any, *, snapshot: bool = False) -> Any:
        """Run ``work(connection)`` in a transaction; database outages become :class:`StoreUnreachable`.

        :param snapshot: read everything from one snapshot (``REPEATABLE READ``, read only).
        """
        isolation = "repeatable_read" if snapshot else "read_committed"
        appended: list[_Pending] = []
        token = _APPENDED.set(appended)
        try:
            with _outages_as_unreachable():
                async with (
                    self._acquire() as connection,
                    connection.transaction(isolation=isolation, readonly=snapshot),
                ):
                    result = await work(connection)
        finally:
            _APPENDED.reset(token)
        if appended:
            # Committed: now the events get their ids (the Event objects the
            # caller builds from ``appended`` see them).
            numbered = await self._number([pending.seq for pending in appended])
            for pending, event in zip(appended, numbered, strict=True):
                pending.id = event.id
        return result

    async def _number(self, seqs: Sequence[int]) -> list[Event]:
        """The events this replica committed with ``seqs``, numbered (by a pass already made, or one now)."""
        found = await self._numbering.ask(seqs)
        events = [found.get(seq) for seq in seqs]
        if any(event is None or not event.id for event in events):
            raise RuntimeError("events committed by this replica were not numbered")
        return events  # type: ignore[return-value]

    async def _own_events(self, seqs: list[int]) -> dict[int, Event]:
        """One round trip for every waiting caller's events: numbered, with what they hold."""
        rows = await self._fetch(
            "SELECT seq, id, type, worker_id, data, created_at, role, content FROM own_events($1::bigint[], $2)",
            seqs,
            self.channel,
        )
        found = {row[0]: Event(row[1], row[2], row[3], json.loads(row[4]), row[5]) for row in rows}
        for row in rows:
            event = found[row[0]]
            # What the replay of this event needs is all here, except a new
            # worker's row: those are read with the feed.
            if event.type != WORKER_CREATED:
                self.fresh[event.id] = (event, None if row[6] is None else (row[6], row[7]), data_size(row[4]))
        if found:
            self.newest_id = max(self.newest_id, max(event.id for event in found.values()))
        return found

    async def _decide_batch(self, batch: list[Decision]) -> Mapping[Decision, DecisionResult]:
        """One ``decide()`` call for every decision waiting; what its pass numbered is replayed from here."""
        if self.in_doubt:
            await self._settle_in_doubt()
        if not batch:
            return {}
        try:
            results, numbered = await self._decide.run(batch)
        except StoreUnreachable:
            # The answer is lost: the batch may have committed (the server commits, then answers).
            self.in_doubt.update(decision.worker_id for decision in batch if decision.kind == "a")
            raise
        for found in numbered:
            # A new worker's row is read with the feed.
            if found[0].type != WORKER_CREATED:
                self.fresh[found[0].id] = found
        if numbered:
            self.newest_id = max(self.newest_id, numbered[-1][0].id)
        return results

    async def settle_in_doubt(self) -> None:
        """Find out what happened to accepts whose answer was lost (in the batches' order: no batch of
        this replica runs meanwhile). :raises StoreUnreachable: still away; they stay in doubt."""
        if self.in_doubt:
            await self._decisions.ask(())

    async def _settle_in_doubt(self) -> None:
        # Run before the next batch, so no accept of this replica since the lost answer can have made
        # one of these workers busy: a turn found here that no task runs is the lost accept's.
        rows = await self._fetch(
            "SELECT worker_id, turn_number FROM workers WHERE worker_id = ANY($1::text[]) "
            "AND status = 'busy' AND NOT waiting AND owner = $2",
            sorted(self.in_doubt),
            self.replica_id,
        )
        self.in_doubt.clear()
        # Owed a store_unreachable failure unless a task runs it (the replica checks; decision 0232).
        self.orphaned.extend((row[0], row[1]) for row in rows)

    async def sequence_pending(self) -> None:
        """Number events a replica committed but did not live to number (any replica may; cheap when none)."""
        row = await self._fetchrow(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM events WHERE id IS NULL) THEN sequence_events($1) END",
            self.channel,
        )
        if row[0] is not None:
            self.newest_id = max(self.newest_id, int(row[0]))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        """One statement on its own (no BEGIN/COMMIT round trips: a statement is its own transaction)."""
        with _outages_as_unreachable():
            async with self._acquire() as connection:
                return await connection.fetchrow(sql, *args)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """One statement on its own, all rows."""
        with _outages_as_unreachable():
            async with self._acquire() as connection:
                return list(await connection.fetch(sql, *args))

    # -- events (decision 0132) --------------------------------------------------------

    async def _append(
        self, connection: Any, events: Sequence[NewEvent], entries: Sequence[tuple[int, NewEntry]] = ()
    ) -> list[_Pending]:
        """Append ``events`` (and the transcript ``entries`` that go with them) in the caller's transaction.

        They get their ids after the commit (:meth:`_run` numbers them); the
        returned objects carry them by the time :meth:`_run` returns. A
        turn-ending event adds to its worker's totals first, in the same
        transaction (decision 0201).
        """
        totals = _totals_changes(events)
        if totals:
            await connection.executemany(
                "UPDATE workers SET turns = turns + $2, input_tokens = input_tokens + $3, "
                "output_tokens = output_tokens + $4 WHERE worker_id = $1",
                totals,
            )
        rows = await connection.fetch(
            _APPEND,
            [kind for kind, _, _ in events],
            [worker_id for _, worker_id, _ in events],
            [json.dumps(data, ensure_ascii=False) for _, _, data in events],
        )
        appended = [
            _Pending(row[0], kind, worker_id, data, row[1])
            for row, (kind, worker_id, data) in zip(rows, events, strict=True)
        ]
        collected = _APPENDED.get()
        if collected is not None:
            collected.extend(appended)
        if entries:
            await connection.executemany(
                "INSERT INTO entries (serial, sequence, role, content, event_seq, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (
                        serial,
                        _entry_sequence(events[index]),
                        role,
                        content,
                        appended[index].seq,
                        appended[index].created_at,
                    )
                    for serial, (role, content, index) in entries
                ],
            )
        return appended

    async def last_event_id(self) -> int:
        """The newest committed event id (``first_event_id - 1`` before any)."""
        row = await self._fetchrow("SELECT value FROM counters WHERE name = 'event_id'")
        return int(row[0])

    async def oldest_event_id(self) -> int | None:
        """The oldest retained event's id, or ``None`` when none is retained."""
        row = await self._fetchrow("SELECT min(id) FROM events")
        return None if row[0] is None else int(row[0])

    async def read_events(self, *, after: int, limit: int, worker_id: str | None = None) -> list[Event]:
        """Committed events with ``id > after``, oldest first, at most ``limit``; one worker's with ``worker_id``."""
        if worker_id is None:
            rows = await self._fetch(
                "SELECT id, type, worker_id, data::text, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                after,
                limit,
            )
        else:
            rows = await self._fetch(
                "SELECT id, type, worker_id, data::text, created_at FROM events "
                "WHERE worker_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                worker_id,
                after,
                limit,
            )
        return [Event(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    async def prune_events(self, retention: int) -> int:
        """Drop all but the newest ``retention`` events; how many were dropped."""

        async def work(connection: Any) -> int:
            last = await connection.fetchval("SELECT value FROM counters WHERE name = 'event_id'")
            status = await connection.execute("DELETE FROM events WHERE id <= $1", last - retention)
            return int(status.split()[-1])

        return int(await self._run(work))

    # -- workers ---------------------------------------------------------------------

    async def create_worker(
        self,
        *,
        make_id: Any,
        label: str | None,
        intent: Intent,
        profile: str,
        tools: Sequence[str],
        created_at: datetime,
        max_workers: int,
        event_data: Mapping[str, Any],
    ) -> tuple[PgWorker, Event]:
        """Create an idle worker if the runtime holds fewer than ``max_workers``.

        :param make_id: builds the worker id from its serial.
        :raises CapacityExceeded: the runtime holds ``max_workers`` workers (decided in the database).
        """

        async def work(connection: Any) -> tuple[PgWorker, _Pending]:
            counted = await connection.fetchval(
                "UPDATE counters SET value = value + 1 WHERE name = 'workers' AND value < $1 RETURNING value",
                max_workers,
            )
            if counted is None:
                raise CapacityExceeded(f"this runtime holds at most {max_workers} workers")
            serial = await connection.fetchval(
                "UPDATE counters SET value = value + 1 WHERE name = 'serial' RETURNING value - 1"
            )
            worker_id = make_id(serial)
            row = await connection.fetchrow(
                "INSERT INTO workers (serial, worker_id, label, intent, profile, created_at, status, tools) "
                "VALUES ($1, $2, $3, $4::jsonb, $5, $6, 'idle', $7::jsonb) RETURNING " + _WORKER_COLUMNS,
                serial,
                worker_id,
                label,
                json.dumps(_intent_json(intent)),
                profile,
                created_at,
                json.dumps(list(tools)),
            )
            (event,) = await self._append(connection, [(WORKER_CREATED, worker_id, event_data)])
            return _worker(row), event

        worker, pending = await self._run(work)
        return worker, pending.event()

    async def get_worker(self, worker_id: str) -> PgWorker:
        """One worker. :raises UnknownWorker: no such worker."""
        row = await self._fetchrow(f"SELECT {_WORKER_COLUMNS} FROM workers WHERE worker_id = $1", worker_id)
        if row is None:
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        return _worker(row)

    async def list_workers(self, *, after: int | None, limit: int) -> tuple[list[PgWorker], bool]:
        """Workers in creation order after serial ``after``, at most ``limit``, and whether more follow."""
        rows = await self._fetch(
            f"SELECT {_WORKER_COLUMNS} FROM workers WHERE serial > $1 ORDER BY serial LIMIT $2",
            after if after is not None else -1,
            limit + 1,
        )
        return [_worker(row) for row in rows[:limit]], len(rows) > limit

    async def serial_issued(self, serial: int) -> bool:
        """Whether ``serial`` was ever issued by this runtime (a list cursor's check)."""
        row = await self._fetchrow("SELECT value FROM counters WHERE name = 'serial'")
        return self.first_serial <= serial < int(row[0])

    async def count_workers(self) -> int:
        """How many workers the runtime holds, on every replica."""
        row = await self._fetchrow("SELECT value FROM counters WHERE name = 'workers'")
        return int(row[0])

    # -- turns (the busy rule; decision 0133) ---------------------------------------------

    async def accept_input(
        self,
        worker_id: str,
        *,
        content: str,
        role: str,
        max_entries: int,
        entries_per_turn: int,
        max_turns: int = 64,
    ) -> AcceptedInput | WaitingInput:
        """The busy rule, decided by one conditional ``UPDATE``: the worker becomes busy with this replica as owner;
        with ``max_turns`` turns running in the runtime, it is claimed and the input waits for a slot instead.

        :raises UnknownWorker: no such worker.
        :raises WorkerStopped: it was stopped.
        :raises WorkerBusy: a turn is in flight, on any replica.
        :raises CapacityExceeded: its transcript has no room for the input and its reply.
        """

        # The function decides and writes; with the other decisions waiting, one round trip (decision 0234).
        for _ in range(2):
            decision = Decision(
                "a",
                worker_id,
                role=role,
                content=content,
                max_entries=max_entries,
                per_turn=entries_per_turn,
                max_turns=max_turns,
            )
            result = (await self._decisions.ask((decision,)))[decision]
            if result.outcome != "lapsed":
                break
            # This replica's lease lapsed (the database was away): renew it, then decide.
            await self.renew_lease()
        if result.outcome == "queued" and result.place is not None:
            # Every turn slot is taken: the input waits for one (decision 0184).
            return WaitingInput(result.events[0][0].id, result.place)
        if result.outcome != "accepted" or result.worker is None:
            raise _refusal(result.outcome, worker_id, max_entries)
        worker = _worker(result.worker)
        return AcceptedInput(worker, worker.entries, result.events[0][0].id)

    async def _own_turn(self, connection: Any, worker_id: str, turn: int) -> PgWorker:
        row = await connection.fetchrow(
            f"SELECT {_WORKER_COLUMNS} FROM workers WHERE worker_id = $1 AND status = 'busy' "
            "AND owner = $2 AND turn_number = $3 FOR UPDATE",
            worker_id,
            self.replica_id,
            turn,
        )
        if row is None:
            raise TurnLost()
        return _worker(row)

    async def record_in_turn(
        self, worker_id: str, turn: int, records: Sequence[tuple[str, str, str, dict[str, Any]]]
    ) -> list[Event]:
        """Write transcript entries with their events during a turn (tool calls and results).

        :param records: ``(role, content, event_type, data)``; each event's data gets its ``transcript_sequence``.
        :raises TurnLost: the turn is no longer this replica's; nothing was written.
        """

        async def work(connection: Any) -> list[_Pending]:
            worker = await self._own_turn(connection, worker_id, turn)
            events: list[NewEvent] = []
            entries: list[tuple[int, NewEntry]] = []
            for index, (role, content, kind, data) in enumerate(records):
                events.append((kind, worker_id, {**data, "transcript_sequence": worker.entries + index + 1}))
                entries.append((worker.serial, (role, content, index)))
            await connection.execute(
                "UPDATE workers SET entries = entries + $2 WHERE serial = $1", worker.serial, len(records)
            )
            return await self._append(connection, events, entries)

        return [pending.event() for pending in await self._run(work)]

    async def complete_turn(
        self,
        worker_id: str,
        turn: int,
        *,
        reply: str | None,
        max_entries: int,
        completed: Mapping[str, Any],
        max_turns: int = 64,
    ) -> list[Event]:
        """End a turn this replica runs: its reply (if any), then ``worker.turn_completed``; the worker is idle.

        A reply that does not fit fails the turn with ``transcript_full`` instead.

        :raises TurnLost: the turn is no longer this replica's; nothing was written.
        """

        # The function checks the turn is ours and writes (decisions 0230, 0234); the tokens a
        # completed turn adds to the worker's totals are read here (decision 0201).
        _, input_tokens, output_tokens = totals_delta(WORKER_TURN_COMPLETED, completed) or (1, 0, 0)
        decision = Decision(
            "c",
            worker_id,
            content=reply,
            max_entries=max_entries,
            turn=turn,
            completed=json.dumps(dict(completed), ensure_ascii=False),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            max_turns=max_turns,
        )
        result = (await self._decisions.ask((decision,)))[decision]
        if result.outcome == "lost":
            raise TurnLost()
        events = [event for event, _ in result.events]
        if result.started is not None and result.started != "[]":
            # Its slot went to an input that waited: this replica runs that turn (decision 0184).
            self.started.extend(started_turns(result.started, dict(zip(result.seqs, events, strict=True))))
        return events

    # -- transcripts -----------------------------------------------------------------------

    async def read_transcript(
        self, worker_id: str, *, start: int, limit: int
    ) -> tuple[PgWorker, list[TranscriptEntry]]:
        """The worker and its entries with ``sequence >= start``, at most ``limit``."""

        async def work(connection: Any) -> tuple[PgWorker, list[TranscriptEntry]]:
            row = await connection.fetchrow(f"SELECT {_WORKER_COLUMNS} FROM workers WHERE worker_id = $1", worker_id)
            if row is None:
                raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
            worker = _worker(row)
            rows = await connection.fetch(
                "SELECT sequence, role, content, event_id, created_at FROM entries "
                "WHERE serial = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
                worker.serial,
                start,
                limit,
            )
            return worker, [TranscriptEntry(r[0], r[1], r[2], r[3], r[4]) for r in rows]

        result: tuple[PgWorker, list[TranscriptEntry]] = await self._run(work)
        return result

    # -- what a replica caches ----------------------------------------------------------------

    async def load(self, retention: int) -> tuple[int, int, list[PgWorker], dict[int, int], list[Event]]:
        """What a replica caches, in one snapshot: the counters, the workers, each worker's count of
        numbered transcript entries (by serial) and the newest ``retention`` events.

        :return: ``(next_serial, last_event_id, workers, entry counts, events)``.
        """

        async def work(connection: Any) -> tuple[int, int, list[PgWorker], dict[int, int], list[Event]]:
            # One snapshot for all of it (the caller's transaction is REPEATABLE READ).
            counters = dict(await connection.fetch("SELECT name, value FROM counters"))
            workers = [
                _worker(r) for r in await connection.fetch(f"SELECT {_WORKER_COLUMNS} FROM workers ORDER BY serial")
            ]
            # Only numbered ones: the rest come with their events' replay.
            counts = await connection.fetch(
                "SELECT serial, count(*) FROM entries WHERE event_id IS NOT NULL GROUP BY serial"
            )
            rows = await connection.fetch(
                "SELECT id, type, worker_id, data::text, created_at FROM events WHERE id IS NOT NULL "
                "ORDER BY id DESC LIMIT $1",
                retention,
            )
            events = [Event(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in reversed(rows)]
            lengths = {int(row[0]): int(row[1]) for row in counts}
            # The waiting inputs whose queued event is numbered (the rest come with their events' replay).
            self.loaded_waiting = [
                (r[0], r[1], int(r[2]))
                for r in await connection.fetch(
                    "SELECT w.worker_id, q.reason, e.id FROM waiting_inputs q JOIN workers w ON w.serial = q.serial "
                    "JOIN events e ON e.seq = q.event_seq WHERE e.id IS NOT NULL ORDER BY q.place"
                )
            ]
            return int(counters["serial"]), int(counters["event_id"]), workers, lengths, events

        result: tuple[int, int, list[PgWorker], dict[int, int], list[Event]] = await self._run(work, snapshot=True)
        return result

    async def transcript_entries(self, serial: int) -> list[TranscriptEntry]:
        """A worker's numbered transcript entries, oldest first (a replica's cache reads them on demand)."""
        rows = await self._fetch(
            "SELECT sequence, role, content, event_id, created_at FROM entries "
            "WHERE serial = $1 AND event_id IS NOT NULL ORDER BY sequence",
            serial,
        )
        return [TranscriptEntry(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def tail(self, *, after: int, limit: int) -> tuple[list[Replayed], dict[str, PgWorker]]:
        """Committed events after ``after`` (at most ``limit``), each with its transcript entry
        ``(role, content)`` if it wrote one and its data's size, and the rows of the workers they
        created that still exist."""

        # One statement (one snapshot, one round trip): the events, the entry
        # each wrote, and the row of each worker they created that still exists.
        columns = ", ".join(f"w.{name.strip()}" for name in _WORKER_COLUMNS.split(","))
        rows = await self._fetch(
            "SELECT e.id, e.type, e.worker_id, e.data::text, e.created_at, en.role, en.content, "
            + columns
            + " FROM events e LEFT JOIN entries en ON en.event_id = e.id "
            "LEFT JOIN workers w ON e.type = 'worker.created' AND w.worker_id = e.worker_id "
            "WHERE e.id > $1 ORDER BY e.id LIMIT $2",
            after,
            limit,
        )
        found = [
            (Event(r[0], r[1], r[2], json.loads(r[3]), r[4]), None if r[5] is None else (r[5], r[6]), data_size(r[3]))
            for r in rows
        ]
        workers = {r[8]: _worker(r[7:]) for r in rows if r[7] is not None}
        return found, workers

    # -- leases (decision 0133) ---------------------------------------------------------------

    async def renew_lease(self) -> bool:
        """Extend this replica's lease by ``lease_seconds``; ``False`` if it had lapsed and was taken back.

        A replica whose lease lapsed (it was silent too long) comes back as
        live, but its turns were already ended by another replica, and every
        write of those turns is refused (:class:`TurnLost`).
        """

        async def work(connection: Any) -> bool:
            kept = await connection.fetchval(
                "UPDATE replicas SET expires_at = clock_timestamp() + make_interval(secs => $2) "
                "WHERE replica_id = $1 AND expires_at > clock_timestamp() RETURNING true",
                self.replica_id,
                float(self.lease_seconds),
            )
            if kept:
                return True
            await connection.execute(
                "INSERT INTO replicas (replica_id, expires_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2)) "
                "ON CONFLICT (replica_id) DO UPDATE SET expires_at = excluded.expires_at",
                self.replica_id,
                float(self.lease_seconds),
            )
            return False

        return bool(await self._run(work))

    async def notify(self, payload: str) -> None:
        """Send ``payload`` to every replica's listener (outside any transaction: delivered at once)."""

        async def work(connection: Any) -> None:
            await connection.execute("SELECT pg_notify($1, $2)", self.channel, payload)

        await self._run(work)

    def connect_args(self) -> tuple[str, str]:
        """The DSN and schema a listener connects with (kept inside the store's modules)."""
        return self._dsn, self.schema


def _refusal(outcome: str, worker_id: str, max_entries: int) -> Exception:
    """Why ``accept_input`` refused, as the typed error the API answers with."""
    if outcome == "lapsed":
        return StoreUnreachable()
    if outcome == "unknown":
        return UnknownWorker("no such worker in this runtime", worker_id=worker_id)
    if outcome == "stopped":
        return WorkerStopped("the worker is stopped and takes no more input", worker_id=worker_id)
    if outcome == "busy":
        return WorkerBusy("the worker is in a turn; wait for it to finish or cancel it", worker_id=worker_id)
    return CapacityExceeded(f"the worker's transcript is full ({max_entries} entries)", worker_id=worker_id)


async def _no_reset(_connection: Any) -> None:
    """The pool's reset: nothing to undo (see ``PgStore.open``)."""


def _totals_changes(events: Sequence[NewEvent]) -> list[tuple[str, int, int, int]]:
    """What ``events`` add to their workers' totals: ``(worker_id, turns, input_tokens, output_tokens)``."""
    changes: list[tuple[str, int, int, int]] = []
    for kind, worker_id, data in events:
        delta = totals_delta(kind, data)
        if delta is not None and worker_id is not None:
            changes.append((worker_id, *delta))
    return changes


def _entry_sequence(event: NewEvent) -> int:
    return int(event[2]["transcript_sequence"])


def _intent_json(intent: Intent) -> dict[str, Any]:
    return {"kind": intent.kind.value, "purpose": intent.purpose, "objective": intent.objective, "role": intent.role}


def _intent(data: Mapping[str, Any]) -> Intent:
    return Intent(IntentKind(data["kind"]), data.get("purpose"), data.get("objective"), data.get("role"))


def _worker(row: Any) -> PgWorker:
    intent = row[3]
    tools = row[9]
    return PgWorker(
        row[0],
        row[1],
        row[2],
        _intent(json.loads(intent) if isinstance(intent, str) else intent),
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        tuple(json.loads(tools) if isinstance(tools, str) else tools),
        row[10],
        WorkerTotals(row[11], row[12], row[13]),
    )
