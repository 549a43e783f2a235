"""The SQLite store's one writer thread: it commits queued batches in groups, bounded in bytes.

The event loop seals a :class:`Batch` of changes per loop step and hands it
over; the writer takes the batches waiting when it is free and commits them
together. Under load that is group commit: one fsync for many requests,
without any request waiting for a timer (decision 0085). In ``batched`` mode
the writer also waits until ``interval`` has passed since its last commit,
trading a bounded delay for fewer commits.

Bounds (issue 24, points 1, 2 and 7; decision 0181):

- One transaction commits at most ``max_group_bytes`` of changes (at least
  one batch): a backlog is committed as a run of bounded transactions, so the
  write-ahead log never has to hold a whole backlog, and a retry after a
  full disk needs room for one group, not for everything that waited.
- :attr:`GroupWriter.uncommitted_bytes` and
  :attr:`GroupWriter.oldest_uncommitted` say how far behind the writer is;
  the store makes ``batched`` answers wait (backpressure) when it is too
  far behind, so what is answered and not yet committed stays bounded.
- A *reserve* file of ``reserve_bytes`` (``batched`` mode) holds disk space
  for the day the disk fills: a commit that fails for want of room gives the
  reserve back to the filesystem, checkpoints the log and commits what was
  already answered into that room. Writes stay refused until the reserve
  can be taken again (there is room for the next batch), then the store
  says it recovered.

A failed commit (disk full, read-only file, I/O error) rolls back, keeps
the batches in order, reports the failure to the loop, and is retried every
``retry_seconds`` until it succeeds: nothing accepted is dropped. Stopping
commits everything queued, retrying failed commits until the stop's
deadline.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry_core.models import WorkerTotals
    from runtime_registry.runtimes.embedded.sqlite_store import StoredTranscript
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["MAX_GROUP_BYTES", "WRITER_CACHED_STATEMENTS", "Batch", "GroupWriter", "Reserve", "used_bytes"]

log = logging.getLogger("runtime_registry.runtimes.embedded.store")

#: The most bytes of changes one transaction commits (a larger single batch is committed alone).
MAX_GROUP_BYTES = 4 * 1024 * 1024
#: SQLite's "database or disk is full".
_SQLITE_FULL = 13
#: The file keeps at most ``retention // PRUNE_FRACTION`` events beyond retention (readers never see them).
PRUNE_FRACTION = 64


class Batch:
    """Changes made in one step of the event loop, in the order they happened (as SQL rows)."""

    __slots__ = (
        "bytes",
        "entries",
        "events",
        "file_bytes",
        "file_bytes_through",
        "last_event_id",
        "next_serial",
        "number",
        "sealed_at",
        "shown",
        "size",
        "states_added",
        "transcripts",
        "worker_states",
        "workers_added",
        "workers_removed",
    )

    def __init__(self) -> None:
        # New rows, flat: one row's values after the other (a table's columns per row), as the
        # multi-row statements bind them. No tuple per row is kept alive until the commit, so
        # the garbage collector has fewer young objects to walk (decision 0196).
        self.workers_added: list[object] = []
        #: The hot state rows of the workers added (``worker_state``, decision 0197).
        self.states_added: list[object] = []
        self.workers_removed: list[int] = []
        self.entries: list[object] = []
        self.events: list[object] = []
        self.worker_states: list[tuple[object, ...]] = []
        self.next_serial: int | None = None
        self.last_event_id: int | None = None
        #: transcript -> sequence: its entries up to ``sequence`` are committed with this batch.
        self.transcripts: dict[StoredTranscript, int] = {}
        #: (record, its state as sealed): what readers may see of it once this batch is committed.
        self.shown: list[tuple[WorkerRecord, tuple[str, int, int, WorkerTotals]]] = []
        #: Its place in the order batches are sealed (1, 2, ...): what answers waiting for a commit wait for.
        self.number = 0
        #: How many changes the batch holds.
        self.size = 0
        #: About how many bytes its rows hold (texts and event JSON): what bounds groups and backlogs.
        self.bytes = 0
        #: About how many bytes its rows will take in the file, pages and all (``max_store_bytes``, decision 0222).
        self.file_bytes = 0
        #: ``file_bytes`` of this batch and of every batch sealed before it (the store's running sum):
        #: what a measure of the file taken after its commit covers (:attr:`GroupWriter.measured`).
        self.file_bytes_through = 0
        #: ``time.monotonic()`` when it was handed to the writer.
        self.sealed_at = 0.0


class Reserve:
    """A file that holds disk space for committing what was answered when the disk fills up.

    :param path: the reserve file (owner-only), next to the database.
    :param size: how many bytes it holds.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def held(self) -> bool:
        """Whether the reserve is there at full size."""
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def take(self) -> bool:
        """Allocate the reserve (if it is not already held); ``False`` when there is no room (nothing is left behind)."""
        if self.held():
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            try:
                os.posix_fallocate(fd, 0, self.size)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                # No fallocate on this filesystem: write the bytes.
                chunk = b"\0" * 65536
                os.lseek(fd, 0, os.SEEK_SET)
                for _ in range(0, self.size, len(chunk)):
                    os.write(fd, chunk)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            self.release()
            return False
        os.close(fd)
        return True

    def release(self) -> bool:
        """Give the reserve's space back to the filesystem; whether there was any."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError:
            return False
        return True


class GroupWriter:
    """The thread that owns the write connection.

    :param connection: the write connection (``check_same_thread=False``, autocommit).
    :param retention: events kept; older ones are deleted in the same transactions, once
        ``retention // PRUNE_FRACTION`` of them have gathered (readers never see them).
    :param interval: the least time between two commits (``0``: commit as soon as there is work).
    :param committed: called in the writer thread with the batches of each successful commit.
    :param failed: called in the writer thread with the batches of a failed commit and the error.
    :param recovered: called in the writer thread when, after failures, every
        batch is committed and the reserve is held again: writes may resume.
    :param max_group_bytes: the most bytes one transaction commits.
    :param reserve: the space kept for a full disk (``None``: none).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        retention: int,
        interval: float,
        committed: Callable[[list[Batch]], None],
        failed: Callable[[list[Batch], sqlite3.Error], None],
        recovered: Callable[[], None] | None = None,
        retry_seconds: float = 0.5,
        max_group_bytes: int = MAX_GROUP_BYTES,
        reserve: Reserve | None = None,
    ) -> None:
        self._connection = connection
        self._retention = retention
        # Events beyond retention are deleted once this many have gathered (decision 0193): an
        # ``acknowledged`` commit of a dozen inputs then rarely deletes at all, and a delete
        # takes many workers' old events from each index page it writes. ``None``: nothing
        # deleted yet (the first commit with events deletes whatever is beyond retention).
        self._prune_step = max(1, retention // PRUNE_FRACTION)
        self._pruned_through: int | None = None
        self._interval = interval
        self._committed = committed
        self._failed = failed
        self._recovered = recovered
        self._retry_seconds = retry_seconds
        self._max_group_bytes = max_group_bytes
        self._reserve = reserve
        # Rows per multi-row statement are bounded by the build's limit on parameters too.
        self._max_parameters = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._queue: list[Batch] = []
        self._statements: list[str] = []
        self._condition = threading.Condition()
        self._stopping = False
        #: The thread waits for work (``submit`` wakes it only then).
        self._idle = False
        self._deadline = float("inf")
        #: A failure not yet recovered from (refuse writes until ``recovered``).
        self._failing = False
        #: Batches submitted, in order, not yet committed, and their bytes (changed under the
        #: condition; read by the loop on every ``batched`` answer, so plain attributes, decision 0198).
        self.uncommitted: list[Batch] = []
        self.uncommitted_bytes = 0
        self._thread = threading.Thread(target=self._run, name="embedded-store-writer", daemon=True)
        #: Batches that could not be committed when the writer stopped (lost with the process).
        self.abandoned = 0
        #: Successful commits so far, and the seconds they took in all (``/metrics``: commit latency).
        self.commits = 0
        self.commit_seconds = 0.0
        #: The database's bytes in use after the last commit (pages less free pages), and the
        #: ``file_bytes_through`` of the last batch that commit held; ``None`` before the first:
        #: ``max_store_bytes`` is measured on the file (issue 24). One tuple, replaced whole, so a
        #: reader in another thread never sees a measure with the wrong batch.
        self.measured: tuple[int, int] | None = None

    @property
    def queue_depth(self) -> int:
        """Batches waiting for the next commit (read from any thread: a length, no lock needed)."""
        return len(self._queue)

    @property
    def oldest_uncommitted(self) -> float | None:
        """When the oldest batch not yet committed was handed over (``time.monotonic()``), or ``None``."""
        uncommitted = self.uncommitted
        try:
            return uncommitted[0].sealed_at
        except IndexError:
            return None

    def start(self) -> None:
        """Start the thread (it takes the reserve first, if there is one)."""
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        """Queue a sealed batch (any thread)."""
        batch.sealed_at = time.monotonic()
        with self._condition:
            self._queue.append(batch)
            self.uncommitted.append(batch)
            self.uncommitted_bytes += batch.bytes
            # Woken only when it waits for work: a writer that is committing, or
            # waiting out ``interval`` (batched), takes the batch on its next round
            # anyway, and a needless wake costs the loop a thread switch (decision 0192).
            if self._idle:
                self._condition.notify()

    def stop(self, timeout: float) -> bool:
        """Commit what is queued (retrying failures), then end the thread; at most ``timeout`` seconds. Whether it ended."""
        with self._condition:
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._condition.notify()
        self._thread.join(timeout + 0.5)
        return not self._thread.is_alive()

    def mark_closed_cleanly(self) -> None:
        """Record that every change reached the file (only once the thread has ended)."""
        if not self._thread.is_alive():
            self._connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('closed_cleanly', 1)")

    def close_connection(self) -> None:
        """Close the write connection once the thread has ended."""
        if not self._thread.is_alive():
            self._connection.close()

    def run_in_writer(self, statement: str) -> None:
        """Run ``statement`` on the write connection before the next commit (fault tests: ``PRAGMA max_page_count``)."""
        with self._condition:
            self._statements.append(statement)
            self._condition.notify()

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        if self._reserve is not None and not self._reserve.take():
            log.warning("embedded store: no room for the store's reserve of %d bytes", self._reserve.size)
        pending: list[Batch] = []
        last_commit = 0.0
        retry_at = 0.0
        while True:
            with self._condition:
                while not self._stopping and not self._statements and not self._has_work(pending, retry_at):
                    self._idle = True
                    self._condition.wait(self._wait_time(pending, retry_at))
                    self._idle = False
                if self._interval and not self._stopping:
                    # batched: at most one commit per interval; what arrives meanwhile joins the group.
                    wait = last_commit + self._interval - time.monotonic()
                    while wait > 0 and not self._stopping:
                        self._condition.wait(wait)
                        wait = last_commit + self._interval - time.monotonic()
                pending.extend(self._queue)
                self._queue.clear()
                stopping = self._stopping
                statements, self._statements = self._statements, []
            for statement in statements:
                self._connection.execute(statement)
            if pending:
                last_commit = time.monotonic()
                error = self._commit_groups(pending)
                if error is not None:
                    if stopping and time.monotonic() >= self._deadline:
                        self.abandoned = len(pending)
                        log.error(
                            "embedded store: %d batches of changes could not be written at shutdown (%s)",
                            len(pending),
                            error,
                        )
                        return
                    retry_at = time.monotonic() + (min(0.05, self._retry_seconds) if stopping else self._retry_seconds)
                    continue
                retry_at = 0.0
            if self._failing and not pending and self._reserve_back():
                self._failing = False
                if self._recovered is not None:
                    self._recovered()
            elif self._failing and not pending:
                retry_at = time.monotonic() + self._retry_seconds
            if stopping:
                with self._condition:
                    if not self._queue:
                        return

    def _has_work(self, pending: list[Batch], retry_at: float) -> bool:
        if time.monotonic() < retry_at:
            return False
        return bool(self._queue or pending) or (self._failing and retry_at > 0)

    def _wait_time(self, pending: list[Batch], retry_at: float) -> float | None:
        if not (self._queue or pending or self._failing):
            return None
        return max(0.0, retry_at - time.monotonic())

    def _reserve_back(self) -> bool:
        """After a failure: whether the reserve is held again (trying to take it)."""
        return self._reserve is None or self._reserve.take()

    def _commit_groups(self, pending: list[Batch]) -> sqlite3.Error | None:
        """Commit ``pending`` from the front in groups of at most ``max_group_bytes``; committed ones leave it.

        Returns the error of the first group that failed (the rest stay in
        ``pending``, in order), or ``None`` when all are committed.
        """
        reserve_given = False
        while pending:
            group = self._next_group(pending)
            started = time.monotonic()
            try:
                self._commit(group)
                self.commit_seconds += time.monotonic() - started
                self.commits += 1
            except sqlite3.Error as error:
                if not reserve_given and _is_full(error) and self._reserve is not None and self._reserve.release():
                    # The reserve is for this: what was answered goes into its room.
                    reserve_given = True
                    log.warning("embedded store: the disk is full; the store's reserve is given back to commit")
                    self._checkpoint()
                    self._failing = True
                    self._failed(group, error)
                    continue
                self._failing = True
                self._failed(list(pending), error)
                self._checkpoint()
                return error
            del pending[: len(group)]
            with self._condition:
                del self.uncommitted[: len(group)]
                self.uncommitted_bytes -= sum(batch.bytes for batch in group)
            # Reported first: the answers waiting for this commit go out without
            # waiting for the measure too (decision 0193). Until the measure
            # replaces it, the store still counts the group as queued. A group
            # that removed workers is measured first: the room it freed is free
            # when its answers go out ("delete workers that are done to free room").
            if any(batch.workers_removed for batch in group):
                self._measure(group)
                self._committed(group)
            else:
                self._committed(group)
                self._measure(group)
        return None

    def _measure(self, group: list[Batch]) -> None:
        # A failed measure keeps the last one (and the group counted as queued): the commit stands.
        with contextlib.suppress(sqlite3.Error):
            self.measured = (used_bytes(self._connection), group[-1].file_bytes_through)

    def _next_group(self, pending: list[Batch]) -> list[Batch]:
        total = 0
        for count, batch in enumerate(pending):
            total += batch.bytes
            if total > self._max_group_bytes and count > 0:
                return pending[:count]
        return pending[:]

    def _checkpoint(self) -> None:
        # Frames already committed go into the database, so the log can be
        # written again from its start (its file keeps its size: room a full
        # disk does not have to give).
        with contextlib.suppress(sqlite3.Error):
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _commit(self, batches: list[Batch]) -> None:
        """Commit ``batches`` in one transaction: their rows merged per table, a few statements in all.

        Python's ``sqlite3`` lets go of the GIL for every step of a statement,
        and ``executemany`` steps once per row: a group of 500 rows made the
        writer and the event loop trade the GIL 500 times, each time waiting
        for the loop to let go of it (decision 0192). Here rows go in
        multi-row statements (see :func:`_insert`), so a group costs about
        a dozen steps whatever its size.
        """
        connection = self._connection
        workers_added: list[object] = []
        states_added: list[object] = []
        entries: list[object] = []
        events: list[object] = []
        # A worker's state row is its whole hot state when a batch was sealed: the last one wins.
        states: dict[object, tuple[object, ...]] = {}
        removed: list[int] = []
        next_serial = last_event_id = None
        for batch in batches:
            workers_added += batch.workers_added
            states_added += batch.states_added
            entries += batch.entries
            events += batch.events
            for state in batch.worker_states:
                states[state[-1]] = state
            removed += batch.workers_removed
            if batch.next_serial is not None:
                next_serial = batch.next_serial
            if batch.last_event_id is not None:
                last_event_id = batch.last_event_id
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Inserts, then states, then removals: a worker's serial is never reused,
            # so a state or a removal applies to a row inserted by this or an earlier group.
            _insert(connection, _INSERT_WORKERS, _WORKER_COLUMNS, self._max_parameters, workers_added)
            _insert(connection, _INSERT_STATES, _STATE_COLUMNS, self._max_parameters, states_added)
            _insert(connection, _INSERT_ENTRIES, _ENTRY_COLUMNS, self._max_parameters, entries)
            _insert(connection, _INSERT_EVENTS, _EVENT_COLUMNS, self._max_parameters, events)
            if _UPDATE_FROM:
                _insert(connection, _UPDATE_STATES, 8, self._max_parameters, list(chain.from_iterable(states.values())))
            elif states:
                connection.executemany(_UPDATE_STATE, list(states.values()))
            for start in range(0, len(removed), _MAX_CHUNK_ROWS):
                chunk = removed[start : start + _MAX_CHUNK_ROWS]  # far below any build's parameter limit
                marks = ",".join("?" * len(chunk))
                connection.execute(f"DELETE FROM workers WHERE serial IN ({marks})", chunk)
                connection.execute(f"DELETE FROM worker_state WHERE serial IN ({marks})", chunk)
                connection.execute(f"DELETE FROM entries WHERE serial IN ({marks})", chunk)
            if next_serial is not None or last_event_id is not None:
                # Both counters in one statement; an unchanged one is written back as it is.
                connection.execute(
                    "UPDATE meta SET value = CASE key WHEN 'next_serial' THEN COALESCE(?, value)"
                    " ELSE COALESCE(?, value) END WHERE key IN ('next_serial', 'last_event_id')",
                    (next_serial, last_event_id),
                )
            pruned = self._pruned_through
            if last_event_id is not None and (
                pruned is None or last_event_id - self._retention - pruned >= self._prune_step
            ):
                pruned = last_event_id - self._retention
                connection.execute("DELETE FROM events WHERE id <= ?", (pruned,))
            connection.execute("COMMIT")
            self._pruned_through = pruned
        except BaseException:
            # SQLite may have rolled the transaction back itself (a full disk does).
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise


#: The most rows one statement carries (every chunk size above :data:`_EXACT_CHUNK_ROWS` is a
#: power of two up to it, so the connection's statement cache holds few prepared statements per table).
_MAX_CHUNK_ROWS = 256
#: Up to this many rows are written by one statement of exactly that many: an ``acknowledged``
#: group (16 inputs at most with 16 clients, three or four events each) is one statement per
#: table, not one per set bit of its row count (decision 0193). Statements per table: this
#: many, plus the powers of two above it (prepared as sizes occur: about 25 KB each at 64 rows).
_EXACT_CHUNK_ROWS = 64
#: Values per row of ``Batch.workers_added``, ``Batch.states_added``, ``Batch.entries`` and ``Batch.events``
#: (the tables' columns below).
_WORKER_COLUMNS = 7
_STATE_COLUMNS = 8
_ENTRY_COLUMNS = 6
_EVENT_COLUMNS = 5
#: What the writer's connection keeps prepared: every chunk statement of the five tables, and the rest.
WRITER_CACHED_STATEMENTS = 5 * (_EXACT_CHUNK_ROWS + 3) + 32
_INSERT_WORKERS = "INSERT INTO workers (serial, worker_id, label, intent, profile, created_us, tools) VALUES "
_INSERT_STATES = (
    "INSERT INTO worker_state (serial, status, turn_number, entries, status_since_us, turns, input_tokens,"
    " output_tokens) VALUES "
)
_INSERT_ENTRIES = "INSERT INTO entries (serial, sequence, role, content, event_id, created_us) VALUES "
_INSERT_EVENTS = "INSERT INTO events (id, type, worker_id, data, created_us) VALUES "
#: A state row is (status, turn_number, entries, status_since_us, turns, input_tokens, output_tokens, serial).
#: ``UPDATE ... FROM`` came with SQLite 3.33 (2020); an older library updates states row by row.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_UPDATE_STATE = (
    "UPDATE worker_state SET status = ?, turn_number = ?, entries = ?, status_since_us = ?,"
    " turns = ?, input_tokens = ?, output_tokens = ? WHERE serial = ?"
)
_UPDATE_STATES = (
    "UPDATE worker_state SET status = s.column1, turn_number = s.column2, entries = s.column3,"
    " status_since_us = s.column4, turns = s.column5, input_tokens = s.column6, output_tokens = s.column7"
    " FROM (VALUES {rows}) AS s WHERE worker_state.serial = s.column8"
)
#: The SQL of each (table head, columns, chunk size) made so far (not the injected statements of ``GroupWriter``).
_chunk_statements: dict[tuple[str, int, int], str] = {}


