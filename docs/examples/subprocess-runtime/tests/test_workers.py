"""Creating, listing and limiting workers."""

from __future__ import annotations

import pytest
from processes import wait_until_idle

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    InputRequest,
    Intent,
    IntentKind,
    InvalidCursor,
    InvalidRequest,
    UnknownWorker,
    is_valid_identifier,
)


async def test_a_new_worker_is_idle_with_an_opaque_valid_id(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest())
    assert (worker.kind, worker.status, worker.profile, worker.transcript_length) == (
        "subprocess",
        "idle",
        "default",
        0,
    )
    assert is_valid_identifier(worker.worker_id)
    assert worker.worker_id != (await provider.create_worker(CreateWorkerRequest())).worker_id


async def test_label_and_intent_are_kept(start_provider):
    provider = await start_provider()
    intent = Intent(IntentKind.TASK, objective="shout")
    created = await provider.create_worker(CreateWorkerRequest(intent=intent, label="Shouter"))
    fetched = await provider.get_worker(created.worker_id)
    assert (fetched.label, fetched.intent) == ("Shouter", intent)


async def test_an_unknown_profile_falls_back_to_the_default_with_a_diagnostic(start_provider):
    provider = await start_provider()
    worker = await provider.create_worker(CreateWorkerRequest(profile="builtin:fast"))
    assert worker.profile == "default"
    assert [d.code for d in worker.diagnostics] == ["profile_fallback"]


async def test_asking_for_capabilities_is_refused_field_by_field(start_provider):
    provider = await start_provider()
    with pytest.raises(InvalidRequest) as refused:
        await provider.create_worker(CreateWorkerRequest(capabilities=("tools", "shell")))
    assert [d["path"] for d in refused.value.details] == ["capabilities[0]", "capabilities[1]"]


async def test_the_worker_limit_is_enforced(start_provider):
    provider = await start_provider(max_workers=2)
    await provider.create_worker(CreateWorkerRequest())
    await provider.create_worker(CreateWorkerRequest())
    with pytest.raises(CapacityExceeded):
        await provider.create_worker(CreateWorkerRequest())


async def test_workers_are_listed_in_creation_order_page_by_page(start_provider):
    provider = await start_provider()
    created = [(await provider.create_worker(CreateWorkerRequest())).worker_id for _ in range(3)]
    first = await provider.list_workers(limit=2, cursor=None)
    second = await provider.list_workers(limit=2, cursor=first.next_cursor)
    assert [w.worker_id for w in first.items + second.items] == created
    assert second.next_cursor is None


async def test_a_cursor_this_runtime_did_not_issue_is_refused(start_provider):
    provider = await start_provider()
    with pytest.raises(InvalidCursor):
        await provider.list_workers(limit=2, cursor="sp-forged")


async def test_an_unknown_worker_is_a_typed_error(start_provider):
    provider = await start_provider()
    with pytest.raises(UnknownWorker):
        await provider.get_worker("sp-000000000000")


async def test_input_longer_than_the_limit_is_refused(start_provider):
    provider = await start_provider(max_input_chars=5)
    worker = await provider.create_worker(CreateWorkerRequest())
    with pytest.raises(InvalidRequest) as refused:
        await provider.send_input(worker.worker_id, InputRequest("too long"))
    assert refused.value.details[0]["path"] == "content"


async def test_a_full_transcript_refuses_the_next_turn(start_provider):
    provider = await start_provider(max_transcript_entries=4)
    worker = await provider.create_worker(CreateWorkerRequest())
    await provider.send_input(worker.worker_id, InputRequest("fits"))
    await wait_until_idle(provider, worker.worker_id)
    with pytest.raises(CapacityExceeded):
        await provider.send_input(worker.worker_id, InputRequest("does not"))
