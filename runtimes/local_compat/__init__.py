"""The local compatibility source: a read-only projection of the yoi pod store.

It reads ``{data_dir}/pods/*/metadata.json`` for one workspace and shows each
worker as an opaque id, a sanitized label, a status and role/profile hints —
never a path, socket, session, callback or the raw manifest. It knows nothing
of pluggy or HTTP: ``plugins/local_compat.py`` makes it a runtime provider.
See ``docs/local-compat.md``.
"""

from runtimes.local_compat.metadata import ACTIVE, ACTIVE_PENDING, INACTIVE, UNKNOWN, LocalWorker
from runtimes.local_compat.settings import LocalCompatSettings
from runtimes.local_compat.source import LocalCompatSource, SourceHealth, SourcePage
from runtimes.local_compat.worker_ids import worker_id_for

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
