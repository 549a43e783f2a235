"""A typed failure of the engine's own (issue 22, decision 0213): ``code: engine_error`` plus ``engine_code``."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest

from registry_core import (
    ENGINE_CODE_PATTERN,
    TURN_FAILURE_CODES,
    EngineFailed,
    TurnEngine,
    TurnFailed,
    TurnResult,
    hookimpl,
)
from registry_core.converter import structure
from registry_core.event_contract import TurnFailedData
from runtime_registry.plugins.embedded import make_store
from runtime_registry.runtimes.embedded import EmbeddedRuntime, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.testing import FakeTurn, engine_runtime

from ..embedded.durable import durable_settings


async def calculate(turn):
    """Adds the numbers of the input; refuses an empty one with its own reason."""
    if turn.input.strip() == "=":
        raise EngineFailed("empty_expression", "there is nothing to calculate")
    if turn.input.startswith("long"):
        raise EngineFailed("too_long", "line one\nline two " + "x" * 1000)
    if turn.input.startswith("bad reason"):
        raise EngineFailed("Not-A-Reason", "/srv/secret/calc.db is locked")
    if turn.input.startswith("provider"):
        raise TurnFailed("provider_error", "the calculator service failed")
    return TurnResult(str(sum(float(part) for part in turn.input.split("+"))))


def calc_plugin() -> types.ModuleType:
    plugin = types.ModuleType("kit_calc")

    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("kit-calc", calculate, description="adds"))

    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    return plugin


async def test_an_engines_own_failure_is_engine_error_with_its_engine_code(caplog):
    caplog.set_level(logging.WARNING, "runtime_registry.runtimes.embedded")
    async with engine_runtime(calc_plugin()) as runtime:
        worker = await runtime.create_worker()
        failed = await runtime.run_turn(worker, "=")
        after = await runtime.run_turn(worker, "1+2")
    assert failed.ended.type == "worker.turn_failed"
    assert failed.ended.data == {
        "turn": 1,
        "code": "engine_error",
        "message": "there is nothing to calculate",
        "engine_code": "kit-calc.empty_expression",
    }
    # Clients that switch on the closed codes still see one of them; the worker goes on.
    assert failed.ended.data["code"] in TURN_FAILURE_CODES and after.reply == "3.0"
    assert ENGINE_CODE_PATTERN.fullmatch(failed.ended.data["engine_code"])
    contract = {key: value for key, value in failed.ended.data.items() if key != "message"}
    assert structure(contract, TurnFailedData).engine_code == "kit-calc.empty_expression"
    assert "code=engine_error cause=kit-calc.empty_expression" in caplog.text


async def test_other_failures_carry_no_engine_code():
    async with engine_runtime(calc_plugin()) as runtime:
        worker = await runtime.create_worker()
        provider = await runtime.run_turn(worker, "provider down")
        broken = await runtime.run_turn(worker, "not a number")
    assert provider.ended.data == {"turn": 1, "code": "provider_error", "message": "the calculator service failed"}
    assert broken.ended.data["code"] == "engine_error" and "engine_code" not in broken.ended.data


async def test_a_message_is_one_bounded_line_and_a_bad_reason_is_a_plain_engine_error_without_its_text():
    async with engine_runtime(calc_plugin()) as runtime:
        worker = await runtime.create_worker()
        long = await runtime.run_turn(worker, "long")
        bad = await runtime.run_turn(worker, "bad reason")
    message = long.ended.data["message"]
    assert "\n" not in message and len(message) == 500 and message.endswith("...")
    assert long.ended.data["engine_code"] == "kit-calc.too_long"
    # EngineFailed refused the reason (ValueError): an engine bug, reported without its text.
    assert "engine_code" not in bad.ended.data and "/srv" not in bad.ended.data["message"]


@pytest.mark.parametrize("reason", ["", "Upper", "a-dash", "1digit", "a" * 65, "kit-calc.x", None])
def test_a_reason_must_be_lowercase_letters_digits_and_underscores(reason):
    with pytest.raises(ValueError, match="failure reason"):
        EngineFailed(reason, "message")  # type: ignore[arg-type]


async def test_engine_failed_is_a_turn_failed_an_engine_test_can_catch_with_fake_turn():
    with pytest.raises(TurnFailed) as caught:
        await calculate(FakeTurn("="))
    assert isinstance(caught.value, EngineFailed)
    assert (caught.value.code, caught.value.reason) == ("engine_error", "empty_expression")


async def test_the_engine_code_survives_a_restart_of_a_sqlite_store(tmp_path):
    settings = durable_settings(profiles={"calc": ProfileSettings(engine="kit-calc")}, default_profile="calc")
    engines = {**BUILTIN_ENGINES, "kit-calc": TurnEngine("kit-calc", calculate)}

    def runtime() -> EmbeddedRuntime:
        return EmbeddedRuntime(settings, store=make_store("durable", settings, tmp_path), engines=engines)

    first = runtime()
    await first.start()
    worker = (await first.create_worker()).worker.worker_id
    await first.send_input(worker, "=")
    async with asyncio.timeout(5):
        while first.get_worker(worker).status != "idle":
            await asyncio.sleep(0.005)
    await first.close()
    second = runtime()
    await second.start()
    try:
        events = second.read_events(cursor=None, limit=100).events
        (failed,) = [event for event in events if event.type == "worker.turn_failed"]
        assert (failed.data["code"], failed.data["engine_code"]) == ("engine_error", "kit-calc.empty_expression")
    finally:
        await second.close()
