"""Checks of everything a provider returns: it becomes JSON, and nothing in it looks like a path."""

from __future__ import annotations

import json
from typing import Any

from registry_core.converter import unstructure
from registry_core.errors import RegistryError
from runtime_registry.testing.paths import find_path_like

from .contract import ContractViolation, require, succeeds
from .harness import MISSING_WORKER, CheckRun, ConformanceHarness, conformance_check

__all__ = ["LeakChecks", "everything_returned"]


class LeakChecks(ConformanceHarness):
    """What the server would render: JSON-ready, and free of paths, sockets and file URLs."""

    @conformance_check()
    async def test_everything_returned_becomes_json(self, run: CheckRun) -> None:
        """Every field has its declared type and event data holds only JSON values, so the server can render it."""
        for what, value in await everything_returned(run):
            try:
                json.dumps(unstructure(value), allow_nan=False)
            except Exception as exc:  # whatever the converter or encoder trips on
                raise ContractViolation(
                    f"{what} returned data that cannot become JSON ({type(exc).__name__}: {exc}); "
                    f"fields must have their declared types, event data only JSON values"
                ) from exc

    @conformance_check()
    async def test_nothing_returned_looks_like_a_path(self, run: CheckRun) -> None:
        """No path, socket or file URL in summaries, workers, transcripts, events or error messages."""
        for what, value in await everything_returned(run):
            try:
                data = unstructure(value)
            except Exception:
                continue  # not JSON at all: test_everything_returned_becomes_json says so
            leaks = find_path_like(data)
            require(not leaks, f"{what} returned data must not contain paths, sockets or file URLs; found {leaks[:5]}")


async def everything_returned(run: CheckRun) -> list[tuple[str, Any]]:
    """What each operation the kind supports returns, by operation (typed errors as their JSON bodies)."""
    registry, runtime_id, capabilities = run.registry, run.runtime_id, run.capabilities
    returned: list[tuple[str, Any]] = [("describe", await run.describe())]
    worker_id = await run.a_worker()
    if worker_id is not None:
        if capabilities.get_worker:
            returned.append(("get_worker", await succeeds("get_worker", registry.get_worker(runtime_id, worker_id))))
        if capabilities.send_input:
            returned.append(("send_input", await run.send_when_idle(worker_id, "conformance")))
            await run.settle(worker_id)
        if capabilities.read_transcript:
            returned.append(("read_transcript", await run.whole_transcript(worker_id, limit=100)))
        if capabilities.cancel_worker:
            returned.append(
                ("cancel_worker", await succeeds("cancel_worker", registry.cancel_worker(runtime_id, worker_id)))
            )
    if capabilities.list_workers:
        returned.append(("list_workers", await run.all_workers(limit=100)))
    if capabilities.read_events:
        returned.append(("read_events", await run.all_events()))
    for name, call in run.worker_operations(MISSING_WORKER).items():
        try:
            await call()
        except RegistryError as exc:
            returned.append((f"the error of {name}", exc.to_dict()))
    return returned
