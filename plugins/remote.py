"""The ``remote`` runtime kind: one runtime of another runtime-registry server, as a registry provider.

Discovered through the ``remote`` entry point like any third-party kind. The
provider is a thin adapter over :class:`~runtime_registry.runtimes.remote.RemoteRuntime`:

- it implements every operation, then narrows its capabilities to the remote
  runtime's with ``offer_capabilities`` on every summary the remote sends, so an
  operation the remote does not do is ``405`` here too, answered by the registry
  without a round trip (decision 0096); its ``limits`` are the remote's;
- worker ids, transcripts, event ids and cursors pass through unchanged; the
  models are re-addressed to this runtime (``runtime_id``, ``kind``), as the
  registry requires of every provider; worker rows are read from the remote's
  bytes straight into this runtime's models, without the converter, and a
  worker whose bytes did not change is not decoded again (decision 0202);
- the busy rule, cursor expiry and every refusal are the remote's own;
- the remote's live-only events (``worker.output_delta``) are relayed to the
  front's streams in order; a front stream outlives a restart of the remote
  (decision 0171).

Only the settings type is imported here: the plugin is imported at every
start, and httpx and the client are needed only when a remote runtime is
configured (the provider imports them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from registry_core import (
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InputRequest,
    LiveSubscription,
    ProfileList,
    RuntimeKind,
    RuntimeProvider,
    RuntimeState,
    RuntimeSummary,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerFilter,
    WorkerPage,
    hookimpl,
)
from runtime_registry.runtimes.remote.settings import RemoteSettings

if TYPE_CHECKING:
    from runtime_registry.runtimes.remote.runtime import RemoteRuntime

__all__ = ["KIND", "RemoteProvider", "register_runtime_kinds"]

#: The kind name, as registered and as put in every worker row.
KIND = "remote"


class RemoteProvider(RuntimeProvider):
    """One ``remote`` runtime: the runtime ``settings.runtime_id`` of the server at ``settings.url``.

    :param environ: where ``settings.token_env`` is looked up (``os.environ`` if omitted).
    """

    kind = KIND
    # Every policy, narrowed to the remote runtime's own by offer_capabilities on each summary.
    busy_policies = ("reject", "enqueue", "interrupt")

    def __init__(self, runtime_id: str, settings: RemoteSettings, *, environ: dict[str, str] | None = None) -> None:
        super().__init__(runtime_id)
        from runtime_registry.runtimes.remote.rows import RemoteRows
        from runtime_registry.runtimes.remote.runtime import RemoteRuntime

        environ = os.environ if environ is None else environ  # type: ignore[assignment]
        token = environ.get(settings.token_env) if settings.token_env else None  # type: ignore[union-attr]
        missing = settings.token_env if settings.token_env and not token else None
        self.remote: RemoteRuntime = RemoteRuntime(
            settings, token=token, missing_token_variable=missing, on_summary=self._adopt
        )
        self._rows = RemoteRows(runtime_id, KIND)

    def _adopt(self, summary: RuntimeSummary) -> None:
        """Take the remote runtime's capabilities and limits as this runtime's."""
        self.offer_capabilities(summary.capabilities)
        self.limits = summary.limits

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Read the remote's summary; a remote that is down makes the runtime unavailable, not failed."""
        await self.remote.start()

    async def close(self) -> None:
        """Wake event waiters and close the connections."""
        await self.remote.close()

    async def describe(self) -> RuntimeState:
        """The remote runtime's status and diagnostics, read now; or why the remote cannot be used."""
        if not self.remote.closed:
            await self.remote.refresh()
        return self.remote.state()

    # -- workers -------------------------------------------------------------------------

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        """The remote's page; its opaque cursor passes through."""
        return await self.remote.call(
            lambda client, rid: self._rows.page_of(client.list_workers_body(rid, limit=limit, cursor=cursor))
        )

    async def filter_workers(self, worker_filter: WorkerFilter, *, limit: int, cursor: str | None) -> WorkerPage:
        """The remote's filtered page: the filter goes to the remote, which filters in its own store.

        The rows are checked here too: a remote server older than 0.4 ignores
        filter parameters it does not know, and a page of its rows that do
        not match would be a lie (decision 0200). Its cursors are positions,
        so dropping rows loses nothing: the page is just shorter.
        """
        page = await self.remote.call(
            lambda client, rid: self._rows.page_of(
                client.list_workers_body(
                    rid,
                    limit=limit,
                    cursor=cursor,
                    status=worker_filter.status,
                    profile=worker_filter.profile,
                    label=worker_filter.label,
                )
            )
        )
        rows = tuple(filter(worker_filter.matches, page.items))
        if len(rows) == len(page.items):
            return page
        return WorkerPage(self.runtime_id, rows, page.next_cursor, page.diagnostics)

    async def get_worker(self, worker_id: str) -> Worker:
        """The remote's worker (the same model again while its bytes do not change: decision 0202)."""
        return await self.remote.call(lambda client, rid: self._rows.worker_of(client.get_worker_body(rid, worker_id)))

    async def create_worker(self, request: CreateWorkerRequest) -> Worker:
        """A worker created on the remote; its id is the remote's."""
        return self._rows.readdressed(await self.remote.call(lambda client, rid: client.create_worker(rid, request)))

    async def send_input(self, worker_id: str, request: InputRequest) -> InputAccepted:
        """Input accepted by the remote (``WorkerBusy`` is the remote's verdict)."""
        accepted = await self.remote.call(lambda client, rid: client.send_input(rid, worker_id, request))
        return attrs.evolve(accepted, runtime_id=self.runtime_id)

    async def cancel_worker(self, worker_id: str) -> WorkerActionResult:
        """The remote's cancel."""
        result = await self.remote.call(lambda client, rid: client.cancel_worker(rid, worker_id))
        return attrs.evolve(result, runtime_id=self.runtime_id)

    async def cancel_worker_keeping_queue(self, worker_id: str) -> WorkerActionResult:
        """The remote's cancel with ``?queued=keep``."""
        result = await self.remote.call(lambda client, rid: client.cancel_worker(rid, worker_id, queued="keep"))
        return attrs.evolve(result, runtime_id=self.runtime_id)

    async def stop_worker(self, worker_id: str) -> WorkerActionResult:
        """The remote's stop."""
        result = await self.remote.call(lambda client, rid: client.stop_worker(rid, worker_id))
        return attrs.evolve(result, runtime_id=self.runtime_id)

    async def delete_worker(self, worker_id: str) -> WorkerActionResult:
        """The remote's delete."""
        result = await self.remote.call(lambda client, rid: client.delete_worker(rid, worker_id))
        return attrs.evolve(result, runtime_id=self.runtime_id)

    async def list_profiles(self) -> ProfileList:
        """The remote runtime's profiles (a remote without the route narrows this capability away)."""
        profiles = await self.remote.call(lambda client, rid: client.list_profiles(rid))
        return ProfileList(self.runtime_id, profiles.items)

    async def read_transcript(self, worker_id: str, *, start: int, limit: int) -> TranscriptPage:
        """The remote's transcript page, unchanged but for the runtime id."""
        page = await self.remote.call(
            lambda client, rid: client.read_transcript(rid, worker_id, start=start, limit=limit)
        )
        return attrs.evolve(page, runtime_id=self.runtime_id)

    # -- events --------------------------------------------------------------------------

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        """The remote's events after ``cursor``: ids and cursors are the remote's; ``CursorExpired`` is its verdict."""
        page = await self.remote.call(
            lambda client, rid: client.read_events(rid, cursor=cursor, limit=limit, worker_id=worker_id)
        )
        if page.events:
            self.remote.saw_event(page.events[-1].id)
            # Live events that go before these stored ones must be queued first (the relay lags).
            await self.remote.live.caught_up(page.events[-1].id)
        return attrs.evolve(page, runtime_id=self.runtime_id)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Wait on the remote's event stream for an event after ``cursor``."""
        return await self.remote.wait_for_events(cursor=cursor, timeout=timeout)

    def open_live_events(self) -> LiveSubscription | None:
        """The remote's live-only events (``worker.output_delta``), relayed from its event stream."""
        return self.remote.open_live_events()


@hookimpl
def register_runtime_kinds(register: Callable[[RuntimeKind], None]) -> None:
    """Register the ``remote`` runtime kind."""
    register(
        RuntimeKind(
            name=KIND,
            description="One runtime of another runtime-registry server, proxied over HTTP",
            factory=RemoteProvider,
            settings_type=RemoteSettings,
        )
    )
