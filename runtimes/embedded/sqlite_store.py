"""The SQLite store: the embedded runtime's workers, transcripts and events in one file (decision 0085).

- **Writes** are queued in the loop's thread (a list append each) and sealed
  into a :class:`~runtime_registry.runtimes.embedded.sqlite_writer.Batch` at
  the end of the loop step; the writer thread commits batches in groups.
  A worker's hot state (status, turn number, transcript length) is read from
  its record when the batch is sealed, once per batch, whatever changed it.
- **Reads** of transcripts go to the file through a second connection (WAL:
  readers never wait for the writer), page by page: memory holds each
  worker's record and the entries not yet committed, not its transcript.
- **Durability**: ``acknowledged`` commits as soon as there is work, with
  ``synchronous=FULL`` (each commit is on disk before the answer);
  ``batched`` commits at most every :data:`BATCH_INTERVAL_SECONDS` with
  ``synchronous=NORMAL`` (a crash of the process loses nothing committed; a
  crash of the machine can lose the last commits).
- **Faults**: a file that is damaged, foreign, newer or in use is never
  written (:mod:`~runtime_registry.runtimes.embedded.sqlite_schema`); a
  commit that fails makes writes refused until the writer's retry succeeds.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

from registry_core.blocks import EventLog, EventSlice, clock_start_id
from registry_core.blocks.event_log import EVENT_ENVELOPE_BYTES
from registry_core.errors import CursorExpired, RuntimeUnavailable
from registry_core.models import Diagnostic, Event, Intent, IntentKind, TranscriptEntry, WorkerTotals
from registry_core.page_bytes import text_size
from runtime_registry.runtimes.embedded.memory_store import LocalStore, worker_bytes
from runtime_registry.runtimes.embedded.settings import Durability
from runtime_registry.runtimes.embedded.sqlite_errors import start_failure
from runtime_registry.runtimes.embedded.sqlite_older_events import read_older_events
from runtime_registry.runtimes.embedded.sqlite_schema import (
    SCHEMA_VERSION,
    check_file,
    check_structure,
    create_file,
    ensure_directory,
    migrate,
    restrict_file,
)
from runtime_registry.runtimes.embedded.sqlite_writer import (
    WRITER_CACHED_STATEMENTS,
    Batch,
    GroupWriter,
    Reserve,
    used_bytes,
)
from runtime_registry.runtimes.embedded.store import (
    CommitStats,
    StoredWorker,
    StoreMeta,
    StoreSetup,
    StoreSnapshot,
    StoreUnusable,
    WorkerDraft,
)
from runtime_registry.runtimes.embedded.store_budget import MeasuredBudget
from runtime_registry.runtimes.embedded.transcript import ENTRY_ENVELOPE_BYTES, ROLES
from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["BATCH_INTERVAL_SECONDS", "CLOSE_TIMEOUT_SECONDS", "SQLiteStore", "StoredTranscript"]

log = logging.getLogger("runtime_registry.runtimes.embedded.store")

#: In ``batched`` mode, the most time between an answer and the commit of what it answered.
BATCH_INTERVAL_SECONDS = 0.05
#: How long closing may take to commit what is queued (within the server's 5 s shutdown):
#: with answers held back beyond MAX_UNCOMMITTED_BYTES, that is one or two commits.
CLOSE_TIMEOUT_SECONDS = 4.0
#: ``batched``: the most bytes of changes answered and not yet committed; past it, answers wait (decision 0181).
MAX_UNCOMMITTED_BYTES = 4 * 1024 * 1024
#: ``batched``: answers wait while the oldest uncommitted batch is older than this.
BEHIND_SECONDS = 2 * BATCH_INTERVAL_SECONDS
#: ``batched``: the disk space kept for committing what was answered when the disk fills.
RESERVE_BYTES = 2 * MAX_UNCOMMITTED_BYTES + 1024 * 1024
#: What a row costs beyond its text (keys, ids, timestamps, page overhead), for the byte counts.
_ROW_BYTES = 64
#: About how much of a row SQLite keeps on its B-tree page before the rest goes to overflow pages
#: (a WITHOUT ROWID table's cells, as ``entries``, hold less than this; a rowid table's more).
_LOCAL_ROW_BYTES = 1024

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_WRITE_REFUSED = "the runtime's store cannot write right now (disk full or read-only); reads keep working"


def entry_page_bytes(content: str) -> int:
    """What an entry adds to a transcript page's JSON (the runtime's own measure, decision 0080)."""
    return ENTRY_ENVELOPE_BYTES + text_size(content)


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


#: An event's data as the file keeps it: compact JSON, UTF-8 rather than ``\\u`` escapes. The C
#: encoder made once: ``json.dumps`` with arguments builds a new encoder per call, 3x the cost of
#: an event's JSON here (decision 0192). ``json.dumps``'s output, character for character.
#: (No check for circular data: event data is the runtime's own, made of JSON values.)
_event_encoder = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, True)
)


#: The keys, in order, of the events every input writes (``worker.input_accepted``, ``worker.output``;
#: ``worker.turn_completed``): their JSON is written directly (decision 0193).
_CONTENT_KEYS = ("transcript_sequence", "role", "content")
_COMPLETED_KEYS = ("turn", "usage", "stop_reason")
_USAGE_KEYS = ("input_tokens", "output_tokens")


def _event_json(data: Mapping[str, object]) -> str:
    """``json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)``, faster.

    The shapes of the events every input writes are written directly, with
    ``json``'s own string function (``encode_basestring``: quotes and escapes
    exactly as ``json.dumps`` with ``ensure_ascii=False``): the C encoder
    costs about 10,000 instructions for a three-key dict, a quarter of the
    store's own work per input on the loop (decision 0193). Anything else,
    and any value of another type (a ``bool`` is not an ``int`` here), goes
    to the encoder.
    """
    plain = data if type(data) is dict else dict(data)
    size = len(plain)
    if size == 1:
        turn = plain.get("turn")
        if type(turn) is int:  # worker.turn_started
            return f'{{"turn":{turn}}}'
    elif size == 3:
        keys = tuple(plain)
        if keys == _CONTENT_KEYS:
            sequence, role, content = plain.values()
            if type(sequence) is int and type(role) is str and type(content) is str:
                return (
                    f'{{"transcript_sequence":{sequence},"role":{encode_basestring(role)},'
                    f'"content":{encode_basestring(content)}}}'
                )
        elif keys == _COMPLETED_KEYS:
            turn, usage, stop = plain.values()
            stop_json = "null" if stop is None else encode_basestring(stop) if type(stop) is str else None
            if type(turn) is int and stop_json is not None:
                if usage is None:
                    return f'{{"turn":{turn},"usage":null,"stop_reason":{stop_json}}}'
                if type(usage) is dict and tuple(usage) == _USAGE_KEYS:
                    sent, received = usage.values()
                    if type(sent) is int and type(received) is int:
                        return (
                            f'{{"turn":{turn},"usage":{{"input_tokens":{sent},"output_tokens":{received}}},'
                            f'"stop_reason":{stop_json}}}'
                        )
    if _event_encoder is None:
        return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return "".join(_event_encoder(plain, 0))


def _intent_json(intent: Intent) -> str:
    return json.dumps(
        {"kind": intent.kind.value, "purpose": intent.purpose, "objective": intent.objective, "role": intent.role},
        separators=(",", ":"),
    )


def _intent_of(text: str) -> Intent:
    data = json.loads(text)
    return Intent(IntentKind(data["kind"]), data.get("purpose"), data.get("objective"), data.get("role"))


def _tool_names_of(text: str) -> tuple[str, ...]:
    names = json.loads(text)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError("a worker's tools must be a list of names")
    return tuple(names)


class StoredTranscript:
    """A worker's transcript in the SQLite store: its length and uncommitted tail in memory, the rest in the file."""

    __slots__ = ("_length", "_pending", "_store", "serial")

    def __init__(self, store: SQLiteStore, serial: int, length: int) -> None:
        self._store = store
        self.serial = serial
        self._length = length
        # Entries appended but not yet committed: a suffix of the transcript.
        self._pending: list[TranscriptEntry] = []

    def __len__(self) -> int:
        return self._length

    def append(self, role: str, content: str, event_id: int | None) -> TranscriptEntry:
        """Add an entry (queued for the writer) and return it."""
        sequence = self._length + 1
        entry = TranscriptEntry(sequence, ROLES[role], content, event_id, datetime.now(UTC))
        self._pending.append(entry)
        self._length = sequence
        self._store.entry_appended(self, entry)
        return entry

    def entries(self, *, start: int, limit: int) -> tuple[tuple[TranscriptEntry, ...], int | None]:
        """Entries from ``start``: committed ones read from the file, then the uncommitted tail; O(page)."""
        if start > self._length:
            return (), None
        end = min(start + limit, self._length + 1)  # exclusive
        first_pending = self._pending[0].sequence if self._pending else self._length + 1
        items: list[TranscriptEntry] = []
        if start < first_pending:
            items = self._store.read_entries(self.serial, start, min(end, first_pending))
        if end > first_pending:
            items.extend(self._pending[max(start, first_pending) - first_pending : end - first_pending])
        following = start + len(items)
        return tuple(items), (following if items and following <= self._length else None)

    async def bounded_entries(
        self, *, start: int, limit: int, max_bytes: int
    ) -> tuple[tuple[TranscriptEntry, ...], int | None, int]:
        """A page as the API serves it: like :meth:`entries`, bounded by ``max_bytes`` of page JSON, with the
        file read off the loop's thread; and the transcript's length readers see.

        The file is read in the store's reader thread, row by row, and the
        read stops at the byte bound (issue 24, points 5 and 8): a page of
        ``limit`` 262 KB entries reads what fits in ``max_bytes``, and a
        frozen filesystem holds that thread, not the event loop. The
        uncommitted tail is taken (copied) before the read, so entries the
        writer commits meanwhile are neither lost nor repeated. In
        ``acknowledged`` mode readers see only committed entries, as they see
        only committed events and the committed ``transcript_length``
        (decision 0111): the tail is not served until its commit.
        """
        first_pending = self._pending[0].sequence if self._pending else self._length + 1
        length = first_pending - 1 if self._store._acknowledged else self._length
        if start > length:
            return (), None, length
        end = min(start + limit, length + 1)  # exclusive
        tail = (
            self._pending[max(start, first_pending) - first_pending : end - first_pending]
            if end > first_pending
            else []
        )
        items: list[TranscriptEntry] = []
        budget = max_bytes
        if start < first_pending:
            items, budget = await self._store.read_entries_bounded(self.serial, start, min(end, first_pending), budget)
        if len(items) == max(0, min(end, first_pending) - start):  # the file part was not cut short
            for entry in tail:
                budget -= entry_page_bytes(entry.content)
                if budget < 0 and items:
                    break
                items.append(entry)
        following = start + len(items)
        return tuple(items), (following if items and following <= length else None), length

    def committed(self, sequence: int) -> None:
        """Entries up to ``sequence`` are in the file: stop holding them."""
        pending = self._pending
        if pending:
            count = sequence - pending[0].sequence + 1
            if count > 0:
                del pending[:count]


