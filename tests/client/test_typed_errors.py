"""Every error answer becomes the typed error of its code: a WorkerBusy from the server is a WorkerBusy here."""

from __future__ import annotations

import asyncio
import socket

import pytest

from registry_core import (
    ERROR_TYPES,
    BusyPolicy,
    CapacityExceeded,
    CreateWorkerRequest,
    CursorExpired,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    QueueFull,
    RegistryError,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownProfile,
    UnknownRuntime,
    UnknownWorker,
    UnsupportedOperation,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.models import CapabilityName, ProfileSelector
from runtime_registry.client import (
    ConnectionFailed,
    InternalServerError,
    MalformedRequest,
    MalformedResponse,
    RegistryClient,
    RequestTimedOut,
    ServerBusy,
    Unauthorized,
)
from runtime_registry.client.errors import HTTP_ERROR_TYPES
from runtime_registry.server.errors import STATUS_BY_CODE

from ..support.canned_http import CannedServer, answer, envelope_answer
from .conftest import TOKEN


@pytest.fixture
async def client(server):
    async with RegistryClient(server.base_url, token=TOKEN, timeout=5) as client:
        yield client


def test_the_client_knows_every_code_the_server_answers_with():
    assert set(ERROR_TYPES) | set(HTTP_ERROR_TYPES) == set(STATUS_BY_CODE)


async def test_unknown_runtime_and_worker(client):
    with pytest.raises(UnknownRuntime) as raised:
        await client.get_runtime("nowhere")
    assert raised.value.status == 404 and raised.value.runtime_id == "nowhere"
    with pytest.raises(UnknownWorker) as raised:
        await client.get_worker("back-a", "w-nobody")
    assert (raised.value.runtime_id, raised.value.worker_id) == ("back-a", "w-nobody")


async def test_worker_busy_and_stopped(client):
    worker = await client.create_worker("back-a", CreateWorkerRequest(profile=ProfileSelector("hold")))
    await client.send_input("back-a", worker.worker_id, "first")
    with pytest.raises(WorkerBusy) as raised:
        await client.send_input("back-a", worker.worker_id, "second")
    assert raised.value.status == 409
    await client.stop_worker("back-a", worker.worker_id)
    with pytest.raises(WorkerStopped):
        await client.cancel_worker("back-a", worker.worker_id)


async def test_an_unknown_profile_is_unknown_profile_an_invalid_request(client):
    with pytest.raises(UnknownProfile) as raised:
        await client.create_worker("back-a", CreateWorkerRequest(profile=ProfileSelector("hodl")))
    assert isinstance(raised.value, InvalidRequest) and raised.value.status == 422
    assert "did you mean 'hold'?" in raised.value.message
    assert raised.value.details == ({"path": "profile", "message": "did you mean 'hold'?"},)


async def test_capacity_invalid_request_and_limits(client):
    await client.create_worker("small")
    with pytest.raises(CapacityExceeded):
        await client.create_worker("small")
    with pytest.raises(InvalidRequest) as raised:
        await client.create_worker("back-a", CreateWorkerRequest(capabilities=(CapabilityName("tools"),)))
    assert raised.value.status == 422 and raised.value.details[0]["path"] == "capabilities[0]"
    with pytest.raises(LimitTooLarge):
        await client.list_workers("back-a", limit=100_000)
    with pytest.raises(MalformedRequest) as raised:
        await client.list_workers("back-a", cursor="not-a-cursor-it-issued")
    assert raised.value.status == 400


async def test_cursor_expired(client):
    latest = (await client.read_events("back-a", limit=1000)).next_cursor
    with pytest.raises(CursorExpired) as raised:
        await client.read_events("back-a", cursor=latest + 10**9)
    assert raised.value.status == 410


async def test_unsupported_and_unavailable_runtimes(client):
    with pytest.raises(UnsupportedOperation) as raised:
        await client.create_worker("disk")
    assert raised.value.status == 405
    with pytest.raises(RuntimeUnavailable) as raised:
        await client.list_workers("ghost")
    assert raised.value.status == 503


async def test_a_bad_id_is_refused_before_it_becomes_part_of_a_url(client):
    with pytest.raises(InvalidIdentifier):
        await client.get_worker("back-a", "../../api/plugins")
    with pytest.raises(InvalidIdentifier):
        await client.get_runtime("back a")


async def test_a_missing_or_wrong_token_is_unauthorized(server):
    for token in (None, "wrong"):
        async with RegistryClient(server.base_url, token=token) as client:
            with pytest.raises(Unauthorized) as raised:
                await client.list_runtimes()
            assert raised.value.status == 401
            assert await client.health() is True  # /healthz needs no token


@pytest.mark.parametrize("code", sorted(STATUS_BY_CODE))
async def test_every_code_of_the_table_maps_to_its_class(code):
    async with CannedServer(
        envelope_answer(STATUS_BY_CODE[code], code, "canned message", runtime_id="r", request_id="req-1")
    ) as canned:
        async with RegistryClient(canned.base_url) as client:
            with pytest.raises(RegistryError) as raised:
                await client.list_runtimes()
    error = raised.value
    assert (error.code, error.status, error.message, error.runtime_id) == (
        code,
        STATUS_BY_CODE[code],
        "canned message",
        "r",
    )
    expected = ERROR_TYPES.get(code) or HTTP_ERROR_TYPES[code]
    assert type(error) is expected
    if code == "internal_error":
        assert isinstance(error, InternalServerError) and error.request_id == "req-1"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(503, b"Service Unavailable", "text/plain"), ServerBusy),
        (answer(200, b"<html>not json</html>", "text/html"), MalformedResponse),
        (answer(200, b'{"items": "not a list"}'), MalformedResponse),
        (answer(418, b'{"error": {"code": "teapot", "message": "x"}}'), MalformedResponse),
        (answer(504, b'{"error": {"code": "runtime_timeout", "message": "slow"}}'), RuntimeTimeout),
    ],
)
async def test_answers_that_are_not_the_api(response, expected):
    async with CannedServer(response) as canned:
        async with RegistryClient(canned.base_url) as client:
            with pytest.raises(expected):
                await client.list_runtimes()


