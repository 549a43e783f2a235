"""The local compatibility source: a read-only, paged view of the pod store.

:class:`LocalCompatSource` answers three questions — is the store usable, what
is on this page, who is this worker — with blocking, bounded file-system work.
It knows nothing of pluggy or HTTP; ``plugins/local_compat.py`` adapts it to a
registry provider and keeps its blocking calls off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from registry_core.errors import RuntimeUnavailable, UnknownWorker
from registry_core.models import Diagnostic, Severity
from runtime_registry.runtimes.local_compat.cursor import decode_cursor, encode_cursor, separator_between
from runtime_registry.runtimes.local_compat.metadata import LocalWorker
from runtime_registry.runtimes.local_compat.pod_store import PodStore, StoreUnreadable
from runtime_registry.runtimes.local_compat.settings import LocalCompatSettings
from runtime_registry.runtimes.local_compat.skips import SkipReason, SkipTally
from runtime_registry.runtimes.local_compat.worker_ids import looks_like_a_local_worker_id

__all__ = ["LocalCompatSource", "SourcePage", "SourceHealth"]


@attrs.frozen
class SourcePage:
    """One page of listable workers; ``next_cursor`` is ``None`` at the end."""

    items: tuple[LocalWorker, ...]
    next_cursor: str | None
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class SourceHealth:
    """Whether the store can be listed (``usable``) and any note about it."""

    usable: bool
    diagnostics: tuple[Diagnostic, ...] = ()


class LocalCompatSource:
    """Reads ``{data_dir}/pods/*/metadata.json`` of one workspace; never writes, starts or signals anything.

    Not thread-safe: call it from one thread at a time.
    """

    def __init__(self, settings: LocalCompatSettings) -> None:
        self.settings = settings
        self._store = PodStore(settings)

    def health(self) -> SourceHealth:
        """Whether the data directory can be read now."""
        problem = self._store.check()
        if problem is None:
            return SourceHealth(usable=True)
        return SourceHealth(usable=problem.severity is not Severity.ERROR, diagnostics=(problem,))

    def page(self, *, limit: int, cursor: str | None, where: Callable[[LocalWorker], bool] | None = None) -> SourcePage:
        """At most ``limit`` workers after ``cursor``, examining at most ``scan_budget`` entries.

        With ``where``, only the workers it is true of (a list filter): the
        entries it rejects count against the budget like skipped ones, and the
        cursor is the same, so it stays valid under another filter.

        A bad cursor is ``InvalidRequest``. An unreadable store is an empty,
        final page with an ``error`` diagnostic (the rest of the API keeps working).
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = decode_cursor(cursor) if cursor is not None else None
        try:
            listing = self._store.listing()
        except StoreUnreadable as problem:
            return SourcePage(items=(), next_cursor=None, diagnostics=(problem.diagnostic,))
        position = listing.position_after(after) if after is not None else 0
        budget = self.settings.scan_budget
        items: list[LocalWorker] = []
        tally = SkipTally()
        examined = 0
        while position < len(listing.ids) and len(items) < limit and examined < budget:
            result = self._store.examine(listing, position)
            examined += 1
            position += 1
            if isinstance(result, SkipReason):
                tally.add(result)
            elif where is None or where(result):
                items.append(result)
        diagnostics = [*listing.diagnostics, *tally.diagnostics()]
        next_cursor = None
        if position < len(listing.ids) and examined:
            next_cursor = encode_cursor(separator_between(listing.ids[position - 1], listing.ids[position]))
            if len(items) < limit:
                diagnostics.append(
                    Diagnostic.info(
                        "local_scan_budget_reached",
                        f"examined {examined} pod entries (scan_budget) before the page filled; continue with next_cursor",
                    )
                )
        return SourcePage(items=tuple(items), next_cursor=next_cursor, diagnostics=tuple(diagnostics))

    def find(self, worker_id: str) -> LocalWorker:
        """The listable worker with this id; ``UnknownWorker`` otherwise.

        ``RuntimeUnavailable`` when the store cannot be read (the worker may
        exist; a retry may find it).
        """
        if not looks_like_a_local_worker_id(worker_id):
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        try:
            listing = self._store.listing()
        except StoreUnreadable as problem:
            raise RuntimeUnavailable(problem.diagnostic.message) from None
        position = listing.index.get(worker_id)
        if position is None:
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        result = self._store.examine(listing, position)
        if isinstance(result, SkipReason):
            # Not listed, so not shown: the reason stays in list diagnostics.
            raise UnknownWorker("no such worker in this runtime", worker_id=worker_id)
        return result

    @property
    def cached_results(self) -> int:
        """How many parsed metadata files are cached."""
        return self._store.cached_results
