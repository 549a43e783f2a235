"""A turn always ends (issue 17): each way a misbehaving engine broke the turn machinery, one test.

Every test checks the same invariant for its case: after ``worker.turn_started``
exactly one end event, the worker idle again, and a failure logged as one
WARNING line with runtime, worker, turn and code (never the exception's text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from registry_core import TokenUsage, TurnEngine, TurnResult
from registry_core.engines import STOP_REASONS
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES

END_EVENTS = {"worker.turn_completed", "worker.turn_failed", "worker.turn_cancelled", "worker.turn_interrupted"}
LOGGER = "runtime_registry.runtimes.embedded.turns"


def runtime_with(engine: TurnEngine, **profile: object) -> EmbeddedRuntime:
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name, **profile)},  # type: ignore[arg-type]
        default_profile="p",
        output_deltas_per_second=1000,
    )
    return EmbeddedRuntime(
        settings, event_start_id=1, engines={**BUILTIN_ENGINES, engine.name: engine}, name="rt-turns"
    )


def events_of(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, dict]]:
    return [(e.type, dict(e.data)) for e in runtime.read_events(cursor=None, limit=1000, worker_id=worker_id).events]


def transcript_of(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, str]]:
    return [(e.role, e.content) for e in runtime.read_transcript(worker_id, start=1, limit=1000).items]


async def until_idle(runtime: EmbeddedRuntime, worker_id: str, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(0.001)


def ends_of(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, dict]]:
    return [(t, d) for t, d in events_of(runtime, worker_id) if t in END_EVENTS]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


async def one_failed_turn(engine: TurnEngine, caplog: pytest.LogCaptureFixture, **profile: object):
    """Run one turn of ``engine``; return (runtime, worker, the end event's data, the warning lines)."""
    runtime = runtime_with(engine, **profile)
    worker = (await runtime.create_worker()).worker.worker_id
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await runtime.send_input(worker, "q")
        await until_idle(runtime, worker)
    ends = ends_of(runtime, worker)
    assert len(ends) == 1, ends
    assert ends[0][0] == "worker.turn_failed"
    return runtime, worker, ends[0][1], warnings_of(caplog)


async def test_1_an_engine_raising_cancelled_error_itself_ends_its_turn_as_engine_error(caplog):
    async def raises_cancel(turn):
        await asyncio.sleep(0)
        raise asyncio.CancelledError  # nobody cancelled the turn

    runtime, worker, data, lines = await one_failed_turn(TurnEngine("raises-cancel", raises_cancel), caplog)
    assert data == {"turn": 1, "code": "engine_error", "message": "the turn failed unexpectedly"}
    assert lines == [f"turn failed: runtime=rt-turns worker={worker} turn=1 code=engine_error cause=CancelledError"]
    await runtime.send_input(worker, "again")  # usable: no 409 busy


@pytest.mark.parametrize(
    "usage",
    [{"input_tokens": 1, "output_tokens": 2}, (1, 2)],
    ids=["dict", "tuple"],
)
async def test_2_usage_of_a_wrong_type_is_engine_error_before_any_output_is_written(caplog, usage):
    async def wrong_usage(turn):
        return TurnResult("the reply", usage)

    runtime, worker, data, lines = await one_failed_turn(TurnEngine("wrong-usage", wrong_usage), caplog)
    assert data["code"] == "engine_error"
    assert "worker.output" not in [t for t, _ in events_of(runtime, worker)]
    assert transcript_of(runtime, worker) == [("user", "q")]
    assert lines == [f"turn failed: runtime=rt-turns worker={worker} turn=1 code=engine_error cause=TypeError"]


def test_2_token_usage_refuses_counts_that_are_not_ints():
    for bad in ("1", 1.5, -1, True, None):
        with pytest.raises(TypeError):
            TokenUsage(bad, 1)  # type: ignore[arg-type]


async def test_2_a_result_changed_after_it_was_built_is_checked_again(caplog):
    async def tampered(turn):
        result = TurnResult("the reply", TokenUsage(1, 2))
        object.__setattr__(result, "usage", {"input_tokens": 1})
        return result

    runtime, worker, data, _lines = await one_failed_turn(TurnEngine("tampered", tampered), caplog)
    assert data["code"] == "engine_error"
    assert transcript_of(runtime, worker) == [("user", "q")]


async def test_3_an_engines_own_timeout_error_is_engine_error_not_turn_timeout(caplog):
    async def socket_timeout(turn):
        async with asyncio.timeout(0.05):
            await asyncio.sleep(10)
        return TurnResult("never")

    _runtime, worker, data, lines = await one_failed_turn(
        TurnEngine("socket-timeout", socket_timeout), caplog, max_turn_seconds=1
    )
    assert data == {"turn": 1, "code": "engine_error", "message": "the turn failed unexpectedly"}
    assert lines == [f"turn failed: runtime=rt-turns worker={worker} turn=1 code=engine_error cause=TimeoutError"]


@pytest.mark.parametrize("reason", ["because", "", "END_TURN", "tool_use"])
async def test_4_an_unknown_stop_reason_never_reaches_clients(caplog, reason):
    async def odd_reason(turn):
        return TurnResult("the reply", None, reason)

    runtime, worker, data, _lines = await one_failed_turn(TurnEngine("odd-reason", odd_reason), caplog)
    assert data["code"] == "engine_error"
    assert all(d.get("stop_reason") != reason for _t, d in events_of(runtime, worker))


@pytest.mark.parametrize("reason", sorted(STOP_REASONS))
async def test_4_every_documented_stop_reason_is_reported(reason):
    async def fine(turn):
        return TurnResult("r", None, reason)

    runtime = runtime_with(TurnEngine("fine", fine))
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1] == (
        "worker.turn_completed",
        {"turn": 1, "usage": None, "stop_reason": reason},
    )


