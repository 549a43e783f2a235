"""A turn that fails (a bug in the runtime) leaves its worker usable and says so, for instant and delayed turns."""

from __future__ import annotations

import logging

import pytest

from registry_core.blocks import Transcript
from runtime_registry.runtimes.embedded.transcript import ASSISTANT

from .conftest import A, create, event_types, send, until_idle

_append = Transcript.append


@pytest.fixture
def replies_fail(monkeypatch):
    """Make every assistant reply raise, as a bug in a turn would."""

    def append(self, role, content, event_id, **sizes):
        if role == ASSISTANT:
            raise RuntimeError("a bug in the turn")
        return _append(self, role, content, event_id, **sizes)

    monkeypatch.setattr(Transcript, "append", append)


@pytest.mark.parametrize("profile", ["echo-now", "brief"])
async def test_a_failed_turn_leaves_the_worker_idle_and_records_turn_failed(registry, replies_fail, profile):
    worker_id = await create(registry, profile)
    await send(registry, worker_id)
    await until_idle(registry, worker_id)
    assert (await event_types(registry, worker_id))[-1] == "worker.turn_failed"


@pytest.mark.parametrize("profile", ["echo-now", "brief"])
async def test_a_failed_turn_is_logged_with_its_worker(registry, replies_fail, profile, caplog):
    worker_id = await create(registry, profile)
    with caplog.at_level(logging.DEBUG, logger="runtime_registry.runtimes.embedded"):
        await send(registry, worker_id)
        await until_idle(registry, worker_id)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"turn failed: runtime={A} worker={worker_id} turn=1 code=engine_error cause=RuntimeError"]
    assert any(record.exc_info for record in caplog.records if record.levelno == logging.DEBUG)


@pytest.mark.parametrize("profile", ["echo-now", "brief"])
async def test_a_worker_takes_input_again_after_a_failed_turn(registry, replies_fail, profile):
    worker_id = await create(registry, profile)
    await send(registry, worker_id)
    await until_idle(registry, worker_id)
    accepted = await send(registry, worker_id, "again")
    assert accepted.transcript_sequence == 2


async def test_a_failed_turn_event_carries_the_turn_a_code_and_no_exception_text(registry, replies_fail):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id)
    await until_idle(registry, worker_id)
    page = await registry.read_events(A, worker_id=worker_id, limit=100)
    assert page.events[-1].data == {"turn": 1, "code": "engine_error", "message": "the turn failed unexpectedly"}
