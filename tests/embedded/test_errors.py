"""Every typed error the embedded kind raises is located, and none of them leaks anything."""

from __future__ import annotations

import pytest

from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    CursorExpired,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    RegistryError,
    RuntimeUnavailable,
    UnknownWorker,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.converter import structure
from registry_core.models import CapabilityName, InputRequest
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings
from runtime_registry.testing.conformance import find_path_like

from .conftest import A, create, open_registry, send


async def test_every_error_of_the_kind_is_typed_located_and_leaks_nothing():
    registry = await open_registry(max_workers=3, max_input_chars=4)
    try:
        busy = await create(registry, "hold")
        await send(registry, busy, "go")
        stopped = await create(registry)
        await registry.stop_worker(A, stopped)
        await create(registry)
        attempts = {
            UnknownWorker: lambda: registry.get_worker(A, "w-0000000000000000"),
            WorkerBusy: lambda: send(registry, busy, "more"),
            WorkerStopped: lambda: send(registry, stopped, "late"),
            InvalidRequest: lambda: registry.create_worker(
                A, CreateWorkerRequest(capabilities=(CapabilityName("shell"),))
            ),
            CapacityExceeded: lambda: registry.create_worker(A, CreateWorkerRequest()),
            CursorExpired: lambda: registry.read_events(A, cursor=10_000),
            # Raised by the registry before the provider is called:
            LimitTooLarge: lambda: registry.read_events(A, limit=1001),
            InvalidIdentifier: lambda: registry.get_worker(A, "../etc/passwd"),
        }
        for expected, attempt in attempts.items():
            with pytest.raises(RegistryError) as caught:
                await attempt()
            error = caught.value
            assert type(error) is expected
            if expected not in (LimitTooLarge, InvalidIdentifier):
                assert error.runtime_id == A
            assert find_path_like(error.to_dict()) == [], error.to_dict()
            assert "Traceback" not in error.message
    finally:
        await registry.close()


async def test_input_longer_than_the_limit_names_the_limit_not_the_content():
    registry = await open_registry(max_input_chars=4)
    try:
        with pytest.raises(InvalidRequest) as caught:
            await send(registry, await create(registry), "/home/someone/secret")
        assert "/home" not in str(caught.value.to_dict())
    finally:
        await registry.close()


@pytest.mark.parametrize(
    ("body", "field"), [({"content": "   "}, "content"), ({"content": "hi", "kind": "assistant"}, "kind")]
)
def test_blank_input_and_unknown_roles_are_refused_by_the_converter_before_the_runtime(body, field):
    # Validate once (decision 0074): the runtime trusts a structured InputRequest.
    with pytest.raises(InvalidRequest) as caught:
        structure(body, InputRequest)
    assert caught.value.details[0]["path"] == field


async def test_a_closed_runtime_refuses_new_work_as_unavailable():
    runtime = EmbeddedRuntime(EmbeddedSettings())
    worker_id = (await runtime.create_worker()).worker.worker_id
    await runtime.close()
    with pytest.raises(RuntimeUnavailable):
        await runtime.create_worker()
    with pytest.raises(RuntimeUnavailable):
        await runtime.send_input(worker_id, "hello")
    assert runtime.get_worker(worker_id).status == "idle"


async def test_close_is_idempotent():
    runtime = EmbeddedRuntime()
    await runtime.close()
    await runtime.close()
    assert runtime.closed


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda registry, w: registry.read_transcript(A, w, start=0, limit=1), "start"),
        (lambda registry, w: registry.read_transcript(A, w, start=1, limit=0), "limit"),
        (lambda registry, w: registry.list_workers(A, limit=0), "limit"),
        (lambda registry, w: registry.read_events(A, cursor=None, limit=0), "limit"),
        (lambda registry, w: registry.read_events(A, cursor=-1, limit=1), "cursor"),
    ],
)
async def test_the_registry_checks_page_arguments_before_the_runtime_sees_them(registry, call, field):
    worker_id = await create(registry)
    with pytest.raises(InvalidRequest) as caught:
        await call(registry, worker_id)
    assert caught.value.details[0]["path"] == field


def test_input_outside_a_running_loop_raises_and_leaves_the_worker_untouched():
    # Driven by hand, as a caller without a loop would: the turn cannot start,
    # so nothing may change (a memory store's decisions never suspend).
    runtime = EmbeddedRuntime()
    with pytest.raises(StopIteration) as created:
        runtime.create_worker().send(None)
    worker_id = created.value.value.worker.worker_id
    events_before = runtime.events.last_id
    with pytest.raises(RuntimeError):
        runtime.send_input(worker_id, "hello").send(None)
    worker = runtime.get_worker(worker_id)
    assert (worker.status, len(worker.transcript), runtime.events.last_id) == ("idle", 0, events_before)


async def test_the_workers_state_is_reported_before_problems_of_the_input(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id, "first")
    with pytest.raises(WorkerBusy):
        await registry.provider(A).runtime.send_input(worker_id, " ")
