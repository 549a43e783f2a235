"""Helpers for tests of the SQLite store: providers over one data directory, restarted at will."""

from __future__ import annotations

import asyncio
from pathlib import Path

from registry_core import CreateWorkerRequest, InputRequest, RuntimeContext
from registry_core.models import ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings
from runtime_registry.runtimes.embedded.settings import Durability, StoreSettings
from tests.embedded.conftest import PROFILES

RUNTIME = "durable"


def durable_settings(durability: Durability = Durability.ACKNOWLEDGED, **overrides: object) -> EmbeddedSettings:
    """The test profiles over a SQLite store."""
    return EmbeddedSettings(**{"profiles": PROFILES, "store": StoreSettings(durability=durability), **overrides})  # type: ignore[arg-type]


async def started(
    data_dir: Path, settings: EmbeddedSettings | None = None, runtime_id: str = RUNTIME
) -> EmbeddedProvider:
    """A started provider whose store lives in ``data_dir`` (a second one on the same directory is a restart)."""
    provider = EmbeddedProvider(runtime_id, settings or durable_settings(), context=RuntimeContext(data_dir))
    await provider.start()
    return provider


def store_file(data_dir: Path, runtime_id: str = RUNTIME) -> Path:
    """Where the provider of ``runtime_id`` keeps its store by default."""
    return data_dir / "state" / f"{runtime_id}.db"


async def create(provider: EmbeddedProvider, profile: str | None = None, **fields: object) -> str:
    request = CreateWorkerRequest(profile=ProfileSelector(profile) if profile else None, **fields)  # type: ignore[arg-type]
    return (await provider.create_worker(request)).worker_id


async def send(provider: EmbeddedProvider, worker_id: str, content: str = "hello") -> int:
    """Send input and return its event id."""
    return (await provider.send_input(worker_id, InputRequest(content))).event_id  # type: ignore[arg-type]


async def until_idle(provider: EmbeddedProvider, worker_id: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while (await provider.get_worker(worker_id)).status != "idle":
            await asyncio.sleep(0.005)


async def all_events(provider: EmbeddedProvider, cursor: int | None = None):
    """Every retained event after ``cursor``, page by page."""
    events = []
    while True:
        page = await provider.read_events(cursor=cursor, limit=1000)
        events.extend(page.events)
        cursor = page.next_cursor
        if not page.has_more:
            return events, cursor


async def transcript(provider: EmbeddedProvider, worker_id: str, limit: int = 500):
    entries, start = [], 1
    while start is not None:
        page = await provider.read_transcript(worker_id, start=start, limit=limit)
        entries.extend(page.items)
        start = page.next_start
    return entries
