"""The remote's worker rows as this runtime's: re-addressed while they are decoded, unchanged ones not decoded again.

A front adds nothing to a worker row but its own ``runtime_id`` and ``kind``.
So the body of the remote's answer is decoded by the client's fast row
reader (:mod:`runtime_registry.client.rows`: the converter's rules, without
the converter for rows in the rendered shape) straight into the front's
model, and a worker's body that comes back byte for byte the same (the
common case: a worker read again while nothing happened to it) is not
decoded at all: the model built from those bytes the last time is returned
(decision 0202). A body that is not a worker raises ``MalformedResponse``,
which :mod:`.error_mapping` makes ``503 runtime_unavailable`` — never
passed on.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable

from registry_core.models import Worker, WorkerPage
from runtime_registry.client.rows import readdressed, worker_from_body, worker_page_from_body

__all__ = ["MAX_CACHED_BODY_BYTES", "WORKER_CACHE_SIZE", "RemoteRows"]

#: Worker bodies remembered per runtime, with the model each one became.
WORKER_CACHE_SIZE = 1024
#: Longer bodies (a worker with long intent texts) are decoded every time, so the
#: cache holds at most WORKER_CACHE_SIZE x 16 KiB of bodies.
MAX_CACHED_BODY_BYTES = 16 * 1024


class RemoteRows:
    """Worker rows of the remote, as rows of the runtime ``runtime_id`` of kind ``kind``."""

    def __init__(self, runtime_id: str, kind: str) -> None:
        self.runtime_id = runtime_id
        self.kind = kind
        self._cached_worker = functools.lru_cache(maxsize=WORKER_CACHE_SIZE)(self._decoded_worker)

    def worker(self, body: bytes) -> Worker:
        """The worker a ``GET .../workers/{id}`` body holds, as this runtime's.

        :raises runtime_registry.client.MalformedResponse: the body is not a worker.
        """
        if len(body) > MAX_CACHED_BODY_BYTES:
            return self._decoded_worker(body)
        return self._cached_worker(body)

    async def worker_of(self, body: Awaitable[bytes]) -> Worker:
        """:meth:`worker` of the body ``body`` resolves to."""
        return self.worker(await body)

    async def page_of(self, body: Awaitable[bytes]) -> WorkerPage:
        """The page a ``GET .../workers`` body holds, the page and every row as this runtime's.

        :raises runtime_registry.client.MalformedResponse: the body is not a page of workers.
        """
        return worker_page_from_body(await body, runtime_id=self.runtime_id, kind=self.kind)

    def readdressed(self, worker: Worker) -> Worker:
        """A model of the remote's worker (a created one) as this runtime's."""
        return readdressed(worker, self.runtime_id, self.kind)

    def _decoded_worker(self, body: bytes) -> Worker:
        return worker_from_body(body, runtime_id=self.runtime_id, kind=self.kind)
