"""What an operator configures for a ``local-compat`` runtime.

Example (in the registry's config file)::

    [[runtimes]]
    id = "local-worker-runtime"
    kind = "local-compat"
    display_name = "Local workers (read-only)"

    [runtimes.settings]
    data_dir = "/var/lib/yoi"
    workspace_root = "/srv/workspaces/alpha"
"""

from __future__ import annotations

from typing import Annotated

import attrs
from annotated_types import Interval, MinLen

from runtime_registry.runtimes.local_compat.workspace import workspace_parts

__all__ = ["LocalCompatSettings"]


@attrs.frozen
class LocalCompatSettings:
    """The ``settings`` table of a ``local-compat`` runtime.

    :param data_dir: the pod store's data directory (absolute); workers are read
        from ``{data_dir}/pods/*/metadata.json``. Never shown to clients.
    :param workspace_root: the workspace whose workers are shown (absolute, no
        ``..``); metadata of other workspaces, or without one, is skipped.
        Never shown to clients.
    :param worker_page_max: the largest worker page a client may ask for.
    :param scan_budget: the most pod entries one request examines (stat, open,
        parse) while filling a page; a page cut short by it still carries a
        ``next_cursor``.
    :param max_metadata_bytes: a ``metadata.json`` larger than this is skipped
        unread.
    :param max_pod_entries: the most entries of the ``pods`` directory
        considered; beyond it the rest are ignored with a diagnostic.
    :param cache_entries: parsed metadata files kept in memory (0 disables the
        cache).
    """

    data_dir: Annotated[str, MinLen(1)]
    workspace_root: Annotated[str, MinLen(1)]
    worker_page_max: Annotated[int, Interval(ge=1, le=1000)] = 200
    scan_budget: Annotated[int, Interval(ge=1, le=100_000)] = 1000
    max_metadata_bytes: Annotated[int, Interval(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    max_pod_entries: Annotated[int, Interval(ge=1, le=10_000_000)] = 100_000
    cache_entries: Annotated[int, Interval(ge=0, le=10_000_000)] = 20_000

    def __attrs_post_init__(self) -> None:
        # Relative paths would depend on the server's working directory, and a
        # '..' makes "the same workspace" ambiguous: refuse both at startup.
        if "\0" in self.data_dir or not self.data_dir.startswith("/"):
            raise ValueError("data_dir: must be an absolute path without NUL characters")
        if workspace_parts(self.workspace_root) is None:
            raise ValueError("workspace_root: must be an absolute path without '..' or NUL characters")
