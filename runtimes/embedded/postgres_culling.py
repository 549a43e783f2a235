"""Culling on PostgreSQL: one sweep is one transaction of conditional updates (decision 0220).

Every replica sweeps; the statements make sure exactly one acts on each
worker. The rows due are read through the partial indexes on
``(status_since) WHERE status = ...`` (schema version 2), oldest first, so a
sweep reads the due rows and nothing else. ``FOR UPDATE SKIP LOCKED`` passes
over rows another transaction holds (another replica's sweep, or an input
being accepted); under ``READ COMMITTED`` a row locked after it changed is
checked again against the ``WHERE``, so a worker that became busy (or was
stopped or deleted by a client) between the sweep's look and its act is left
alone. The events are appended in the same transaction and numbered after
its commit, in commit order (decision 0230), and every replica replays them
into its cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry_core.event_contract import WORKER_DELETED, WORKER_STOPPED
from runtime_registry.runtimes.embedded.culling import EXPIRED, IDLE_REASON, SWEEP_LIMIT, CullPolicy, CullResult

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.postgres_store import PgStore

__all__ = ["cull"]

# The cutoff is the database's clock, the same clock the trigger stamps
# status_since with: replicas with skewed clocks agree on every deadline.
_STOP_IDLE = """
WITH due AS (
    SELECT serial FROM workers
    WHERE status = 'idle' AND status_since <= clock_timestamp() - make_interval(secs => $1)
    ORDER BY status_since LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE workers w SET status = 'stopped' FROM due
WHERE w.serial = due.serial AND w.status = 'idle'
RETURNING w.worker_id, w.serial
"""

_DELETE_EXPIRED = """
WITH due AS (
    SELECT serial FROM workers
    WHERE status = 'stopped' AND status_since <= clock_timestamp() - make_interval(secs => $1)
    ORDER BY status_since LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM workers w USING due
WHERE w.serial = due.serial AND w.status = 'stopped'
RETURNING w.worker_id, w.serial
"""


async def cull(db: PgStore, policy: CullPolicy, *, limit: int = SWEEP_LIMIT) -> CullResult:
    """Stop the idle workers and delete the stopped ones past their allowance, in one transaction.

    :raises StoreUnreachable: the database cannot be reached (nothing changed).
    """

    async def work(connection: Any) -> CullResult:
        stopped: list[Any] = []
        deleted: list[Any] = []
        if policy.idle_seconds is not None:
            stopped = sorted(await connection.fetch(_STOP_IDLE, float(policy.idle_seconds), limit), key=_serial)
        if policy.stopped_seconds is not None:
            deleted = sorted(await connection.fetch(_DELETE_EXPIRED, float(policy.stopped_seconds), limit), key=_serial)
            if deleted:
                await connection.execute("UPDATE counters SET value = value - $1 WHERE name = 'workers'", len(deleted))
        events: list[tuple[str, str | None, dict[str, Any]]] = [
            (WORKER_STOPPED, row[0], {"reason": IDLE_REASON}) for row in stopped
        ]
        events.extend((WORKER_DELETED, row[0], {"reason": EXPIRED}) for row in deleted)
        if events:
            # Last, as every decision appends its events (numbered after the commit: decision 0230).
            await db._append(connection, events)
        return CullResult(tuple(row[0] for row in stopped), tuple(row[0] for row in deleted))

    # The store's own transaction runner (outages become store_unreachable):
    # this module is the PostgreSQL store's, kept apart as culling's own.
    result: CullResult = await db._run(work)
    return result


def _serial(row: Any) -> int:
    return int(row[1])
