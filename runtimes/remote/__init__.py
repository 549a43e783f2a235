"""The ``remote`` runtime: one runtime of another runtime-registry server, reached through the client.

- :mod:`.settings` — ``RemoteSettings`` (url, runtime_id, token_env, timeouts);
- :mod:`.error_mapping` — the remote's answers turned into the front's typed errors and faults;
- :mod:`.health` — what the front knows of the remote's health, as a status and diagnostics;
- :mod:`.runtime` — ``RemoteRuntime``: the calls, the summary refresh, waiting for events.

It knows nothing of pluggy (``runtime_registry.plugins.remote`` adapts it) and
speaks HTTP only through :mod:`runtime_registry.client`. Importing this
package (or its settings) loads no HTTP library: the plugin module is imported
at every start to register the kind, and httpx is needed only when a remote
runtime is configured.
"""

import importlib
from typing import Any

__all__ = ["RemoteRuntime", "RemoteSettings"]

_LAZY = {
    "RemoteRuntime": "runtime_registry.runtimes.remote.runtime",
    "RemoteSettings": "runtime_registry.runtimes.remote.settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