def _insert(connection: sqlite3.Connection, head: str, columns: int, max_parameters: int, values: list[object]) -> None:
    """Write the rows of ``values`` (flat: ``columns`` values per row) with one statement per chunk (sizes:
    exact up to :data:`_EXACT_CHUNK_ROWS`, else powers of two, at most :data:`_MAX_CHUNK_ROWS` and at
    most ``max_parameters`` values).

    Each statement is one step of SQLite, so one release of the GIL, for up
    to 256 rows; the values are bound as they are (no text is built from
    them), exactly as ``executemany`` binds them.
    """
    start = 0
    total = len(values) // columns
    largest = _MAX_CHUNK_ROWS
    while largest > 1 and largest * columns > max_parameters:
        largest //= 2
    while start < total:
        size = total - start
        if size > _EXACT_CHUNK_ROWS or size > largest:
            size = largest
            while size > total - start:
                size //= 2
        key = (head, columns, size)
        statement = _chunk_statements.get(key)
        if statement is None:
            marks = ",".join(["(" + ",".join("?" * columns) + ")"] * size)
            statement = _chunk_statements[key] = head.format(rows=marks) if "{rows}" in head else head + marks
        # A whole group's values in one slice (the writer holds the GIL while it binds them).
        connection.execute(statement, values if size == total else values[start * columns : (start + size) * columns])
        start += size


def used_bytes(connection: sqlite3.Connection) -> int:
    """The database's bytes in use: its pages less the free ones (the write-ahead log's frames included).

    What the store's rows take on disk, B-tree pages and all; deleting rows
    frees pages that later rows reuse, so it goes down as workers are deleted
    (the file itself does not shrink). One statement of three header reads: no table is scanned.
    """
    row = connection.execute(
        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()),"
        " (SELECT page_size FROM pragma_page_size())"
    ).fetchone()
    return int(row[0] * row[1])


def _is_full(error: sqlite3.Error) -> bool:
    """Whether a failed commit is a full disk (SQLite's ``SQLITE_FULL``, or an I/O error of a full filesystem)."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    return code == _SQLITE_FULL or "full" in str(error).lower()
