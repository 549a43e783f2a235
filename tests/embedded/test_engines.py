"""Turn engines in the embedded runtime: what a turn gets, what it may do, and how it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from registry_core import InvalidRequest, ProfileProblem, TokenUsage, TurnEngine, TurnFailed, TurnResult
from registry_core.engines import TURN_FAILURE_CODES
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES


def runtime_with(engine: TurnEngine, **profile: object) -> EmbeddedRuntime:
    """A runtime whose default profile ``p`` runs ``engine``."""
    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine=engine.name, **profile)},  # type: ignore[arg-type]
        default_profile="p",
        output_deltas_per_second=1000,
    )
    return EmbeddedRuntime(settings, event_start_id=1, engines={**BUILTIN_ENGINES, engine.name: engine})


async def until_idle(runtime: EmbeddedRuntime, worker_id: str) -> None:
    async with asyncio.timeout(2):
        while runtime.get_worker(worker_id).status != "idle":
            await asyncio.sleep(0.001)


def events_of(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, dict]]:
    return [(e.type, dict(e.data)) for e in runtime.read_events(cursor=None, limit=1000, worker_id=worker_id).events]


def transcript_of(runtime: EmbeddedRuntime, worker_id: str) -> list[tuple[str, str]]:
    return [(e.role, e.content) for e in runtime.read_transcript(worker_id, start=1, limit=1000).items]


async def test_an_engine_gets_the_history_the_input_and_the_profile():
    seen = []

    async def remember(turn):
        seen.append(
            ([(e.role, e.content) for e in turn.history], turn.input, turn.input_role, turn.number, turn.profile.model)
        )
        return TurnResult(f"reply {turn.number}")

    runtime = runtime_with(TurnEngine("remember", remember), model="m-1")
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "one")
    await until_idle(runtime, worker)
    await runtime.send_input(worker, "two", role="system")
    await until_idle(runtime, worker)
    assert seen == [
        ([], "one", "user", 1, "m-1"),
        ([("user", "one"), ("assistant", "reply 1")], "two", "system", 2, "m-1"),
    ]


async def test_a_reply_is_one_assistant_entry_and_one_output_event_and_usage_is_reported():
    async def answer(turn):
        return TurnResult("the answer", TokenUsage(12, 3), "max_tokens")

    runtime = runtime_with(TurnEngine("answer", answer))
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    assert transcript_of(runtime, worker) == [("user", "q"), ("assistant", "the answer")]
    kinds = events_of(runtime, worker)
    assert [t for t, _ in kinds].count("worker.output") == 1
    assert kinds[-1] == (
        "worker.turn_completed",
        {"turn": 1, "usage": {"input_tokens": 12, "output_tokens": 3}, "stop_reason": "max_tokens"},
    )


async def test_usage_is_null_when_the_engine_reports_none():
    runtime = EmbeddedRuntime(EmbeddedSettings(default_profile="builtin:echo"), event_start_id=1)
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "x")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1] == (
        "worker.turn_completed",
        {"turn": 1, "usage": None, "stop_reason": "end_turn"},
    )


@pytest.mark.parametrize("code", sorted(TURN_FAILURE_CODES))
async def test_a_typed_failure_becomes_turn_failed_with_its_code_and_the_input_stays(code):
    async def fail(turn):
        raise TurnFailed(code, "it did not work")

    runtime = runtime_with(TurnEngine("fail", fail))
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1] == (
        "worker.turn_failed",
        {"turn": 1, "code": code, "message": "it did not work"},
    )
    assert transcript_of(runtime, worker) == [("user", "q")]
    await runtime.send_input(worker, "again")  # idle and usable


def test_an_unknown_failure_code_is_refused_when_raised():
    with pytest.raises(ValueError):
        TurnFailed("made_up", "x")


async def test_an_engine_bug_is_engine_error_without_its_text_and_is_logged(caplog):
    async def buggy(turn):
        raise RuntimeError("secret /var/lib/thing")

    runtime = runtime_with(TurnEngine("buggy", buggy))
    worker = (await runtime.create_worker()).worker.worker_id
    with caplog.at_level(logging.DEBUG):
        await runtime.send_input(worker, "q")
        await until_idle(runtime, worker)
    event = events_of(runtime, worker)[-1]
    assert event == (
        "worker.turn_failed",
        {"turn": 1, "code": "engine_error", "message": "the turn failed unexpectedly"},
    )
    # One WARNING line without the text; the traceback at debug only.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"turn failed: runtime=embedded worker={worker} turn=1 code=engine_error cause=RuntimeError"]
    assert any(record.exc_info for record in caplog.records if record.levelno == logging.DEBUG)


async def test_an_engine_that_returns_something_else_is_engine_error():
    async def wrong(turn):
        return "just a string"

    runtime = runtime_with(TurnEngine("wrong", wrong))  # type: ignore[arg-type]
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1][1]["code"] == "engine_error"


async def test_a_turn_longer_than_max_turn_seconds_is_turn_timeout_and_its_engine_is_cancelled():
    cancelled = asyncio.Event()

    async def slow(turn):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return TurnResult("late")

    runtime = runtime_with(TurnEngine("slow", slow), max_turn_seconds=0.05)
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await until_idle(runtime, worker)
    assert events_of(runtime, worker)[-1][1]["code"] == "turn_timeout"
    assert cancelled.is_set()
    assert transcript_of(runtime, worker) == [("user", "q")]


@pytest.mark.parametrize("action", ["cancel", "stop", "delete", "close"])
async def test_cancel_stop_delete_and_close_cancel_the_engine_at_its_await_and_add_no_reply(action):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits(turn):
        turn.emit("partial")
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return TurnResult("never")

    runtime = runtime_with(TurnEngine("waits", waits))
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await asyncio.wait_for(started.wait(), 1)
    if action == "close":
        await runtime.close()
    else:
        await getattr(runtime, action)(worker)
    await asyncio.wait_for(cancelled.wait(), 1)
    if action != "delete":
        assert transcript_of(runtime, worker) == [("user", "q")]
        assert "worker.output" not in [t for t, _ in events_of(runtime, worker)]


async def test_a_cancelled_engine_that_swallows_the_cancel_still_writes_nothing():
    async def stubborn(turn):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        return TurnResult("late reply")

    runtime = runtime_with(TurnEngine("stubborn", stubborn))
    worker = (await runtime.create_worker()).worker.worker_id
    await runtime.send_input(worker, "q")
    await asyncio.sleep(0.01)
    await runtime.cancel(worker)
    await asyncio.sleep(0.05)
    assert transcript_of(runtime, worker) == [("user", "q")]
    assert [t for t, _ in events_of(runtime, worker)][-1] == "worker.turn_cancelled"


def test_a_profile_naming_an_engine_nobody_registered_is_a_config_error_at_its_path():
    with pytest.raises(InvalidRequest) as caught:
        EmbeddedRuntime(EmbeddedSettings(profiles={"p": ProfileSettings(engine="nope")}))
    assert [d["path"] for d in caught.value.details] == ["profiles.p.engine"]


def test_an_engine_check_that_refuses_a_setting_is_a_config_error_at_that_key():
    def check(profile):
        return [ProfileProblem("model", "not a model this engine knows"), ProfileProblem(None, "and more")]

    async def run(turn):
        return TurnResult(None)

    engine = TurnEngine("picky", run, check=check)
    with pytest.raises(InvalidRequest) as caught:
        EmbeddedRuntime(
            EmbeddedSettings(profiles={"p": ProfileSettings(engine="picky", model="x")}), engines={"picky": engine}
        )
    assert caught.value.details == (
        {"path": "profiles.p.model", "message": "not a model this engine knows"},
        {"path": "profiles.p", "message": "and more"},
    )


def test_an_engine_check_that_raises_as_before_0_4_still_works_with_a_deprecation_warning():
    def check(profile):
        raise ValueError("model: not a model this engine knows")

    async def run(turn):
        return TurnResult(None)

    engine = TurnEngine("old-style", run, check=check)
    with pytest.raises(InvalidRequest) as caught, pytest.warns(DeprecationWarning, match="ProfileProblem"):
        EmbeddedRuntime(
            EmbeddedSettings(profiles={"p": ProfileSettings(engine="old-style", model="x")}),
            engines={"old-style": engine},
        )
    assert caught.value.details == ({"path": "profiles.p.model", "message": "not a model this engine knows"},)


@pytest.mark.parametrize(
    "key,value",
    [
        ("model", "m"),
        ("api_base", "http://127.0.0.1:1/v1"),
        ("key_env", "K"),
        ("system_prompt", "s"),
        ("options", {"temperature": 1}),
        ("tools", ["clock"]),
    ],
)
def test_record_and_echo_refuse_model_settings(key, value):
    with pytest.raises(InvalidRequest) as caught:
        EmbeddedRuntime(EmbeddedSettings(profiles={"p": ProfileSettings(engine="echo", **{key: value})}))
    assert caught.value.details[0]["path"] in (f"profiles.p.{key}", "profiles.p.tools[0]")


def test_engine_names_are_checked_at_registration():
    async def run(turn):
        return TurnResult(None)

    with pytest.raises(ValueError):
        TurnEngine("Not A Name", run)
