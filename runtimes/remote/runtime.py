"""``RemoteRuntime``: one runtime of another runtime-registry server, and what the front knows of it.

Every exchange goes through :meth:`RemoteRuntime.call`: the client's typed
errors become the front's (:mod:`.error_mapping`) and each outcome updates the
runtime's health (:mod:`.health`). The remote runtime's summary — status,
capabilities, limits — is read at start, every ``refresh_seconds`` in the
background (more often while the remote is unreachable, so the runtime recovers
by itself), on every ``describe``, and at once when the remote answers
``unsupported_operation`` (its capabilities changed). Each summary read is
handed to ``on_summary``, which the provider uses to narrow its capabilities
and adopt the remote's limits.

Starting never fails because the remote is down: the runtime then starts
``unavailable`` and calls answer ``503`` until the remote answers.

Waiting for events opens the remote's event stream from the cursor and
returns at the first event (or message that is not a heartbeat): one
connection per waiting front stream, from a pool of its own (``max_streams``)
so waiting streams never starve calls (decision 0098). While the remote is out
of reach (a restart), the wait keeps trying until its timeout, for up to
``STREAM_RESUME_SECONDS`` in a row: a front stream then resumes from the last
id it sent, and its client sees heartbeats, not an error (decision 0171).
Live-only events come through :class:`.live_relay.LiveRelay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from registry_core.errors import RegistryError, RuntimeUnavailable, UnsupportedOperation
from registry_core.live import LiveSubscription
from registry_core.models import Diagnostic, RuntimeState, RuntimeStatus, RuntimeSummary
from runtime_registry.client import RegistryClient
from runtime_registry.client.errors import ConnectionFailed, ServerBusy
from runtime_registry.runtimes.remote.error_mapping import scrub, token_missing, translate
from runtime_registry.runtimes.remote.health import RemoteHealth
from runtime_registry.runtimes.remote.live_relay import LiveRelay
from runtime_registry.runtimes.remote.settings import RemoteSettings

__all__ = ["STREAM_RESUME_SECONDS", "UNREACHABLE_RETRY_SECONDS", "RemoteRuntime"]

log = logging.getLogger("runtime_registry.runtimes.remote")

T = TypeVar("T")

#: The longest pause between two summary reads while the remote is unreachable.
UNREACHABLE_RETRY_SECONDS = 2.0
#: How long front streams wait for a remote that is out of reach (a restart)
#: before their next read reports it (an ``error`` event): long enough for a
#: restart, short enough that a remote that is gone is not hidden for long.
STREAM_RESUME_SECONDS = 30.0
#: The longest pause between two attempts of a waiting stream to reach the remote.
_STREAM_RETRY_SECONDS = 1.0

_SCRUBBED_DIAGNOSTIC = "the remote runtime reported a problem"


def _quiet_request_log() -> None:
    """Keep the remote's URL out of the log above debug.

    httpx logs every request, URL included, at INFO on its ``httpx`` logger.
    Unless the operator set that logger's level themselves, it is raised to
    WARNING; this runtime logs its own URL-free lines.
    """
    requests = logging.getLogger("httpx")
    if requests.level == logging.NOTSET:
        requests.setLevel(logging.WARNING)


class RemoteRuntime:
    """The remote runtime ``settings.runtime_id`` of the server at ``settings.url``.

    :param token: the remote's bearer token (``None``: it needs none).
    :param missing_token_variable: the ``token_env`` name when that variable is
        not set: the runtime then stays unavailable and never calls the remote.
    :param on_summary: called with each summary the remote sends.
    """

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        token: str | None,
        missing_token_variable: str | None = None,
        on_summary: Callable[[RuntimeSummary], None] = lambda _summary: None,
    ) -> None:
        self.settings = settings
        self.remote_runtime_id = settings.runtime_id
        self.health = RemoteHealth()
        self.summary: RuntimeSummary | None = None
        self._token = token
        self._missing_token_variable = missing_token_variable
        self._on_summary = on_summary
        parts = urlsplit(settings.url)
        #: What must never reach a client: the URL, its host and port, the token.
        self.secrets: tuple[str, ...] = tuple(
            secret for secret in (settings.url, parts.netloc, parts.hostname, token) if secret
        )
        self._calls: RegistryClient | None = None
        self._streams: RegistryClient | None = None
        self._closed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        # Since when waiting streams have not reached the remote (None: they have).
        self._streams_down_since: float | None = None
        #: The newest event id seen from the remote (a live relay's fresh start).
        self.newest_event_id: int | None = None
        self.live = LiveRelay(
            lambda: self._streams,
            self.remote_runtime_id,
            resume_point=lambda: self.newest_event_id,
            spawn=self._spawn,
            idle_timeout=settings.timeout_seconds + 60.0,
        )

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection pools and read the remote's summary; never raises for a remote that is down."""
        if self._missing_token_variable is not None:
            self.health.failed(token_missing(self._missing_token_variable))
            log.error(
                "remote runtime: the environment variable %s (token_env) is not set", self._missing_token_variable
            )
            return
        _quiet_request_log()
        log.debug("remote runtime fronts %r at %s", self.remote_runtime_id, self.settings.url)
        timeout = self.settings.timeout_seconds
        self._calls = RegistryClient(
            self.settings.url, token=self._token, timeout=timeout, max_connections=self.settings.max_connections
        )
        self._streams = RegistryClient(
            self.settings.url, token=self._token, timeout=timeout, max_connections=self.settings.max_streams
        )
        await self.refresh()
        self._spawn(self._refresh_periodically())

    async def close(self) -> None:
        """Stop refreshing, wake every event waiter, close the connections."""
        self._closed.set()
        self.live.close()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        for client in (self._calls, self._streams):
            if client is not None:
                await client.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    # -- the summary -------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the remote runtime's summary now; a failure is recorded in ``health``, never raised."""
        with contextlib.suppress(RegistryError):
            await self._read_summary()

    def state(self) -> RuntimeState:
        """The runtime's status and diagnostics now."""
        if self.closed:
            return RuntimeState(RuntimeStatus.STOPPED)
        return self.health.state()

    async def _read_summary(self) -> RuntimeSummary:
        summary = await self._exchange(lambda client: client.get_runtime(self.remote_runtime_id))
        diagnostics = tuple(
            Diagnostic(d.code, d.severity, scrub(d.message, self.secrets, _SCRUBBED_DIAGNOSTIC))
            for d in summary.diagnostics
        )
        self.summary = summary
        self.health.summarised(RuntimeState(summary.status, diagnostics))
        self._on_summary(summary)
        return summary

    async def _refresh_periodically(self) -> None:
        while not self.closed:
            interval = self.settings.refresh_seconds
            if self.health.fault is not None or self.summary is None:
                interval = min(interval, UNREACHABLE_RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), interval)
                return
            await self.refresh()

    # -- calls ---------------------------------------------------------------------------

    async def call(self, operation: Callable[[RegistryClient, str], Awaitable[T]]) -> T:
        """``operation(client, remote_runtime_id)``, its errors made the front's.

        Before the first summary arrived (the remote was down at start), the
        summary is read first: capabilities and limits must be the remote's
        before anything is proxied.
        """
        if self.summary is None:
            await self._read_summary()
        return await self._exchange(lambda client: operation(client, self.remote_runtime_id))

    async def _exchange(self, operation: Callable[[RegistryClient], Awaitable[T]]) -> T:
        client = self._calls
        if client is None:
            fault = self.health.fault
            raise RuntimeUnavailable(
                fault.diagnostic.message if fault is not None else "the remote runtime is not started"
            )
        try:
            result = await operation(client)
        except RegistryError as exc:
            error, fault = translate(exc, self.secrets)
            if fault is not None:
                if self.health.fault != fault:
                    log.warning("remote runtime %r: %s", self.remote_runtime_id, fault.diagnostic.code)
                self.health.failed(fault)
            else:
                self.health.answered()
            if isinstance(error, UnsupportedOperation):
                # The remote does less than its last summary said: learn what, at once.
                self._spawn(self.refresh())
            raise error from None
        self.health.answered()
        self._streams_down_since = None
        return result

    # -- events ----------------------------------------------------------------------------

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        """Whether the remote has an event after ``cursor`` within ``timeout`` s; ``False`` at once after close.

        Anything but an event or a quiet timeout — the remote refusing the
        cursor, failing, being unreachable — answers ``True``: the caller's next
        ``read_events`` then raises the typed error, so nothing is hidden.
        """
        client = self._streams
        if self.closed:
            return False
        if client is None:
            return True
        first = asyncio.ensure_future(self._first_event(client, cursor, timeout))
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait((first, closing), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (first, closing):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        return first in done and not first.cancelled()

    async def _first_event(self, client: RegistryClient, cursor: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.05
        while True:
            subscription = client.subscribe(
                self.remote_runtime_id,
                cursor=cursor,
                reconnect_attempts=0,
                idle_timeout=timeout + self.settings.timeout_seconds,
            )
            try:
                async with subscription:
                    async for event in subscription:
                        self._streams_down_since = None
                        self.saw_event(event.id)
                        return
            except (ConnectionFailed, ServerBusy):
                # Out of reach, or the stream dropped (a restart): try again,
                # for a while, rather than end the front stream with an error.
                now = loop.time()
                if self._streams_down_since is None:
                    self._streams_down_since = now
                if now - self._streams_down_since >= STREAM_RESUME_SECONDS:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, _STREAM_RETRY_SECONDS)
            except RegistryError:
                return  # the remote refused: the caller's read raises the typed error

    def saw_event(self, event_id: int) -> None:
        """Note an event id the remote sent (the newest is where a live relay starts)."""
        if self.newest_event_id is None or event_id > self.newest_event_id:
            self.newest_event_id = event_id

    def open_live_events(self) -> LiveSubscription | None:
        """A subscription to the remote's live-only events, or ``None`` once closed."""
        if self.closed or self._streams is None:
            return None
        return self.live.subscribe()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