async def test_5_an_engine_that_swallows_the_cancel_is_ended_at_the_limit_and_fenced_off(caplog):
    released = asyncio.Event()
    finished = asyncio.Event()

    async def stubborn(turn):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        await released.wait()  # outlives the limit by as long as the test likes
        turn.emit("late delta")
        try:
            await turn.run_tools([])
        finally:
            finished.set()
        return TurnResult("late reply", TokenUsage(1, 1))

    runtime = runtime_with(TurnEngine("stubborn", stubborn), max_turn_seconds=0.1)
    worker = (await runtime.create_worker()).worker.worker_id
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await runtime.send_input(worker, "q")
        await until_idle(runtime, worker)
    took = loop.time() - started
    assert took < 1.0  # ended at the 0.1 s limit, not whenever the engine chose
    assert ends_of(runtime, worker) == [
        ("worker.turn_failed", {"turn": 1, "code": "turn_timeout", "message": "the turn took longer than 0.1 seconds"})
    ]
    # The next turn runs while the old engine still does; the old one's late output is fenced off.
    await runtime.send_input(worker, "second")
    released.set()
    await asyncio.wait_for(finished.wait(), 1)
    await until_idle(runtime, worker)
    await asyncio.sleep(0.05)
    types = [t for t, _ in events_of(runtime, worker)]
    assert "worker.output_delta" not in types
    assert "worker.output" not in types
    assert transcript_of(runtime, worker)[0] == ("user", "q")
    assert ("assistant", "late reply") not in transcript_of(runtime, worker)
    await runtime.close()


async def test_5_close_does_not_wait_forever_for_an_engine_that_ignores_cancellation(monkeypatch):
    from runtime_registry.runtimes.embedded import turn_task

    monkeypatch.setattr(turn_task, "CLOSE_GRACE_SECONDS", 0.1)
    done = asyncio.Event()

    async def deaf(turn):
        while not done.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await done.wait()

    runtime = runtime_with(TurnEngine("deaf", deaf), max_turn_seconds=0.05)
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    async with asyncio.timeout(2):
        await runtime.close()
    done.set()  # let the deaf engine go before the test's loop closes
    await asyncio.sleep(0.01)


async def test_6_a_turn_timeout_is_logged_with_runtime_worker_turn_and_code(caplog):
    async def slow(turn):
        await asyncio.sleep(30)
        return TurnResult("never")

    _runtime, worker, data, lines = await one_failed_turn(TurnEngine("slow", slow), caplog, max_turn_seconds=0.05)
    assert data["code"] == "turn_timeout"
    assert lines == [f"turn failed: runtime=rt-turns worker={worker} turn=1 code=turn_timeout"]


async def test_a_typed_failure_is_logged_once_without_its_message(caplog):
    from registry_core import TurnFailed

    async def refused(turn):
        raise TurnFailed("provider_auth", "the model provider refused the credentials (HTTP 401)")

    _runtime, worker, data, lines = await one_failed_turn(TurnEngine("refused", refused), caplog)
    assert data["code"] == "provider_auth"
    assert lines == [f"turn failed: runtime=rt-turns worker={worker} turn=1 code=provider_auth"]


async def test_an_exception_text_never_reaches_the_log_above_debug(caplog):
    async def leaky(turn):
        raise RuntimeError("https://upstream.example/v1 said {'secret': 'sk-123'}")

    runtime = runtime_with(TurnEngine("leaky", leaky))
    worker = (await runtime.create_worker()).worker.worker_id
    with caplog.at_level(logging.DEBUG):
        await runtime.send_input(worker, "q")
        await until_idle(runtime, worker)
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert above_debug
    for record in above_debug:
        assert "sk-123" not in record.getMessage() and "upstream.example" not in record.getMessage()
        assert record.exc_info is None
    # The traceback is there for an operator who turns debug on.
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)


@pytest.mark.parametrize("garbage", [b"bytes", 42, None, ["list"]], ids=["bytes", "int", "none", "list"])
async def test_a_garbage_delta_is_engine_error(caplog, garbage):
    async def garbled(turn):
        turn.emit(garbage)
        return TurnResult("r")

    runtime, worker, data, _lines = await one_failed_turn(TurnEngine("garbled", garbled), caplog)
    assert data["code"] == "engine_error"
    assert transcript_of(runtime, worker) == [("user", "q")]
