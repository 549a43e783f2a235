"""Creating, listing and getting workers; profiles; routing by runtime_id + worker_id."""

from __future__ import annotations

import pytest

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    Intent,
    IntentKind,
    InvalidCursor,
    InvalidRequest,
    LimitTooLarge,
    UnknownProfile,
    UnknownWorker,
    is_valid_identifier,
    structure,
)
from registry_core.models import CapabilityName, Label

from .conftest import A, B, create, open_registry


async def test_created_worker_is_idle_with_an_opaque_generated_id(registry):
    worker = await registry.create_worker(A, CreateWorkerRequest(label=Label("backend-internal")))
    assert worker.worker_id.startswith("w-") and is_valid_identifier(worker.worker_id)
    assert "backend" not in worker.worker_id
    assert (worker.runtime_id, worker.kind, worker.status, worker.transcript_length) == (A, "embedded", "idle", 0)
    assert worker.label == "backend-internal" and worker.created_at.tzinfo is not None


async def test_two_workers_with_the_same_label_get_different_ids(registry):
    first = await create(registry, label=Label("twin"))
    second = await create(registry, label=Label("twin"))
    assert first != second


async def test_worker_without_intent_is_an_assistant(registry):
    worker = await registry.get_worker(A, await create(registry))
    assert worker.intent == Intent(IntentKind.ASSISTANT)


async def test_worker_keeps_the_intent_it_was_created_with(registry):
    intent = Intent(IntentKind.ROLE, role="reviewer", objective="review the patch")
    worker = await registry.create_worker(A, CreateWorkerRequest(intent=intent))
    assert (await registry.get_worker(A, worker.worker_id)).intent == intent


@pytest.mark.parametrize(
    ("selector", "resolved"),
    [
        (None, "builtin:default"),
        ("default", "builtin:default"),
        ("builtin:default", "builtin:default"),
        ("builtin:echo", "builtin:echo"),
        ("hold", "hold"),
    ],
)
async def test_profile_selectors_resolve_without_diagnostics(registry, selector, resolved):
    request = structure({"profile": selector} if selector else {}, CreateWorkerRequest)
    worker = await registry.create_worker(A, request)
    assert (worker.profile, worker.diagnostics) == (resolved, ())


@pytest.mark.parametrize(
    ("selector", "hint"),
    [
        ("no-such-profile", "this runtime's profiles: 'builtin:default', 'builtin:echo', 'echo-now'"),
        ("builtin:nope", "did you mean 'builtin:echo'"),
        ("builtin", "did you mean 'builtin:echo' or 'builtin:default'?"),
        ("echo-nwo", "did you mean 'echo-now'"),
    ],
)
async def test_an_unknown_profile_is_refused_naming_the_closest_names(selector, hint):
    registry = await open_registry(default_profile="echo-now")
    try:
        with pytest.raises(UnknownProfile) as refused:
            await registry.create_worker(A, structure({"profile": selector}, CreateWorkerRequest))
        assert refused.value.code == "unknown_profile" and isinstance(refused.value, InvalidRequest)
        assert refused.value.message.startswith(f"no profile {selector!r} in this runtime; ")
        assert hint in refused.value.message
        assert refused.value.details == ({"path": "profile", "message": refused.value.message.split("; ", 1)[1]},)
        # Nothing was created, and the default is still what an omitted profile gets.
        assert (await registry.list_workers(A)).items == ()
        assert (await registry.create_worker(A, CreateWorkerRequest())).profile == "echo-now"
    finally:
        await registry.close()


async def test_an_unknown_profile_error_repeats_at_most_64_characters_of_the_selector(registry):
    with pytest.raises(UnknownProfile) as refused:
        await registry.create_worker(A, structure({"profile": "x" * 120}, CreateWorkerRequest))
    assert "x" * 64 in refused.value.message and "x" * 65 not in refused.value.message


async def test_asking_for_any_capability_is_invalid_and_names_each_field(registry):
    request = CreateWorkerRequest(capabilities=(CapabilityName("tools"), CapabilityName("shell")))
    with pytest.raises(InvalidRequest) as caught:
        await registry.create_worker(A, request)
    assert [d["path"] for d in caught.value.details] == ["capabilities[0]", "capabilities[1]"]
    assert (await registry.list_workers(A)).items == ()


async def test_creating_beyond_max_workers_is_capacity_exceeded_and_stopped_workers_count():
    registry = await open_registry(max_workers=2)
    try:
        first = await create(registry)
        await create(registry)
        await registry.stop_worker(A, first)
        with pytest.raises(CapacityExceeded) as caught:
            await create(registry)
        assert caught.value.runtime_id == A
        assert len((await registry.list_workers(A)).items) == 2
    finally:
        await registry.close()


async def test_a_full_runtime_describes_itself_as_degraded():
    registry = await open_registry(max_workers=1)
    try:
        await create(registry)
        summary = await registry.describe_runtime(A)
        assert summary.status.value == "degraded"
        assert summary.diagnostics[0].code == "worker_capacity_reached"
    finally:
        await registry.close()


async def test_worker_list_pages_in_creation_order_with_an_opaque_cursor():
    registry = await open_registry(worker_page_max=3)
    try:
        created = [await create(registry) for _ in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            page = await registry.list_workers(A, limit=3, cursor=cursor)
            seen.extend(worker.worker_id for worker in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == created and pages == 3
    finally:
        await registry.close()


async def test_worker_list_ends_without_a_cursor_when_the_page_is_exactly_full(registry):
    created = [await create(registry) for _ in range(2)]
    page = await registry.list_workers(A, limit=2)
    assert [w.worker_id for w in page.items] == created and page.next_cursor is None


async def test_worker_list_cursor_not_issued_here_is_invalid(registry):
    other = await create(registry, runtime_id=B)
    for cursor in ("garbage", other):
        with pytest.raises(InvalidCursor) as caught:
            await registry.list_workers(A, cursor=cursor)
        assert caught.value.details[0]["path"] == "cursor"


async def test_worker_list_limit_above_the_maximum_is_limit_too_large(registry):
    with pytest.raises(LimitTooLarge):
        await registry.list_workers(A, limit=201)


async def test_a_worker_id_of_one_runtime_is_unknown_in_the_other(registry):
    worker_id = await create(registry, runtime_id=A)
    assert (await registry.get_worker(A, worker_id)).worker_id == worker_id
    with pytest.raises(UnknownWorker) as caught:
        await registry.get_worker(B, worker_id)
    assert (caught.value.runtime_id, caught.value.worker_id) == (B, worker_id)
    assert (await registry.list_workers(B)).items == ()


async def test_the_cross_runtime_overview_lists_workers_of_both_runtimes_with_their_runtime(registry):
    in_a, in_b = await create(registry, runtime_id=A), await create(registry, runtime_id=B)
    overview = await registry.list_all_workers()
    assert {(w.runtime_id, w.worker_id, w.kind) for w in overview.items} == {
        (A, in_a, "embedded"),
        (B, in_b, "embedded"),
    }
