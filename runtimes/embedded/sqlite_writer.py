"""The SQLite store's one writer thread: it commits queued batches in groups.

The event loop seals a :class:`Batch` of changes per loop step and hands it
over; the writer takes *every* batch waiting when it is free and commits them
in one transaction. Under load that is group commit: one fsync for many
requests, without any request waiting for a timer (decision 0085). In
``batched`` mode the writer also waits until ``interval`` has passed since
its last commit, trading a bounded delay for fewer commits.

A failed commit (disk full, read-only file, I/O error) rolls back, keeps the
batches in order, reports the failure to the loop, and is retried every
``retry_seconds`` until it succeeds: nothing accepted is dropped, and the
store recovers by itself when space returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.sqlite_store import StoredTranscript
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = ["Batch", "GroupWriter"]

log = logging.getLogger("runtime_registry.runtimes.embedded.store")


class Batch:
    """Changes made in one step of the event loop, in the order they happened (as SQL rows)."""

    __slots__ = (
        "entries",
        "events",
        "last_event_id",
        "next_serial",
        "shown",
        "size",
        "transcripts",
        "waiter",
        "worker_states",
        "workers_added",
        "workers_removed",
    )

    def __init__(self) -> None:
        self.workers_added: list[tuple[object, ...]] = []
        self.workers_removed: list[int] = []
        self.entries: list[tuple[object, ...]] = []
        self.events: list[tuple[object, ...]] = []
        self.worker_states: list[tuple[object, ...]] = []
        self.next_serial: int | None = None
        self.last_event_id: int | None = None
        #: (transcript, sequence) pairs: entries up to ``sequence`` are committed with this batch.
        self.transcripts: list[tuple[StoredTranscript, int]] = []
        #: (record, its state as sealed): what readers may see of it once this batch is committed.
        self.shown: list[tuple[WorkerRecord, tuple[str, int, int]]] = []
        #: The loop's future that acknowledged requests await (``None``: nobody waits).
        self.waiter: asyncio.Future[None] | None = None
        #: How many changes the batch holds.
        self.size = 0


class GroupWriter:
    """The thread that owns the write connection.

    :param connection: the write connection (``check_same_thread=False``, autocommit).
    :param retention: events kept; older ones are deleted in the same transactions.
    :param interval: the least time between two commits (``0``: commit as soon as there is work).
    :param committed: called in the writer thread with the batches of each successful commit.
    :param failed: called in the writer thread with the batches of a failed commit and the error.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        retention: int,
        interval: float,
        committed: Callable[[list[Batch]], None],
        failed: Callable[[list[Batch], sqlite3.Error], None],
        retry_seconds: float = 0.5,
    ) -> None:
        self._connection = connection
        self._retention = retention
        self._interval = interval
        self._committed = committed
        self._failed = failed
        self._retry_seconds = retry_seconds
        self._queue: list[Batch] = []
        self._statements: list[str] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="embedded-store-writer", daemon=True)
        #: Batches that could not be committed when the writer stopped (lost with the process).
        self.abandoned = 0
        #: Successful commits so far, and the seconds they took in all (``/metrics``: commit latency).
        self.commits = 0
        self.commit_seconds = 0.0

    @property
    def queue_depth(self) -> int:
        """Batches waiting for the next commit (read from any thread: a length, no lock needed)."""
        return len(self._queue)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        """Queue a sealed batch (any thread)."""
        with self._condition:
            self._queue.append(batch)
            self._condition.notify()

    def stop(self, timeout: float) -> bool:
        """Commit what is queued, then end the thread; wait at most ``timeout`` seconds. Returns whether it ended."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout)
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

    def _run(self) -> None:
        pending: list[Batch] = []
        last_commit = 0.0
        retry_at = 0.0
        while True:
            with self._condition:
                while (
                    not self._stopping
                    and not self._statements
                    and (not (self._queue or pending) or time.monotonic() < retry_at)
                ):
                    self._condition.wait(
                        None if not (self._queue or pending) else max(0.0, retry_at - time.monotonic())
                    )
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
                try:
                    self._commit(pending)
                    self.commit_seconds += time.monotonic() - last_commit
                    self.commits += 1
                except sqlite3.Error as error:
                    self._failed(pending, error)
                    if stopping:
                        self.abandoned = len(pending)
                        log.error(
                            "embedded store: %d batches of changes could not be written at shutdown (%s)",
                            len(pending),
                            error,
                        )
                        return
                    retry_at = time.monotonic() + self._retry_seconds
                    continue
                done, pending = pending, []
                retry_at = 0.0
                self._committed(done)
            if stopping:
                with self._condition:
                    if not self._queue:
                        return

    def _commit(self, batches: list[Batch]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            next_serial = last_event_id = None
            for batch in batches:
                if batch.workers_added:
                    connection.executemany(
                        "INSERT INTO workers (serial, worker_id, label, intent, profile, created_us, status,"
                        " turn_number, entries, tools) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        batch.workers_added,
                    )
                if batch.entries:
                    connection.executemany(
                        "INSERT INTO entries (serial, sequence, role, content, event_id, created_us)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        batch.entries,
                    )
                if batch.events:
                    connection.executemany(
                        "INSERT INTO events (id, type, worker_id, data, created_us) VALUES (?, ?, ?, ?, ?)",
                        batch.events,
                    )
                if batch.worker_states:
                    connection.executemany(
                        "UPDATE workers SET status = ?, turn_number = ?, entries = ? WHERE serial = ?",
                        batch.worker_states,
                    )
                for serial in batch.workers_removed:
                    connection.execute("DELETE FROM workers WHERE serial = ?", (serial,))
                    connection.execute("DELETE FROM entries WHERE serial = ?", (serial,))
                if batch.next_serial is not None:
                    next_serial = batch.next_serial
                if batch.last_event_id is not None:
                    last_event_id = batch.last_event_id
            if next_serial is not None:
                connection.execute("UPDATE meta SET value = ? WHERE key = 'next_serial'", (next_serial,))
            if last_event_id is not None:
                connection.execute("UPDATE meta SET value = ? WHERE key = 'last_event_id'", (last_event_id,))
                connection.execute("DELETE FROM events WHERE id <= ?", (last_event_id - self._retention,))
            connection.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled the transaction back itself (a full disk does).
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
