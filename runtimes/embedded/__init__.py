"""The embedded worker runtime: an in-process runtime over a store (SQLite or memory).

Workers without tools, builtin and operator-defined profiles with a default
fallback, turns as asyncio tasks, bounded transcripts and a bounded event log.
Where workers, transcripts and events live is the store's business
(:mod:`~runtime_registry.runtimes.embedded.store`; the SQLite store is
imported only when used).
It knows nothing of pluggy or HTTP: ``runtime_registry.plugins.embedded`` adapts it to the
registry.
"""

from runtime_registry.runtimes.embedded.events import EventLog, EventSlice, clock_start_id
from runtime_registry.runtimes.embedded.profiles import BUILTIN_PROFILES, Profile, ProfileBook, Resolution
from runtime_registry.runtimes.embedded.runtime import (
    DEFAULT_INTENT,
    WORKER_ID_PREFIX,
    CreatedWorker,
    EmbeddedRuntime,
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
from runtime_registry.runtimes.embedded.store import MemoryStore, StoreUnusable, WorkerStore
from runtime_registry.runtimes.embedded.workers import BUSY, IDLE, STATUSES, STOPPED, WorkerRecord

__all__ = [
    "BUILTIN_PROFILES",
    "BUSY",
    "DEFAULT_INTENT",
    "IDLE",
    "STATUSES",
    "STOPPED",
    "WORKER_ID_PREFIX",
    "CreatedWorker",
    "Durability",
    "EmbeddedRuntime",
    "EmbeddedSettings",
    "EventLog",
    "EventSlice",
    "MemoryStore",
    "Profile",
    "ProfileBase",
    "ProfileBook",
    "ProfileSettings",
    "Resolution",
    "StoreBackend",
    "StoreSettings",
    "StoreUnusable",
    "TranscriptSlice",
    "WorkerRecord",
    "WorkerStore",
    "clock_start_id",
]
