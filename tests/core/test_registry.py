"""RuntimeRegistry: routing by runtime_id + worker_id, id checks, and guarded calls."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from registry_core import (
    CreateWorkerRequest,
    EventPage,
    InputRequest,
    InvalidCursor,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    RuntimeLimits,
    RuntimeStatus,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownRuntime,
    UnknownWorker,
    UnsupportedOperation,
    WorkerPage,
)
from runtime_registry.host import RuntimeRegistry

from .fakes import FailingStartProvider, HangingProvider, MalformedProvider, MemoryProvider, RaisingProvider


@pytest.fixture
async def registry():
    registry = RuntimeRegistry(call_timeout=0.2)
    alpha, beta = MemoryProvider("alpha"), MemoryProvider("beta")
    alpha.add("shared-id")
    alpha.add("only-alpha")
    beta.add("shared-id")
    registry.register(alpha, display_name="Alpha")
    registry.register(beta)
    async with registry:
        yield registry


async def test_routes_by_runtime_and_worker_id(registry):
    worker = await registry.get_worker("beta", "shared-id")
    assert (worker.runtime_id, worker.worker_id) == ("beta", "shared-id")


async def test_worker_of_another_runtime_is_unknown(registry):
    with pytest.raises(UnknownWorker) as caught:
        await registry.get_worker("beta", "only-alpha")
    assert (caught.value.runtime_id, caught.value.worker_id) == ("beta", "only-alpha")


async def test_unknown_runtime(registry):
    with pytest.raises(UnknownRuntime):
        await registry.get_worker("gamma", "shared-id")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "a b", "x" * 121, "é", "a\x00"])
async def test_invalid_ids_never_reach_the_provider(registry, bad):
    provider = registry.provider("alpha")
    with pytest.raises(InvalidIdentifier):
        await registry.get_worker("alpha", bad)
    with pytest.raises(InvalidIdentifier):
        await registry.get_worker(bad, "shared-id")
    assert provider.calls == []


async def test_id_of_120_characters_is_valid(registry):
    with pytest.raises(UnknownWorker):
        await registry.get_worker("alpha", "x" * 120)


async def test_unimplemented_operation_is_unsupported_and_capability_false(registry):
    summary = await registry.describe_runtime("alpha")
    assert summary.capabilities.stop_worker is False
    assert summary.capabilities.get_worker is True
    with pytest.raises(UnsupportedOperation) as caught:
        await registry.stop_worker("alpha", "shared-id")
    assert caught.value.runtime_id == "alpha"


async def test_summary_carries_identity_and_status(registry):
    summary = await registry.describe_runtime("alpha")
    assert (summary.runtime_id, summary.display_name, summary.kind) == ("alpha", "Alpha", "memory")
    assert summary.status is RuntimeStatus.RUNNING


async def test_default_page_limit_is_capped_by_runtime_maximum(registry):
    await registry.list_workers("alpha")
    assert registry.provider("alpha").calls[-1] == ("list_workers", (50, None))


@pytest.mark.parametrize("limit", [0, -1])
async def test_limit_below_one_is_invalid(registry, limit):
    with pytest.raises(InvalidRequest):
        await registry.list_workers("alpha", limit=limit)


async def test_limit_above_maximum_is_too_large(registry):
    with pytest.raises(LimitTooLarge):
        await registry.list_workers("alpha", limit=101)


async def test_transcript_start_below_one_is_invalid(registry):
    with pytest.raises(InvalidRequest):
        await registry.read_transcript("alpha", "shared-id", start=0)


async def test_unexpected_exception_becomes_unavailable_without_its_text(caplog):
    registry = RuntimeRegistry(call_timeout=1)
    registry.register(RaisingProvider("r"))
    async with registry:
        with caplog.at_level(logging.ERROR), pytest.raises(RuntimeUnavailable) as caught:
            await registry.get_worker("r", "w")
    assert "/secret" not in str(caught.value.to_dict())
    assert "/secret/path" in caplog.text  # the operator gets the detail


async def test_a_runtime_that_keeps_raising_the_same_way_logs_its_traceback_once(caplog):
    registry = RuntimeRegistry(call_timeout=1)
    registry.register(RaisingProvider("r"))
    async with registry:
        with caplog.at_level(logging.DEBUG, logger="runtime_registry.host.registry"):
            for _ in range(3):
                with pytest.raises(RuntimeUnavailable):
                    await registry.get_worker("r", "w")
            with pytest.raises(RuntimeUnavailable):
                await registry.list_workers("r")
    failures = [r for r in caplog.records if "raised in" in r.getMessage()]
    by_level = [(r.levelname, r.getMessage().rsplit(" ", 2)[-2:]) for r in failures]
    # get_worker: once with a traceback, then twice at debug; list_workers is another failure: logged once more.
    assert [level for level, _ in by_level] == ["ERROR", "DEBUG", "DEBUG", "ERROR"]
    assert all(r.exc_info for r in failures if r.levelname == "ERROR")


async def test_hanging_call_becomes_timeout():
    registry = RuntimeRegistry(call_timeout=0.05)
    registry.register(HangingProvider("h"))
    async with registry:
        with pytest.raises(RuntimeTimeout) as caught:
            await registry.get_worker("h", "w")
    assert (caught.value.runtime_id, caught.value.worker_id) == ("h", "w")


async def test_malformed_result_is_unavailable():
    registry = RuntimeRegistry()
    registry.register(MalformedProvider("m"))
    async with registry:
        with pytest.raises(RuntimeUnavailable):
            await registry.get_worker("m", "w")
        with pytest.raises(RuntimeUnavailable):
            await registry.list_workers("m")


async def test_runtime_that_fails_to_start_is_unavailable_and_others_serve():
    registry = RuntimeRegistry()
    registry.register(FailingStartProvider("broken"))
    healthy = MemoryProvider("healthy")
    healthy.add("w")
    registry.register(healthy)
    async with registry:
        summary = await registry.describe_runtime("broken")
        assert summary.status is RuntimeStatus.UNAVAILABLE
        assert ".sock" not in str(summary)
        with pytest.raises(RuntimeUnavailable):
            await registry.get_worker("broken", "w")
        assert (await registry.get_worker("healthy", "w")).worker_id == "w"


async def test_closed_registry_reports_stopped_and_refuses_work():
    registry = RuntimeRegistry()
    registry.register(MemoryProvider("a"))
    await registry.start()
    await registry.close()
    assert (await registry.describe_runtime("a")).status is RuntimeStatus.STOPPED
    with pytest.raises(RuntimeUnavailable):
        await registry.create_worker("a", CreateWorkerRequest())


async def test_unstarted_registry_refuses_work():
    registry = RuntimeRegistry()
    registry.register(MemoryProvider("a"))
    with pytest.raises(RuntimeUnavailable):
        await registry.send_input("a", "w", InputRequest("hi"))


def test_duplicate_runtime_id_is_refused():
    registry = RuntimeRegistry()
    registry.register(MemoryProvider("a"))
    with pytest.raises(ValueError):
        registry.register(MemoryProvider("a"))


def test_invalid_runtime_id_is_refused_at_registration():
    with pytest.raises(InvalidIdentifier):
        RuntimeRegistry().register(MemoryProvider("no/slashes"))


async def test_overview_lists_every_runtime_and_reports_failures_as_diagnostics():
    registry = RuntimeRegistry(call_timeout=0.05)
    good = MemoryProvider("good")
    good.add("w1")
    registry.register(good)
    registry.register(RaisingProvider("bad"))
    registry.register(HangingProvider("slow"))
    async with registry:
        overview = await registry.list_all_workers()
    assert [(w.runtime_id, w.worker_id) for w in overview.items] == [("good", "w1")]
    assert sorted(d.code for d in overview.diagnostics) == ["runtime_timeout", "runtime_unavailable"]
    assert "token=abc123" not in str(overview)


async def every_overview_item(
    registry: RuntimeRegistry, *, limit: int, pages_at_most: int = 10
) -> list[tuple[str, str]]:
    """``(runtime_id, worker_id)`` of every worker the overview lists, following its cursor page by page."""
    seen, cursor = [], None
    for _ in range(pages_at_most):  # bounded: a cursor that never ends fails the test instead of hanging it
        overview = await registry.list_all_workers(limit=limit, cursor=cursor)
        seen.extend((w.runtime_id, w.worker_id) for w in overview.items)
        cursor = overview.next_cursor
        if cursor is None:
            break
    return seen


async def test_overview_pages_across_runtimes_with_its_cursor():
    registry = RuntimeRegistry()
    for runtime_id, count in (("a", 3), ("b", 0), ("c", 4)):
        provider = MemoryProvider(runtime_id)
        for index in range(count):
            provider.add(f"w{index}")
        registry.register(provider)
    async with registry:
        seen = await every_overview_item(registry, limit=2)
    assert seen == [("a", "w0"), ("a", "w1"), ("a", "w2"), ("c", "w0"), ("c", "w1"), ("c", "w2"), ("c", "w3")]


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJ4Ijox"])
async def test_overview_rejects_cursors_it_did_not_issue(registry, cursor):
    with pytest.raises(InvalidCursor):
        await registry.list_all_workers(cursor=cursor)


class StrictCursorProvider(MemoryProvider):
    """Refuses a list cursor it did not issue where it decodes it, as a runtime should."""

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        if cursor is not None and cursor not in self.workers:
            raise InvalidCursor()
        return await super().list_workers(limit=limit, cursor=cursor)


class SelfRefusingProvider(StrictCursorProvider):
    """Issues a next cursor it then refuses: a runtime bug, not the client's fault."""

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        page = await super().list_workers(limit=limit, cursor=cursor)
        return WorkerPage(self.runtime_id, page.items, "never-issued" if page.next_cursor else None)