async def test_no_answer_in_time_is_request_timed_out_and_says_no_url():
    async with CannedServer(None) as canned:
        async with RegistryClient(canned.base_url, timeout=0.3) as client:
            started = asyncio.get_running_loop().time()
            with pytest.raises(RequestTimedOut) as raised:
                await client.get_runtime("anything")
    assert asyncio.get_running_loop().time() - started < 2
    assert "127.0.0.1" not in str(raised.value)


async def test_nothing_listening_is_connection_failed_and_says_no_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RegistryClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectionFailed) as raised:
            await client.list_runtimes()
    assert str(port) not in str(raised.value)


async def test_a_hostile_message_is_cut_to_one_short_line():
    async with CannedServer(envelope_answer(409, "worker_busy", "x\n" * 5000)) as canned:
        async with RegistryClient(canned.base_url) as client:
            with pytest.raises(WorkerBusy) as raised:
                await client.get_runtime("a")
    assert "\n" not in raised.value.message and len(raised.value.message) <= 500


def test_the_clients_status_per_code_is_the_servers():
    from registry_core.errors import HTTP_STATUS_BY_CODE
    from runtime_registry.client.errors import STATUS_OF_CODE

    assert STATUS_OF_CODE is STATUS_BY_CODE is HTTP_STATUS_BY_CODE


async def test_if_busy_queued_answers_queue_full_and_cancel_keeping_the_queue(client):
    worker = await client.create_worker("back-a", CreateWorkerRequest(profile=ProfileSelector("hold")))
    await client.send_input("back-a", worker.worker_id, "first")
    places = []
    for n in range(8):
        queued = await client.send_input("back-a", worker.worker_id, f"q{n}", if_busy="enqueue")
        assert (queued.status, queued.transcript_sequence) == ("queued", None)
        places.append(queued.queue_position)
    assert places == list(range(1, 9))
    with pytest.raises(QueueFull) as raised:
        await client.send_input("back-a", worker.worker_id, "one too many", if_busy=BusyPolicy.ENQUEUE)
    assert raised.value.status == 409 and raised.value.worker_id == worker.worker_id
    interrupted = await client.send_input("back-a", worker.worker_id, "now", if_busy="interrupt")
    assert (interrupted.status, interrupted.transcript_sequence, interrupted.queue_position) == ("busy", 2, None)
    kept = await client.cancel_worker("back-a", worker.worker_id, queued="keep")
    assert (kept.changed, kept.status) == (True, "busy")
    dropped = await client.cancel_worker("back-a", worker.worker_id)
    assert (dropped.changed, dropped.status) == (True, "idle")
    with pytest.raises(ValueError):
        await client.send_input("back-a", worker.worker_id, "x", if_busy="sometime")
    summary = await client.get_runtime("back-a")
    assert summary.capabilities.busy_policies == ("reject", "enqueue", "interrupt")
    await client.stop_worker("back-a", worker.worker_id)