class SQLiteStore(LocalStore):
    """A durable store in one SQLite file: decisions in memory (:class:`LocalStore`), every change queued for the file.

    In ``acknowledged`` mode the event log has a committed watermark: readers
    see an event once its batch is committed, so after a crash every event a
    reader saw, and every id a client was given, is in the file, and ids and
    cursors continue (decision 0111). In ``batched`` mode readers see events
    at once; after a crash the last interval's events may be gone, so the
    next run starts a new event window (decision 0086).

    :param path: the database file (absolute; its directory is created).
    :param durability: when answers go out relative to commits.
    :param retention: events kept (the runtime's ``event_retention``; read
        from the runtime's settings at setup when omitted).
    """

    unavailable: str | None = "the runtime has not been started"

    def __init__(self, path: Path, *, durability: Durability, retention: int | None = None) -> None:
        self.path = path
        self.durability = durability
        # Tested on every input: a plain bool, not ``Durability.ACKNOWLEDGED`` (an enum member is looked up
        # through the enum class's ``__getattr__`` hook each time it is named, decision 0198).
        self._acknowledged = durability is Durability.ACKNOWLEDGED
        self.retention = retention or 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: GroupWriter | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._database_lock_fd: int | None = None
        # Transcript reads run here, one at a time, never on the loop's thread
        # (a frozen filesystem holds this thread, not the event loop).
        self._read_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="embedded-store-reader")
        self._read_lock = threading.Lock()
        self._batch = Batch()
        # Batches sealed so far, and the number of the newest one the writer has committed: an answer
        # that waits for a commit waits for a number (its own future, resolved with every other one
        # of the group in the one callback that reports the commit, decision 0192).
        self._sealed = 0
        self._committed_through = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._dirty: set[str] = set()
        # The last event moment converted to microseconds, and the result (see _event_appended).
        self._last_moment: datetime | None = None
        self._last_us = 0
        self._write_error: str | None = None
        self._closed = False
        # The file's bytes in use when it was opened (before the writer's first commit measures it again),
        # its page size, and what the rows of every batch sealed so far take in it (a running sum: the
        # writer's measure says up to which point of it the file holds them).
        self._opened_bytes = 0
        self._page_size = 4096
        self._sealed_file_bytes = 0
        # The last input admitted and its cost in the file (checked by identity when it is written).
        self._admitted: tuple[str | None, int] = (None, 0)
        # The oldest event id the file still holds, and the newest it has committed:
        # cursors between the first and the in-memory window are read from the file.
        self._oldest_in_file = 0
        self._committed_in_file = 0
        # Reads of older events waiting for the file to hold an id: (id, future), resolved by _committed.
        self._file_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def setup(self, setup: StoreSetup) -> None:
        """Build the caches, and ``max_store_bytes`` measured on the file (issue 24, point 12)."""
        super().setup(setup)
        self.budget = MeasuredBudget(setup.settings.max_store_bytes, self._bytes_now)

    # -- max_store_bytes, measured on the file (decision 0222) ------------------------------

    def _bytes_now(self) -> int:
        """The file's bytes in use after the last commit, plus what is queued for the next ones.

        The committed part is measured on the file by the writer after each
        commit (pages less free pages); the queued part is the changes' own
        size until a measure covers their commit. Nothing accumulates, so
        nothing drifts.
        """
        writer = self._writer
        measured = None if writer is None else writer.measured
        if measured is None:
            committed, through = self._opened_bytes, 0
        else:
            committed, through = measured
        # Each batch counts once: in the measure that followed its commit, or as queued until then
        # (the writer reports a commit before measuring it, decision 0193). The batch being
        # filled counts from its own sum.
        return committed + self._sealed_file_bytes - through + self._batch.file_bytes

    def _row_file_bytes(self, payload: int) -> int:
        """What a row of ``payload`` bytes takes in the file: on its B-tree page (never full: a quarter
        more), and beyond about 1 KiB in whole overflow pages.

        (:meth:`entry_appended` and :meth:`_event_appended` inline the first case: they run for every row.)
        """
        if payload <= _LOCAL_ROW_BYTES:
            return (payload + _ROW_BYTES) * 5 // 4
        usable = self._page_size - 4
        overflow_pages = -(-(payload - _LOCAL_ROW_BYTES) // usable)
        return (_LOCAL_ROW_BYTES + _ROW_BYTES) * 5 // 4 + overflow_pages * self._page_size

    def _input_file_bytes(self, content: str) -> int:
        """What an input (or a reply of its size) will take in the file: its transcript row and its event's row."""
        size = len(content) if content.isascii() else _utf8_size(content)
        event = size + EVENT_ENVELOPE_BYTES
        if event <= _LOCAL_ROW_BYTES:  # the small-row case of _row_file_bytes, written out (every input)
            return (size + _ROW_BYTES) * 5 // 4 + (event + _ROW_BYTES) * 5 // 4
        return self._row_file_bytes(size) + self._row_file_bytes(event)

    def kind_specific_limits(self) -> Mapping[str, int]:
        """``max_store_bytes``: the file's bytes in use are bounded too (decision 0222)."""
        return {"max_store_bytes": self.budget.max_bytes}

    def byte_usage(self) -> tuple[int, int] | None:
        """The file's bytes in use (and queued) with replies reserved, and ``max_store_bytes``."""
        return self.budget.used, self.budget.max_bytes

    def _admit_worker(self, draft: WorkerDraft) -> None:
        self.budget.require(self._row_file_bytes(worker_bytes(draft)), what="the worker")

    def _admit_input(self, worker: WorkerRecord, content: str) -> None:
        cost = self._input_file_bytes(content)
        self._admitted = (content, cost)  # the same input is written next (_input_written): measured once
        self.budget.require(
            cost * 2 if self._setup.profiles.replies(worker.profile) else cost,
            worker_id=worker.worker_id,
            what="the input and its reply",
        )

    def _input_written(self, worker: WorkerRecord, content: str) -> None:
        # The reply is held: an accepted input never finds the store full when it replies.
        replies = self._setup.profiles.replies(worker.profile)
        if not replies:
            self.budget.reserve(worker.worker_id, 0)
            return
        admitted, cost = self._admitted
        self.budget.reserve(worker.worker_id, cost if admitted is content else self._input_file_bytes(content))

    def _turn_ended(self, worker: WorkerRecord) -> None:
        self.budget.settle(worker.worker_id)

    # -- opening -----------------------------------------------------------------

    def _event_log(self, start_id: int | None) -> EventLog:
        if not self.retention:
            self.retention = self.settings.event_retention
        return EventLog(
            self._events_in_memory,
            start_id=start_id,
            max_retained_bytes=self.settings.max_store_bytes,
            on_append=self._event_appended,
            # Readers see only what is committed (decision 0111); batched mode shows events at once.
            watermark=self.durability is Durability.ACKNOWLEDGED,
        )

    @property
    def _events_in_memory(self) -> int:
        # The newest events kept in memory; the file keeps all ``retention`` (older ones: read_events).
        return min(self.retention, self.settings.events_in_memory)

    async def open(self) -> None:
        """Check, migrate and load the file in a thread; start the writer; take back workers and events.

        :raises StoreUnusable: the file is damaged, foreign, newer, or in use
            by another runtime (or process), or its rows break the runtime's
            invariants; it is left untouched.
        """
        self._loop = asyncio.get_running_loop()
        fresh = StoreMeta(
            first_serial=self.roster.next_serial,
            next_serial=self.roster.next_serial,
            first_event_id=self.events.start_id,
            last_event_id=self.events.last_id,
            cursor_tag=self.roster.cursor_tag,
        )
        snapshot, writer_connection = await asyncio.to_thread(self._open_file, fresh)
        self._writer = GroupWriter(
            writer_connection,
            retention=self.retention,
            interval=BATCH_INTERVAL_SECONDS if self.durability is Durability.BATCHED else 0.0,
            committed=self._committed_in_thread,
            failed=self._failed_in_thread,
            recovered=self._recovered_in_thread,
            reserve=self._reserve(),
        )
        self._writer.start()
        try:
            self._restore(snapshot)
        except (ValueError, KeyError, TypeError):
            # Rows that break the runtime's invariants (serials out of order,
            # events with gaps): refuse them as a damaged file.
            log.exception("embedded store %s: the file's contents are inconsistent", self.path)
            await self.close()
            raise StoreUnusable("the store file's contents are inconsistent; it was left untouched") from None
        await self.settle()  # the restart's own events (turn_interrupted) are committed before anyone reads
        self.unavailable = None

    def _restored_transcript(self, serial: int, length: int) -> StoredTranscript:
        return StoredTranscript(self, serial, length)

    def _open_file(self, fresh: StoreMeta) -> tuple[StoreSnapshot, sqlite3.Connection]:
        path = self.path
        try:
            ensure_directory(path)
            self._lock(path)
        except OSError as error:
            raise start_failure(error, path.parent) from None
        try:
            version = check_file(path)
            if version is None:
                # Built aside and renamed into place: the file never exists
                # half-made, so an empty file found here is never ours (point 12).
                create_file(path, _fresh_meta_rows(fresh))
                version = SCHEMA_VERSION
            restrict_file(path)
            self._lock_database(path)
            writer = self._connect(path)
            try:
                self._reader = self._connect(path, reader=True)
                if version == SCHEMA_VERSION:
                    # Everything a start reads is read before anything is
                    # written: damage found here leaves the file untouched
                    # (issue 24, point 3).
                    snapshot = self._load(self._reader)
                else:
                    check_structure(self._reader)
                migrate(writer, version)
                recovered = _recover_from_an_unclean_end(writer)
                # Until close() says otherwise, this run may end in a crash; and
                # whether readers of this run see only committed events.
                writer.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [("closed_cleanly", 0), ("watermark", int(self.durability is Durability.ACKNOWLEDGED))],
                )
                if recovered or version != SCHEMA_VERSION:
                    snapshot = self._load(self._reader)
                self._opened_bytes = used_bytes(writer)
                self._page_size = int(writer.execute("PRAGMA page_size").fetchone()[0])
            except BaseException:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                writer.close()
                raise
        except StoreUnusable:
            self._unlock()
            raise
        except sqlite3.DatabaseError as error:
            self._unlock()
            log.error("embedded store %s: cannot be opened: %s", path, error)
            raise start_failure(error, path.parent) from None
        except OSError as error:
            self._unlock()
            log.error("embedded store %s: cannot be opened: %s", path, error)
            raise start_failure(error, path.parent) from None
        return snapshot, writer

    def _lock(self, path: Path) -> None:
        # One runtime per file: a second runtime (or server) on the same file
        # would interleave serials and event ids. flock, not fcntl locks:
        # SQLite's own fcntl locks on the same file would be released when any
        # other descriptor of it closes.
        self._lock_fd = _held_exclusively(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT)

    def _lock_database(self, path: Path) -> None:
        # The lock the filesystem holds on the database itself (issue 24,
        # point 12): deleting ``.lock`` while a server runs must not let a
        # second one in. flock is per open file, so SQLite's own fcntl locks
        # and descriptors neither see nor release it.
        self._database_lock_fd = _held_exclusively(path, os.O_RDWR)

    def _unlock(self) -> None:
        for name in ("_database_lock_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def _connect(self, path: Path, *, reader: bool = False) -> sqlite3.Connection:
        # The writer keeps every chunk statement of its groups prepared (decision 0193).
        cached = 128 if reader else WRITER_CACHED_STATEMENTS
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=cached)
        connection.execute("PRAGMA journal_mode = WAL")
        synchronous = "FULL" if self.durability is Durability.ACKNOWLEDGED else "NORMAL"
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        if reader:
            connection.execute("PRAGMA query_only = 1")
        return connection

    def _load(self, connection: sqlite3.Connection) -> StoreSnapshot:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        workers = tuple(
            StoredWorker(
                serial,
                worker_id,
                label,
                _intent_of(intent),
                profile,
                _from_us(created),
                status,
                turn,
                entries,
                _tool_names_of(tools),
                None if since is None else _from_us(since),
                WorkerTotals(turns, input_tokens, output_tokens),
            )
            for (
                serial,
                worker_id,
                label,
                intent,
                profile,
                created,
                status,
                turn,
                entries,
                tools,
                since,
                turns,
                input_tokens,
                output_tokens,
            ) in connection.execute(
                # A LEFT JOIN: a worker without its state row is a damaged file, said so below, never a
                # worker silently left out.
                "SELECT serial, w.worker_id, w.label, w.intent, w.profile, w.created_us, s.status, s.turn_number,"
                " s.entries, w.tools, s.status_since_us, s.turns, s.input_tokens, s.output_tokens"
                " FROM workers AS w LEFT JOIN worker_state AS s USING (serial) ORDER BY serial"
            )
        )
        if any(worker.status is None for worker in workers):
            raise StoreUnusable("the store file is damaged (a worker has no state); it was left untouched")
        rows = self._newest_events(connection)
        oldest = connection.execute("SELECT MIN(id) FROM events").fetchone()[0]
        self._oldest_in_file = oldest if oldest is not None else int(meta["first_event_id"])
        self._committed_in_file = int(meta["last_event_id"])
        events = tuple(
            Event(id_, type_, worker_id, json.loads(data), _from_us(created))
            for id_, type_, worker_id, data, created in rows
        )
        last_event_id = max(int(meta["last_event_id"]), events[-1].id if events else 0)
        return StoreSnapshot(
            StoreMeta(
                first_serial=int(meta["first_serial"]),
                next_serial=int(meta["next_serial"]),
                first_event_id=int(meta["first_event_id"]),
                last_event_id=last_event_id,
                cursor_tag=str(meta["cursor_tag"]),
            ),
            workers,
            events,
        )

    def _newest_events(self, connection: sqlite3.Connection) -> list[tuple[int, str, str | None, str, int]]:
        """The newest events (oldest first) that the event log keeps: by count, and by bytes as it reads.

        Read newest first, row by row, and stopped once they fill the log's
        byte bound (``max_store_bytes``): a table of 1.36 GB of event JSON
        was read whole, then cut (issue 24, point 4). The log's own restore
        makes the exact cut; this only never reads far past it.
        """
        max_bytes = self.settings.max_store_bytes
        rows: list[tuple[int, str, str | None, str, int]] = []
        total = 0
        cursor = connection.execute(
            "SELECT id, type, worker_id, data, created_us FROM events ORDER BY id DESC LIMIT ?",
            (self._events_in_memory,),
        )
        try:
            for row in cursor:
                size = EVENT_ENVELOPE_BYTES + len(row[1]) + len(row[2] or "") + len(row[3])
                if rows and max_bytes is not None and total + size > max_bytes:
                    break
                total += size
                rows.append(row)
        finally:
            cursor.close()
        rows.reverse()
        return rows

    # -- changes (the loop's thread) ---------------------------------------------------

    def _new_transcript(self, serial: int) -> StoredTranscript:
        return StoredTranscript(self, serial, 0)

    def _changing(self, worker: WorkerRecord) -> None:
        # With a watermark, readers of the worker keep seeing its committed
        # state until the change is committed, as they do its events: a client
        # that sees a turn's worker idle then finds the turn's end event.
        if worker.shown is None and self._acknowledged:
            worker.shown = (worker.status, worker.turn_number, len(worker.transcript), worker.totals)

    def _current(self) -> Batch:
        batch = self._batch
        if batch.size == 0 and self._loop is not None:
            # Sealed at the end of this loop step: everything the step changed is one batch.
            self._loop.call_soon(self._seal)
        batch.size += 1
        return batch

    def _worker_written(self, worker: WorkerRecord) -> None:
        """Queue the new worker's row and the next serial."""
        batch = self._current()
        serial = worker.serial
        batch.workers_added += (
            serial,
            worker.worker_id,
            worker.label,
            _intent_json(worker.intent),
            worker.profile.name,
            _to_us(worker.created_at),
            json.dumps([tool.name for tool in worker.tools]),
        )
        batch.states_added += (serial, *_hot_state(worker))
        batch.next_serial = worker.serial + 1
        batch.file_bytes += self._row_file_bytes(worker_bytes(worker))

    def _worker_removed(self, worker: WorkerRecord) -> None:
        """Queue the removal of the worker and its transcript."""
        self._current().workers_removed.append(worker.serial)
        self._dirty.discard(worker.worker_id)

    # The two methods below run for every row an input writes: _current(), _utf8_size() and the
    # small-row case of _row_file_bytes() are written out in them (decision 0193).

    def entry_appended(self, transcript: StoredTranscript, entry: TranscriptEntry) -> None:
        """Queue a transcript entry."""
        batch = self._batch
        if batch.size == 0 and self._loop is not None:
            self._loop.call_soon(self._seal)
        batch.size += 1
        content = entry.content
        sequence = entry.sequence
        batch.entries += (transcript.serial, sequence, entry.role, content, entry.event_id, _to_us(entry.created_at))
        batch.transcripts[transcript] = sequence
        batch.bytes += len(content) + _ROW_BYTES
        size = len(content) if content.isascii() else _utf8_size(content)
        batch.file_bytes += (size + _ROW_BYTES) * 5 // 4 if size <= _LOCAL_ROW_BYTES else self._row_file_bytes(size)

    def _event_appended(self, event: Event) -> None:
        """Queue an event; its worker's hot state (status, turn, entries, totals) is saved with the batch."""
        # The base class named, not ``super()``: no super object built for every event (decision 0198).
        LocalStore._event_appended(self, event)
        batch = self._batch
        if batch.size == 0 and self._loop is not None:
            self._loop.call_soon(self._seal)
        batch.size += 1
        # UTF-8, not \\u escapes: an emoji is 4 bytes in the file, not 12 (issue 24, point 12).
        data = _event_json(event.data)
        worker_id = event.worker_id
        created = event.created_at
        if created is self._last_moment:
            # The events of one decision share their moment (an input's accepted and started
            # events): converted once (decision 0198). By identity: a datetime never changes.
            created_us = self._last_us
        else:
            created_us = self._last_us = _to_us(created)
            self._last_moment = created
        batch.events += (event.id, event.type, worker_id, data, created_us)
        batch.bytes += len(data) + _ROW_BYTES
        size = len(data) if data.isascii() else _utf8_size(data)
        batch.file_bytes += (size + _ROW_BYTES) * 5 // 4 if size <= _LOCAL_ROW_BYTES else self._row_file_bytes(size)
        batch.last_event_id = event.id
        if worker_id is not None:
            self._dirty.add(worker_id)

    def _seal(self) -> None:
        batch, self._batch = self._batch, Batch()
        if batch.size == 0:
            return
        self._sealed_file_bytes += batch.file_bytes
        batch.file_bytes_through = self._sealed_file_bytes
        roster = self.roster
        for worker_id in self._dirty:
            worker = roster.find(worker_id)
            if worker is not None:
                batch.worker_states.append((*_hot_state(worker), worker.serial))
                if worker.shown is not None:  # readers see the committed state (acknowledged mode)
                    state = (worker.status, worker.turn_number, len(worker.transcript), worker.totals)
                    batch.shown.append((worker, state))
        self._dirty.clear()
        self._sealed += 1
        batch.number = self._sealed
        if self._writer is not None:
            self._writer.submit(batch)

    def check_writable(self) -> None:
        """Refuse writes while the last commit failed."""
        if self._write_error is not None:
            raise RuntimeUnavailable(_WRITE_REFUSED)

    async def settle(self) -> None:
        """Wait for the commit of what has changed so far, when the answer must; else return at once.

        ``acknowledged``: always (every batch sealed so far, the one being
        filled included). ``batched``: only while the writer is behind
        (backpressure, decision 0181) — so what is answered and not yet
        committed stays within :data:`MAX_UNCOMMITTED_BYTES` and was never
        older than :data:`BEHIND_SECONDS` when it was answered.

        Each answer waits on a future of its own, all of a group's resolved
        in the one callback that reports its commit (decision 0192). Sealing
        the batch here instead of at the end of the loop step was measured
        and left: more, smaller commits, and a worse p99.
        """
        loop = self._loop
        if loop is None:
            return
        if not self._acknowledged and (self._batch.size == 0 or not self._behind()):
            return
        # The batch being filled is sealed at the end of this loop step, with the
        # changes of every other request of the step: the number it will have.
        number = self._sealed + (1 if self._batch.size else 0)
        if number <= self._committed_through:
            return
        # One future per answer, no shield: a client that goes away cancels its own future only.
        future = loop.create_future()
        self._waiters.append((number, future))
        await future

    async def abandon_turn(self, worker: WorkerRecord) -> None:
        """Write nothing: the next run brings the worker back with ``worker.turn_interrupted``."""

    def _behind(self) -> bool:
        """Whether the writer is too far behind for a ``batched`` answer to go out before its commit."""
        writer = self._writer
        if writer is None:
            return False
        if writer.uncommitted_bytes + self._batch.bytes > MAX_UNCOMMITTED_BYTES:
            return True
        # Asked on every batched answer: the oldest batch is read here, not through a property call.
        try:
            oldest = writer.uncommitted[0].sealed_at
        except IndexError:  # nothing uncommitted (the writer may empty the list at any moment)
            return False
        return time.monotonic() - oldest > BEHIND_SECONDS

    def _reserve(self) -> Reserve | None:
        """``batched`` mode keeps disk space for committing what it answered when the disk fills (decision 0181)."""
        if self.durability is not Durability.BATCHED:
            return None
        return Reserve(self.path.with_name(self.path.name + ".reserve"), RESERVE_BYTES)

    def commit_stats(self) -> CommitStats | None:
        """The writer's commits, their time, and its queue (``None`` before the store opened)."""
        writer = self._writer
        if writer is None:
            return None
        return CommitStats(writer.commits, writer.commit_seconds, writer.queue_depth)

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """``store_write_failed`` while writes are refused."""
        if self._write_error is None:
            return ()
        return (Diagnostic.error("store_write_failed", f"{_WRITE_REFUSED} ({self._write_error})"),)

    # -- the writer's reports (its thread, handed to the loop) --------------------------

    def _committed_in_thread(self, batches: list[Batch]) -> None:
        self._to_loop(self._committed, batches)

    def _failed_in_thread(self, batches: list[Batch], error: sqlite3.Error) -> None:
        self._to_loop(self._failed, batches, _error_kind(error))

    def _recovered_in_thread(self) -> None:
        self._to_loop(self._recovered)

    def _to_loop(self, callback: Callable[..., None], *arguments: object) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(callback, *arguments)

    def _recovered(self) -> None:
        # Every batch is committed and the reserve is held again: room for the next batch.
        if self._write_error is not None:
            log.warning("embedded store %s: writes work again", self.path)
            self._write_error = None

    def _committed(self, batches: list[Batch]) -> None:
        events = self.events
        for batch in batches:
            for transcript, sequence in batch.transcripts.items():
                transcript.committed(sequence)
            if batch.last_event_id is not None:
                # Events beyond retention are never read again (the writer deletes them a few
                # hundred at a time, decision 0193).
                self._committed_in_file = max(self._committed_in_file, batch.last_event_id)
                self._oldest_in_file = max(self._oldest_in_file, batch.last_event_id - self.retention + 1)
                if batch.last_event_id <= events.last_id:
                    events.commit(batch.last_event_id)  # readers see them now (decision 0111)
            for worker, state in batch.shown:
                # Readers see the committed state; once it is the worker's
                # state now, they see the worker as it is.
                if worker.shown is not None:
                    now = (worker.status, worker.turn_number, len(worker.transcript), worker.totals)
                    worker.shown = None if state == now else state
        self._committed_through = batches[-1].number
        self._answer_waiters(self._committed_through)
        if self._file_waiters:
            waiting, self._file_waiters = self._file_waiters, []
            for event_id, future in waiting:
                if event_id > self._committed_in_file:
                    self._file_waiters.append((event_id, future))
                elif not future.done():
                    future.set_result(None)

    def _failed(self, batches: list[Batch], kind: str) -> None:
        if self._write_error is None:
            log.error("embedded store %s: a commit failed (%s); writes are refused until it succeeds", self.path, kind)
        self._write_error = kind
        # The answers waiting for these batches are refused (the batches stay queued and are retried).
        self._refuse_waiters(batches[-1].number if batches else 0, _WRITE_REFUSED)

    def _refuse_waiters(self, through: float, message: str) -> None:
        """Refuse the answers waiting for batches numbered up to ``through``."""
        self._answer_waiters(through, refused=message)

    def _answer_waiters(self, through: float, *, refused: str | None = None) -> None:
        """Release the answers waiting for batches numbered up to ``through``: committed, or ``refused`` with that message."""
        waiters = self._waiters
        while waiters and waiters[0][0] <= through:
            future = waiters.popleft()[1]
            if future.done():
                continue
            if refused is None:
                future.set_result(None)
            else:
                future.set_exception(RuntimeUnavailable(refused))
                # Retrieved by the request that awaits it; if that request is gone, say nothing.
                future.exception()

    # -- reads (the loop's thread) ------------------------------------------------------

    def read_entries(self, serial: int, start: int, end: int) -> list[TranscriptEntry]:
        """Committed entries ``start <= sequence < end`` of one worker, from the file."""
        reader = self._reader
        if reader is None:
            raise RuntimeUnavailable("the runtime's store is closed")
        try:
            rows = reader.execute(
                "SELECT sequence, role, content, event_id, created_us FROM entries"
                " WHERE serial = ? AND sequence >= ? AND sequence < ? ORDER BY sequence",
                (serial, start, end),
            ).fetchall()
        except sqlite3.Error as error:
            log.error("embedded store %s: a transcript read failed: %s", self.path, error)
            raise RuntimeUnavailable("the runtime's store could not be read") from None
        return [
            TranscriptEntry(sequence, ROLES[role], content, event_id, _from_us(created))
            for sequence, role, content, event_id, created in rows
        ]

    async def read_entries_bounded(
        self, serial: int, start: int, end: int, max_bytes: int
    ) -> tuple[list[TranscriptEntry], int]:
        """Committed entries from ``start`` (before ``end``) that fit in ``max_bytes`` (at least one), read in the reader thread.

        Returns the entries and the bytes left of ``max_bytes``.
        """
        if self._reader is None:
            raise RuntimeUnavailable("the runtime's store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_executor, self._read_bounded, serial, start, end, max_bytes)

    def _read_bounded(self, serial: int, start: int, end: int, max_bytes: int) -> tuple[list[TranscriptEntry], int]:
        reader = self._reader
        if reader is None:
            raise RuntimeUnavailable("the runtime's store is closed")
        items: list[TranscriptEntry] = []
        budget = max_bytes
        try:
            with self._read_lock:
                cursor = reader.execute(
                    "SELECT sequence, role, content, event_id, created_us FROM entries"
                    " WHERE serial = ? AND sequence >= ? AND sequence < ? ORDER BY sequence",
                    (serial, start, end),
                )
                try:
                    # Row by row: the read stops where the page's bytes end.
                    for sequence, role, content, event_id, created in cursor:
                        budget -= entry_page_bytes(content)
                        if budget < 0 and items:
                            break
                        items.append(TranscriptEntry(sequence, ROLES[role], content, event_id, _from_us(created)))
                finally:
                    cursor.close()
        except sqlite3.Error as error:
            log.error("embedded store %s: a transcript read failed: %s", self.path, error)
            raise RuntimeUnavailable("the runtime's store could not be read") from None
        return items, budget

    async def read_events(
        self, *, cursor: int | None, limit: int, worker_id: str | None, max_bytes: int | None
    ) -> EventSlice:
        """Committed events after ``cursor``: from memory, or from the file when older than the in-memory window.

        Pages of the file hold only events older than the window (a page may
        be shorter than ``limit``; ``has_more`` says whether more follow), so
        a reader catching up walks the file, then memory, without a gap.
        """
        events = self.events
        # The newest ``retention`` events are readable, as with every store: the file
        # may still hold older ones until the writer deletes them (decision 0193).
        oldest = max(self._oldest_in_file, events.last_id - self.retention + 1)
        if cursor is None:
            after = oldest - 1
        elif cursor == 0:
            after = events.start_id - 1
        else:
            after = cursor
        window = events.first_id
        if after >= window - 1 or after < oldest - 1 or self._reader is None:
            # In memory, or expired (the log says so in its own words).
            return events.read(cursor=cursor, limit=limit, worker_id=worker_id, max_bytes=max_bytes)
        if self._committed_in_file < window - 1:
            await self._until_in_file(window - 1)  # batched mode: the events below the window reach the file first
        loop = asyncio.get_running_loop()
        older, cut = await loop.run_in_executor(
            self._read_executor, self._read_older, after, window, limit, worker_id, max_bytes
        )
        if worker_id is None and (not older or older[0].id != after + 1):
            # Retention dropped them while the page was read.
            return events.read(cursor=after, limit=limit, worker_id=None, max_bytes=max_bytes)
        if cut:
            return EventSlice(older, older[-1].id, True)
        try:
            if not older:
                return events.read(cursor=window - 1, limit=limit, worker_id=worker_id, max_bytes=max_bytes)
            following = events.read(cursor=window - 1, limit=1, worker_id=worker_id)
        except CursorExpired:
            # The window moved on while the file was read: those events are in the file now.
            return EventSlice(older, older[-1].id if older else window - 1, True)
        if following.events:
            return EventSlice(older, older[-1].id, True)
        return EventSlice(older, following.next_cursor, False)

    async def _until_in_file(self, event_id: int) -> None:
        # Every queued change is sealed and committed within a batch interval; a failing
        # writer holds this read as it holds the writes (they are committed once it can).
        if self._loop is None:
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._file_waiters.append((event_id, future))
        await future

    def _read_older(
        self, after: int, before: int, limit: int, worker_id: str | None, max_bytes: int | None
    ) -> tuple[list[Event], bool]:
        reader = self._reader
        if reader is None:
            raise RuntimeUnavailable("the runtime's store is closed")
        try:
            with self._read_lock:
                return read_older_events(
                    reader, after=after, before=before, limit=limit, worker_id=worker_id, max_bytes=max_bytes
                )
        except sqlite3.Error as error:
            log.error("embedded store %s: an event read failed: %s", self.path, error)
            raise RuntimeUnavailable("the runtime's store could not be read") from None

    # -- closing -------------------------------------------------------------------------

    async def close(self) -> None:
        """Seal what is queued, let the writer commit it, and release the file (bounded in time)."""
        if self._closed:
            return
        self._closed = True
        self._seal()
        writer = self._writer
        if writer is not None:
            ended = await asyncio.to_thread(writer.stop, CLOSE_TIMEOUT_SECONDS)
            if not ended:
                log.error(
                    "embedded store %s: the writer did not finish within %.0f s", self.path, CLOSE_TIMEOUT_SECONDS
                )
                # Nothing more will be reported: answers still waiting are refused, not left hanging.
                self._refuse_waiters(math.inf, _WRITE_REFUSED)
                return  # the thread still uses the connection and the lock; the process is ending
        # The writer's last reports ran before this (they were queued on the loop first);
        # whatever it could not commit by the deadline is refused, not left hanging.
        self._refuse_waiters(math.inf, _WRITE_REFUSED)
        # File work, after the reads already queued: in the reader thread, never on the loop's.
        clean = self._write_error is None
        await asyncio.get_running_loop().run_in_executor(self._read_executor, self._release, writer, clean)
        self._read_executor.shutdown(wait=False)

    def _release(self, writer: GroupWriter | None, clean: bool) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        if writer is not None:
            if clean:
                # Everything is committed: the next run continues the ids.
                with contextlib.suppress(sqlite3.Error):
                    writer.mark_closed_cleanly()
            writer.close_connection()
        self._unlock()

    def inject_statement(self, statement: str) -> None:
        """Run ``statement`` on the write connection before its next commit (fault tests)."""
        if self._writer is not None:
            self._writer.run_in_writer(statement)


def _held_exclusively(path: Path, flags: int) -> int:
    """A descriptor of ``path`` (opened owner-only with ``flags``) holding its exclusive ``flock``.

    :raises StoreUnusable: another runtime or process holds it (transient: it may go away).
    """
    fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreUnusable("the store file is in use by another runtime or process", transient=True) from None
    return fd


def _recover_from_an_unclean_end(connection: sqlite3.Connection) -> bool:
    """After a crash (no clean close recorded), never issue an id the crashed run may have shown.

    Worker serials: lists and lookups show a worker before its batch commits,
    so serials start above every serial that run could have issued (the
    clock in microseconds, decision 0055); list cursors stay valid.

    Event ids: a run with a committed watermark (``acknowledged``) showed
    readers and clients only committed ids, so ids simply continue from the
    file and every cursor stays valid (decision 0111). A ``batched`` run
    showed ids before their commit; the ones a crash lost would be issued
    again, for something else, so ids start above them and the event window
    starts empty (the log has no gaps): older cursors get ``cursor_expired``
    (decision 0086).
    """
    row = connection.execute("SELECT value FROM meta WHERE key = 'closed_cleanly'").fetchone()
    if row is None or str(row[0]) == "1":
        return False  # closed cleanly, or written before the marker existed (its ids continue, as they did)
    # Above every id the file holds too, not only above the clock: a clock
    # set back (an hour, after a crash) must not make ids go backwards
    # (issue 24, point 6).
    in_file = connection.execute(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0),"
        " COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_event_id'), 0),"
        " COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_serial'), 0) - 1)"
    ).fetchone()[0]
    floor = max(clock_start_id(), int(in_file) + 1)
    watermark = connection.execute("SELECT value FROM meta WHERE key = 'watermark'").fetchone()
    connection.execute("BEGIN IMMEDIATE")
    if watermark is None or str(watermark[0]) != "1":
        connection.execute("DELETE FROM events")
        connection.executemany(
            "UPDATE meta SET value = ? WHERE key = ?",
            [(floor, "first_event_id"), (floor - 1, "last_event_id")],
        )
    connection.execute("UPDATE meta SET value = MAX(CAST(value AS INTEGER), ?) WHERE key = 'next_serial'", (floor,))
    connection.execute("COMMIT")
    return True


def _hot_state(worker: WorkerRecord) -> tuple[object, ...]:
    """A worker's ``worker_state`` columns after ``serial``, in the table's order (decision 0197)."""
    totals = worker.totals
    return (
        worker.status,
        worker.turn_number,
        len(worker.transcript),
        int(worker.status_since * 1_000_000),
        totals.turns,
        totals.input_tokens,
        totals.output_tokens,
    )


def _utf8_size(text: str) -> int:
    # str.isascii() is O(1): only non-ASCII text is encoded to be measured.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _fresh_meta_rows(fresh: StoreMeta) -> list[tuple[str, object]]:
    return [
        ("first_serial", fresh.first_serial),
        ("next_serial", fresh.next_serial),
        ("first_event_id", fresh.first_event_id),
        ("last_event_id", fresh.last_event_id),
        ("cursor_tag", fresh.cursor_tag),
    ]


def _error_kind(error: sqlite3.Error) -> str:
    """A client-safe name for a write failure: SQLite's error name, never a path."""
    name = getattr(error, "sqlite_errorname", None)
    return name if isinstance(name, str) else type(error).__name__