class OldCursorErrorProvider(MemoryProvider):
    """A provider written for 0.1: an unknown list cursor is an ``InvalidRequest``."""

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        if cursor is not None and cursor not in self.workers:
            raise InvalidRequest("unknown cursor", details=({"path": "cursor", "message": "unknown cursor"},))
        return await super().list_workers(limit=limit, cursor=cursor)


def forged_overview_cursor(runtime_id: str, inner: str) -> str:
    raw = json.dumps([runtime_id, inner], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_an_inner_cursor_the_runtime_refuses_is_the_clients_invalid_cursor_not_a_diagnostic():
    registry = RuntimeRegistry()
    for runtime_id in ("a", "b"):
        provider = StrictCursorProvider(runtime_id)
        provider.add("w0")
        provider.add("w1")
        registry.register(provider)
    async with registry:
        with pytest.raises(InvalidCursor) as caught:
            await registry.list_all_workers(cursor=forged_overview_cursor("a", "tampered"))
    assert caught.value.code == "malformed_request"
    assert caught.value.runtime_id == "a"


async def test_a_runtime_that_refuses_its_own_next_cursor_is_a_diagnostic_of_that_runtime():
    registry = RuntimeRegistry()
    refusing, other = SelfRefusingProvider("refusing"), StrictCursorProvider("other")
    refusing.limits = RuntimeLimits(worker_page_max=1)  # so that the overview follows its cursor
    for provider in (refusing, other):
        provider.add("w0")
        provider.add("w1")
        registry.register(provider)
    async with registry:
        overview = await registry.list_all_workers(limit=10)
    assert [(w.runtime_id, w.worker_id) for w in overview.items] == [
        ("refusing", "w0"),
        ("other", "w0"),
        ("other", "w1"),
    ]
    assert [d.code for d in overview.diagnostics] == ["runtime_unavailable"]


async def test_a_providers_invalid_request_from_list_workers_is_still_an_invalid_cursor_with_a_warning():
    registry = RuntimeRegistry()
    registry.register(OldCursorErrorProvider("old"))
    async with registry:
        with pytest.warns(DeprecationWarning, match="InvalidCursor"):
            with pytest.raises(InvalidCursor) as caught:
                await registry.list_workers("old", cursor="forged")
    assert caught.value.details == ({"path": "cursor", "message": "unknown cursor"},)


class GappyProvider(MemoryProvider):
    """Answers its first page empty but with a cursor, as a runtime whose per-request work bound ran out."""

    async def list_workers(self, *, limit: int, cursor: str | None) -> WorkerPage:
        if cursor is None:
            return WorkerPage(runtime_id=self.runtime_id, items=(), next_cursor="after-gap")
        return await super().list_workers(limit=limit, cursor=None if cursor == "after-gap" else cursor)


async def test_overview_follows_a_runtime_past_an_empty_page_that_has_a_cursor():
    registry = RuntimeRegistry()
    gappy = GappyProvider("gappy")
    gappy.add("w0")
    registry.register(gappy)
    async with registry:
        seen = await every_overview_item(registry, limit=10)
    assert seen == [("gappy", "w0")]


class PollingProvider(MemoryProvider):
    """Reads events but cannot wait for them: ``read_events`` without ``stream_events``."""

    async def read_events(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> EventPage:
        self.calls.append(("read_events", (cursor, limit)))
        return EventPage(self.runtime_id, (), cursor or 0, False)


class StreamingProvider(PollingProvider):
    limits = RuntimeLimits(event_page_max=7)

    async def wait_for_events(self, *, cursor: int, timeout: float) -> bool:
        return False


async def test_a_stream_opens_through_the_registry_with_its_first_page_and_page_size():
    registry = RuntimeRegistry()
    provider = StreamingProvider("streams")
    registry.register(provider)
    async with registry:
        opened = await registry.open_event_stream("streams", cursor=5)
    assert (opened.first.next_cursor, opened.page_max) == (5, 7)
    assert provider.calls == [("read_events", (5, 7))]  # the first page: the default size, capped by the maximum


async def test_a_runtime_that_cannot_wait_for_events_cannot_open_a_stream_and_is_not_called():
    registry = RuntimeRegistry()
    provider = PollingProvider("polls")
    registry.register(provider)
    async with registry:
        with pytest.raises(UnsupportedOperation) as caught:
            await registry.open_event_stream("polls")
    assert caught.value.runtime_id == "polls"
    assert provider.calls == []


async def test_a_stream_of_a_runtime_that_failed_to_start_is_unavailable():
    registry = RuntimeRegistry()
    registry.register(FailingStartProvider("down"))
    async with registry:
        with pytest.raises(RuntimeUnavailable):
            await registry.open_event_stream("down")
