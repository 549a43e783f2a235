"""The sizes the store gives the log without walking the data are the sizes json_size gives (decision 0256)."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from registry_core.blocks.event_log import event_size
from registry_core.engines import STOP_REASONS, TokenUsage, TurnEngine, TurnResult
from registry_core.models import Event
from registry_core.page_bytes import json_size, text_size
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.event_sizes import turn_completed_data_size, turn_started_data_size
from runtime_registry.runtimes.embedded.memory_store import CONTENT_EVENT_DATA_BYTES, MemoryStore, worker_bytes
from runtime_registry.runtimes.embedded.settings import ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.transcript import ENTRY_ENVELOPE_BYTES

_ints = st.one_of(st.integers(), st.integers(min_value=10**18 - 3, max_value=10**18 + 3), st.booleans())
_stop_reasons = st.one_of(st.sampled_from(sorted(STOP_REASONS)), st.text(max_size=12))
_usage = st.one_of(
    st.none(),
    st.fixed_dictionaries({"input_tokens": st.integers(min_value=0), "output_tokens": st.integers(min_value=0)}),
    st.integers(),
    st.text(max_size=5),
)
_json_values = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans())


@given(_ints)
def test_a_turn_started_size_is_json_size(turn):
    assert turn_started_data_size(turn) == json_size({"turn": turn})


@given(_ints, _usage, _stop_reasons)
def test_a_turn_completed_size_is_json_size(turn, usage, stop_reason):
    data = {"turn": turn, "usage": usage, "stop_reason": stop_reason}
    assert turn_completed_data_size(data) == json_size(data)


@given(st.dictionaries(st.sampled_from(["turn", "usage", "stop_reason", "code", "reason"]), _json_values))
def test_any_other_shape_is_measured_by_json_size(data):
    assert turn_completed_data_size(data) == json_size(data)


def test_a_completed_turn_whose_usage_key_is_missing_is_measured_by_json_size():
    data = {"turn": 1, "stop_reason": "end_turn", "code": None}
    assert turn_completed_data_size(data) == json_size(data)


def _engine(name: str, reply, usage: TokenUsage | None = None, stop_reason: str = "end_turn") -> TurnEngine:
    async def run(turn):
        return TurnResult(reply(turn.input), usage=usage, stop_reason=stop_reason)

    return TurnEngine(name, run, description="replies", reads_history=False)  # type: ignore[arg-type]


ENGINES = {
    # The input itself, with usage: the same object as the input, measured once.
    "tokens": _engine("tokens", lambda text: text, TokenUsage(12, 3456789)),
    # Another text of another size: measured for itself, not taken for the input.
    "other": _engine("other", lambda text: "é" * (len(text) + 1) + '"', None, "max_tokens"),
}
TEXTS = ["hello", 'quo"te', "ümlaut \n", "🎉" * 3, "x" * 300, "hello", "\x01"]


def _size(event: Event) -> int:
    """An event's size as the store has always given it: its quoted text's size plus a bound, else json_size."""
    if event.type in ("worker.input_accepted", "worker.output"):
        data_size = CONTENT_EVENT_DATA_BYTES + text_size(event.data["content"])
        return event_size(event.type, event.worker_id, event.data, data_size)
    return event_size(event.type, event.worker_id, event.data)


def test_every_event_and_charge_of_the_memory_store_is_sized_as_json_size_sizes_it():
    """The log's sizes (what pages and the byte bound count) and the budget's charges are those of the
    events and entries as they are, whichever path measured them."""

    async def main() -> None:
        profiles = {
            "echo": ProfileSettings(base=ProfileBase.ECHO),
            "record": ProfileSettings(base=ProfileBase.DEFAULT),
            "tokens": ProfileSettings(engine="tokens"),
            "other": ProfileSettings(engine="other"),
        }
        settings = EmbeddedSettings(profiles=profiles, default_profile="echo")
        store = MemoryStore()
        runtime = EmbeddedRuntime(settings, store=store, event_start_id=1, engines={**BUILTIN_ENGINES, **ENGINES})
        await runtime.start()
        workers = []
        for profile in profiles:
            worker = (await runtime.create_worker(profile=profile)).worker
            workers.append(worker)
            for text in TEXTS:
                await runtime.send_input(worker.worker_id, text)
                for _ in range(3):
                    await asyncio.sleep(0)
                assert worker.status == "idle"
        log = store.events
        events = log.read(cursor=None, limit=10_000).events
        assert {event.type for event in events} >= {
            "worker.input_accepted",
            "worker.turn_started",
            "worker.output",
            "worker.turn_completed",
        }
        assert any(event.data.get("usage") for event in events if event.type == "worker.turn_completed")
        expected = [_size(event) for event in events]
        assert log._sizes[log._head :] == expected
        assert log.retained_bytes == sum(expected)
        entries = sum(
            ENTRY_ENVELOPE_BYTES + text_size(entry.content)
            for worker in workers
            for entry in worker.transcript.entries(start=1, limit=100)[0]
        )
        assert store.budget.used == sum(worker_bytes(worker) for worker in workers) + entries
        # One decision, one moment: the input's event and its turn's start carry the same time.
        accepted = [event for event in events if event.type == "worker.input_accepted"]
        started = [event for event in events if event.type == "worker.turn_started"]
        assert [event.created_at for event in accepted] == [event.created_at for event in started]
        await runtime.close()

    asyncio.run(main())
