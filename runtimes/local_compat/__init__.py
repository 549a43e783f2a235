"""The local compatibility source: a read-only projection of the yoi pod store.

It reads ``{data_dir}/pods/*/metadata.json`` for one workspace and shows each
worker as an opaque id, a sanitized label, a status and role/profile hints —
never a path, socket, session, callback or the raw manifest. It knows nothing
of pluggy or HTTP: ``plugins/local_compat.py`` makes it a runtime provider.
See ``docs/local-compat.md``.
"""

import importlib

from runtime_registry.runtimes.local_compat.settings import LocalCompatSettings

# The settings type is needed whenever the plugin registers the kind, which is
# at every start, also when no local-compat runtime is configured; the reader
# itself (most of the package's import time) loads on first use of these names (PEP 562).
_LAZY = {
    "LocalCompatSource": "runtime_registry.runtimes.local_compat.source",
    "SourcePage": "runtime_registry.runtimes.local_compat.source",
    "SourceHealth": "runtime_registry.runtimes.local_compat.source",
    "LocalWorker": "runtime_registry.runtimes.local_compat.metadata",
    "ACTIVE": "runtime_registry.runtimes.local_compat.metadata",
    "ACTIVE_PENDING": "runtime_registry.runtimes.local_compat.metadata",
    "INACTIVE": "runtime_registry.runtimes.local_compat.metadata",
    "UNKNOWN": "runtime_registry.runtimes.local_compat.metadata",
    "worker_id_for": "runtime_registry.runtimes.local_compat.worker_ids",
}


def __getattr__(name: str) -> object:
    """Import the module defining ``name`` on first use, then keep the value here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "LocalCompatSource",
    "LocalCompatSettings",
    "LocalWorker",
    "SourcePage",
    "SourceHealth",
    "worker_id_for",
    "ACTIVE",
    "ACTIVE_PENDING",
    "INACTIVE",
    "UNKNOWN",
]
