"""Optional provider methods for operators' tools: store figures for ``/metrics`` and backups (decision 0221).

A kind that keeps a store may give its provider either or both of these
methods; the server finds them by name (``getattr``), so a kind without a
store writes nothing, and a kind written against an older ``registry_core``
keeps working. They are not pluggy hooks: each concerns one built provider,
is called by the server's own tools (the ``/metrics`` scrape, the ``backup``
command), never by other plugins, and a missing method means "not
applicable" — no hook result to merge.

- :meth:`StoreStatsProvider.store_stats` — called on every scrape of
  ``/metrics``, on the event loop: it must answer from memory, at once.
- :meth:`BackupProvider.backup_store` — called by ``runtime-registry
  backup`` on a provider that was built and **never started** (the server
  may be running in another process); it must make a consistent copy.

Both are checked here as :class:`typing.Protocol` classes, so a kind can
declare them (``class MyProvider(RuntimeProvider, StoreStatsProvider)``)
and let a type checker hold it to the signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["BackupProvider", "StoreStats", "StoreStatsProvider"]


@attrs.frozen
class StoreStats:
    """What a provider's store reports to ``/metrics`` when scraped; ``None``: the store has no such figure.

    :ivar commits: commits since the store opened (SQLite: the writer's
        group commits; PostgreSQL: decision transactions this replica ran).
        With ``commit_seconds``: ``runtime_registry_store_commit_seconds``
        (count and sum).
    :ivar commit_seconds: the time those commits took, in all.
    :ivar queue_depth: changes waiting for a commit now (SQLite: batches
        queued for the writer; PostgreSQL: decisions in flight):
        ``runtime_registry_store_queue_depth``.
    :ivar bytes_used: bytes the store counts against ``bytes_limit`` now
        (memory: stored content; SQLite: the database file and its log):
        ``runtime_registry_store_bytes``.
    :ivar bytes_limit: the most the store will hold (``max_store_bytes``):
        ``runtime_registry_store_bytes_limit``.
    """

    commits: int | None = None
    commit_seconds: float | None = None
    queue_depth: int | None = None
    bytes_used: int | None = None
    bytes_limit: int | None = None


@runtime_checkable
class StoreStatsProvider(Protocol):
    """A provider that reports its store's figures to ``/metrics`` (optional method)."""

    def store_stats(self) -> StoreStats | None:
        """The store's figures now, from memory and at once (called on the event loop at every scrape).

        ``None``: nothing to report now (the store is not open yet).
        Never raise: a scrape must not fail because one store cannot answer.
        """


@runtime_checkable
class BackupProvider(Protocol):
    """A provider that can copy its durable store for ``runtime-registry backup`` (optional method)."""

    async def backup_store(self, directory: Path) -> tuple[str, ...]:
        """Copy the store's durable state into ``directory`` (which exists and is empty of the names it writes).

        Called on a provider that was built and never started; the server may
        be serving from the same store in another process, and everything it
        acknowledged before the copy began must be in the copy.

        :return: the names of the files written (empty: the store keeps
            nothing durable, e.g. it lives in memory).
        :raises UnsupportedOperation: a store this command cannot copy (a
            database server's: the message says which tool to use).
        :raises Exception: the copy failed; ``str()`` is one line for the operator.
        """
