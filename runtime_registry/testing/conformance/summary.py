"""Checks of the runtime's summary and of its capabilities: what it says it can do, it does; the rest it refuses."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from registry_core.converter import unstructure
from registry_core.errors import UnsupportedOperation
from registry_core.kinds import KIND_NAME_PATTERN
from registry_core.models import CreateWorkerRequest, InputContent, InputRequest
from registry_core.provider import OPERATIONS

from .contract import ContractViolation, is_count, raises, require, succeeds
from .harness import MISSING_WORKER, CheckRun, ConformanceHarness, conformance_check
from .shapes import check_action

__all__ = ["SummaryChecks"]


class SummaryChecks(ConformanceHarness):
    """The summary's shape, and capabilities that tell the truth both ways."""

    @conformance_check()
    async def test_summary_has_the_contract_shape(self, run: CheckRun) -> None:
        """The runtime starts and describes itself `running` or `degraded`; limits are positive; it is JSON-ready."""
        summary = await run.describe()
        require(
            KIND_NAME_PATTERN.fullmatch(summary.kind), f"the provider's kind {summary.kind!r} is not a valid kind name"
        )
        limits = summary.limits
        for name in ("worker_page_max", "transcript_page_max", "event_page_max"):
            value = getattr(limits, name)
            require(is_count(value), f"limits.{name} must be a positive integer; it is {value!r}")
        for name in ("max_workers", "max_transcript_entries", "max_input_chars", "event_retention"):
            value = getattr(limits, name)
            require(
                value is None or is_count(value), f"limits.{name} must be None or a positive integer; it is {value!r}"
            )
        for diagnostic in summary.diagnostics:
            require(
                isinstance(diagnostic.code, str)
                and diagnostic.code
                and isinstance(diagnostic.message, str)
                and diagnostic.message,
                f"every diagnostic needs a code and a message; got {diagnostic!r}",
            )
        try:
            json.dumps(unstructure(summary))
        except (TypeError, ValueError) as exc:
            raise ContractViolation(f"the summary must be JSON-ready; it is not ({exc})") from exc

    @conformance_check()
    async def test_false_capabilities_answer_unsupported(self, run: CheckRun) -> None:
        """Every operation whose capability is `false` answers `UnsupportedOperation`."""
        registry, runtime_id, capabilities = run.registry, run.runtime_id, run.capabilities
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            **run.worker_operations(MISSING_WORKER),
            "list_workers": lambda: registry.list_workers(runtime_id, limit=1),
            "create_worker": lambda: registry.create_worker(runtime_id, CreateWorkerRequest()),
            "read_events": lambda: registry.read_events(runtime_id, limit=1),
            "list_profiles": lambda: registry.list_profiles(runtime_id),
        }
        require(set(calls) == set(OPERATIONS), "the suite is out of date with registry_core's operations")
        unsupported = [name for name in OPERATIONS if not getattr(capabilities, name)]
        for name in unsupported:
            await raises(UnsupportedOperation, f"{name} (its capability is false)", calls[name]())
        if capabilities.read_events and not capabilities.stream_events:
            await raises(
                UnsupportedOperation,
                "wait_for_events (the stream_events capability is false)",
                registry.wait_for_events(runtime_id, cursor=0, timeout=0.01),
            )
        if not unsupported and capabilities.stream_events:
            pytest.skip("every capability is true")

    @conformance_check()
    async def test_true_capabilities_work(self, run: CheckRun) -> None:
        """Every operation whose capability is `true` answers, with the right worker."""
        registry, runtime_id, capabilities = run.registry, run.runtime_id, run.capabilities
        if capabilities.list_workers:
            page = await succeeds("list_workers (capability true)", registry.list_workers(runtime_id, limit=1))
            require(len(page.items) <= 1, f"list_workers(limit=1) returned {len(page.items)} workers")
        if capabilities.read_events:
            events = await succeeds("read_events (capability true)", registry.read_events(runtime_id, limit=1))
            require(len(events.events) <= 1, f"read_events(limit=1) returned {len(events.events)} events")
        if capabilities.stream_events:
            latest = await run.latest_cursor()
            waited = await succeeds(
                "wait_for_events (capability true)", registry.wait_for_events(runtime_id, cursor=latest, timeout=0.01)
            )
            require(isinstance(waited, bool), f"wait_for_events must return a bool; it returned {waited!r}")
        if capabilities.list_profiles:
            profiles = await succeeds("list_profiles (capability true)", registry.list_profiles(runtime_id))
            names = [profile.name for profile in profiles.items]
            require(len(names) == len(set(names)), f"list_profiles names a profile twice: {names}")
            defaults = [profile.name for profile in profiles.items if profile.default]
            require(len(defaults) <= 1, f"list_profiles marks more than one default: {defaults}")
        worker_id = await run.a_worker()
        if worker_id is None:
            return
        if capabilities.get_worker:
            worker = await succeeds("get_worker (capability true)", registry.get_worker(runtime_id, worker_id))
            require(worker.worker_id == worker_id, f"get_worker({worker_id!r}) returned worker {worker.worker_id!r}")
        if capabilities.read_transcript:
            await succeeds(
                "read_transcript (capability true)", registry.read_transcript(runtime_id, worker_id, limit=1)
            )
        if capabilities.send_input:
            accepted = await succeeds(
                "send_input (capability true)",
                registry.send_input(runtime_id, worker_id, InputRequest(InputContent("conformance"))),
            )
            require(accepted.worker_id == worker_id, f"send_input answered for worker {accepted.worker_id!r}")
            require(is_count(accepted.transcript_sequence), "InputAccepted.transcript_sequence must be 1 or more")
        for action in ("cancel", "stop", "delete"):
            operation = f"{action}_worker"
            if getattr(capabilities, operation):
                call = getattr(registry, operation)(runtime_id, worker_id)
                check_action(await succeeds(f"{operation} (capability true)", call), worker_id, action)
