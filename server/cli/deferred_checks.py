"""``serve``'s engine checks that need heavy imports, run once the server listens (decision 0172).

With an ``llm`` profile, importing llm and openai was most of the time
``serve`` took to answer ``/healthz`` (docs/performance.md, "Startup"). The
server is built with those checks deferred
(:func:`runtime_registry.engines.llm_engine.deferring_checks`); this runs
them in a daemon thread once uvicorn says it started, logs each profile that
fails, and leaves the verdict where the runtime reports it (an
``engine_profile_invalid`` diagnostic) and where its turns find it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from runtime_registry.engines.llm_engine import run_deferred_checks

__all__ = ["check_engines_once_listening"]

log = logging.getLogger("runtime_registry.server")

#: How often the thread looks whether the server has started.
_POLL_SECONDS = 0.02


def check_engines_once_listening(server: Any) -> threading.Thread:
    """Start the thread that runs the deferred engine checks after ``server`` (a uvicorn server) started."""

    def work() -> None:
        # Waiting for `started` keeps the import (a second of CPU, holding
        # the GIL most of it) out of the way of the server's own start.
        while not server.started and not server.should_exit:
            time.sleep(_POLL_SECONDS)
        if server.should_exit and not server.started:
            return
        try:
            failed = run_deferred_checks()
        except Exception:
            log.exception("the deferred engine checks failed")
            return
        for profile, problem in failed:
            log.error("profile %r cannot be used: %s (its turns fail; check-config reports it)", profile, problem)

    thread = threading.Thread(target=work, name="engine-checks", daemon=True)
    thread.start()
    return thread
