"""The embedded worker runtime: an in-process runtime over a store (memory, SQLite, ...).

Workers with the tools their profile grants, builtin and operator-defined
profiles (an unknown one is refused), turns run by turn engines as asyncio tasks,
bounded transcripts and a bounded event log — built on the public blocks of
:mod:`registry_core.blocks` (roster, transcript, event log). Where workers,
transcripts and events live, and every decision that must be unique, is the
store's business (the seam, :mod:`~runtime_registry.runtimes.embedded.store`;
the SQLite store is imported only when used).
It knows nothing of pluggy or HTTP: ``runtime_registry.plugins.embedded`` adapts it to the
registry.
"""

from registry_core.blocks import EventLog, EventSlice, clock_start_id
from runtime_registry.runtimes.embedded.memory_store import LocalStore, MemoryStore
from runtime_registry.runtimes.embedded.profiles import BUILTIN_PROFILES, ProfileBook
from runtime_registry.runtimes.embedded.runtime import (
    DEFAULT_INTENT,
    WORKER_ID_PREFIX,
    ActionOutcome,
    CreatedWorker,
    EmbeddedRuntime,
    InputOutcome,
    TranscriptSlice,
)
from runtime_registry.runtimes.embedded.settings import (
    Durability,
    EmbeddedSettings,
    ProfileBase,
    ProfileSettings,
    StoreBackend,
    StoreSettings,
)
from runtime_registry.runtimes.embedded.store import StoreUnusable, WorkerStore
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STATUSES, STOPPED, WorkerRecord

__all__ = [
    "BUILTIN_PROFILES",
    "BUSY",
    "DEFAULT_INTENT",
    "IDLE",
    "STATUSES",
    "STOPPED",
    "WORKER_ID_PREFIX",
    "ActionOutcome",
    "CreatedWorker",
    "Durability",
    "EmbeddedRuntime",
    "EmbeddedSettings",
    "EventLog",
    "EventSlice",
    "InputOutcome",
    "LocalStore",
    "MemoryStore",
    "ProfileBase",
    "ProfileBook",
    "ProfileSettings",
    "StoreBackend",
    "StoreSettings",
    "StoreUnusable",
    "TranscriptSlice",
    "WorkerRecord",
    "WorkerStore",
    "clock_start_id",
]


def __getattr__(name: str) -> object:
    # Profile and Resolution: deprecated since 0.4, until 1.0 (decision 0161); the module warns.
    if name in ("Profile", "Resolution"):
        from runtime_registry.runtimes.embedded import profiles

        return getattr(profiles, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
