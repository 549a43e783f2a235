"""registry_core.event_contract: data checks, order rules, and the embedded runtime holding to both."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from registry_core import (
    EVENT_SPECS,
    WORKER_CREATED,
    WORKER_DELETED,
    WORKER_INPUT_ACCEPTED,
    WORKER_OUTPUT,
    WORKER_STOPPED,
    WORKER_TURN_CANCELLED,
    WORKER_TURN_COMPLETED,
    WORKER_TURN_STARTED,
    Event,
    TurnCompletedData,
    TurnStartedData,
    data_problems,
    event_data,
    order_problems,
)
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings

NOW = datetime.now(UTC)


def events(*specs: tuple[str, dict]) -> list[Event]:
    return [Event(index, type_, "w-1", data, NOW) for index, (type_, data) in enumerate(specs, start=1)]


def turn(number: int, end: str = WORKER_TURN_COMPLETED, **end_data) -> list[tuple[str, dict]]:
    return [
        (WORKER_INPUT_ACCEPTED, {"transcript_sequence": number, "role": "user", "content": "hi"}),
        (WORKER_TURN_STARTED, {"turn": number}),
        (WORKER_OUTPUT, {"transcript_sequence": number + 1, "role": "assistant", "content": "hi"}),
        (end, {"turn": number, **end_data}),
    ]


def test_every_spec_names_its_own_type_and_a_data_model():
    assert all(spec.type == name and spec.type.startswith("worker.") for name, spec in EVENT_SPECS.items())


def test_event_data_drops_unset_optional_fields():
    assert event_data(TurnCompletedData(turn=2)) == {"turn": 2}
    assert event_data(TurnCompletedData(2, {"input_tokens": 1, "output_tokens": 2}, "end_turn")) == {
        "turn": 2,
        "usage": {"input_tokens": 1, "output_tokens": 2},
        "stop_reason": "end_turn",
    }


def test_event_data_refuses_what_is_not_a_data_model():
    with pytest.raises(TypeError):
        event_data({"turn": 1})


def test_well_formed_data_has_no_problems_and_extra_fields_are_allowed():
    event = Event(1, WORKER_TURN_STARTED, "w-1", {**event_data(TurnStartedData(1)), "mine": "x"}, NOW)
    assert data_problems(event) == []


@pytest.mark.parametrize(
    ("type_", "data", "problem"),
    [
        (WORKER_TURN_STARTED, {}, "lacks the required field 'turn'"),
        (WORKER_TURN_STARTED, {"turn": "1"}, "'turn' must be int"),
        (WORKER_TURN_STARTED, {"turn": True}, "'turn' must be int"),
        (WORKER_OUTPUT, {"transcript_sequence": 2, "role": "assistant"}, "'content'"),
        (WORKER_TURN_CANCELLED, {"turn": 1, "reason": "bored"}, "reason must be one of"),
        ("worker.made_up", {}, "not an event type of the contract"),
    ],
)
def test_bad_data_is_named(type_, data, problem):
    assert any(problem in line for line in data_problems(Event(7, type_, "w-1", data, NOW)))


def test_a_kinds_own_types_need_its_prefix():
    assert data_problems(Event(1, "notes.saved", "w-1", {}, NOW), kind="notes") == []
    assert data_problems(Event(1, "other.saved", "w-1", {}, NOW), kind="notes") != []


def test_a_full_life_in_order_has_no_problems():
    life = events(
        (WORKER_CREATED, {}),
        *turn(1),
        *turn(2, WORKER_TURN_CANCELLED, reason="cancel")[:2],
        (WORKER_TURN_CANCELLED, {"turn": 2, "reason": "delete"}),
        (WORKER_STOPPED, {}),
        (WORKER_DELETED, {}),
    )
    assert order_problems(life) == []


@pytest.mark.parametrize(
    ("specs", "problem"),
    [
        ([*turn(1)], "before worker.created"),
        ([(WORKER_CREATED, {}), *turn(1)[:2], *turn(2)], "while turn 1 was still running"),
        ([(WORKER_CREATED, {}), *turn(2)], "not the next turn number"),
        ([(WORKER_CREATED, {}), turn(1)[0], turn(1)[2], turn(1)[1]], "between worker.input_accepted"),
        ([(WORKER_CREATED, {}), turn(1)[1]], "without a worker.input_accepted"),
        ([(WORKER_CREATED, {}), (WORKER_TURN_COMPLETED, {"turn": 1})], "outside any turn"),
        ([(WORKER_CREATED, {}), *turn(1)[:3], (WORKER_TURN_COMPLETED, {"turn": 5})], "not the running turn"),
        ([(WORKER_CREATED, {}), (WORKER_STOPPED, {}), *turn(1)], "after worker.stopped"),
        ([(WORKER_CREATED, {}), (WORKER_DELETED, {})], "must come before worker.deleted"),
        (
            [(WORKER_CREATED, {}), (WORKER_STOPPED, {}), (WORKER_DELETED, {}), (WORKER_CREATED, {})],
            "after worker.deleted",
        ),
        ([(WORKER_CREATED, {}), *turn(1)[:2], (WORKER_STOPPED, {})], "had no end event"),
    ],
)
def test_order_breaches_are_named(specs, problem):
    assert any(problem in line for line in order_problems(events(*specs)))


async def test_the_embedded_runtime_holds_to_the_contract_through_a_whole_life():
    runtime = EmbeddedRuntime(EmbeddedSettings(), event_start_id=1)
    worker = (await runtime.create_worker(profile="builtin:echo")).worker.worker_id
    for text in ("one", "two"):
        await runtime.send_input(worker, text)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await runtime.send_input(worker, "three")
    await runtime.delete(worker)
    found = runtime.read_events(cursor=0, limit=100).events
    assert [problem for event in found for problem in data_problems(event)] == []
    assert order_problems(found) == []
    assert [event.type for event in found].count(WORKER_TURN_COMPLETED) == 2
    await runtime.close()
