"""What a turn's engine is given of the transcript (decision 0121): the newest entries within the budget, read in pages."""

from __future__ import annotations

import json

import pytest

from registry_core import TurnEngine, TurnResult
from registry_core.blocks import Transcript
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.history import PAGE_ENTRIES, read_history, read_history_now

from .history_lag import ENTRIES, filled_runtime, measure
from .test_turns_always_end import until_idle


def transcript_of(*entries: tuple[str, str]) -> Transcript:
    transcript = Transcript()
    for index, (role, content) in enumerate(entries, start=1):
        transcript.append(role, content, index)
    return transcript


def contents(entries) -> list[str]:
    return [entry.content for entry in entries]


@pytest.mark.parametrize("read", ["paged", "now"])
async def test_the_newest_entries_that_fit_are_kept_and_the_oldest_dropped(read):
    transcript = transcript_of(*(("user", f"{i:03d}" + "x" * 96) for i in range(200)))  # 100 bytes each
    if read == "paged":
        history = await read_history(transcript, 200, 1050)
    else:
        history = read_history_now(transcript, 200, 1050)
    assert [e.sequence for e in history] == list(range(191, 201))


async def test_the_history_is_an_unbroken_tail_even_when_an_older_entry_would_fit():
    transcript = transcript_of(("user", "a"), ("assistant", "b" * 500), ("user", "c"))
    assert contents(await read_history(transcript, 3, 100)) == ["c"]


async def test_a_budget_of_zero_gives_no_history_and_a_large_one_everything():
    transcript = transcript_of(*(("user", str(i)) for i in range(PAGE_ENTRIES * 3 + 5)))
    assert await read_history(transcript, len(transcript), 0) == ()
    everything = await read_history(transcript, len(transcript), 1 << 20)
    assert [e.sequence for e in everything] == list(range(1, len(transcript) + 1))


async def test_only_entries_before_the_turns_input_are_read():
    transcript = transcript_of(("user", "one"), ("assistant", "two"), ("user", "the input"))
    assert contents(await read_history(transcript, 2, 1000)) == ["one", "two"]


async def test_a_tool_result_whose_call_was_dropped_is_dropped_too():
    call = json.dumps({"call_id": "c1", "name": "clock", "arguments": {}})
    result = json.dumps({"call_id": "c1", "name": "clock", "output": "12:00", "is_error": False})
    transcript = transcript_of(("user", "time?"), ("tool_call", call), ("tool_result", result), ("assistant", "noon"))
    budget = len(result) + len("noon")  # the result fits, its call does not
    assert contents(await read_history(transcript, 4, budget)) == ["noon"]


async def test_an_engine_is_given_the_history_within_its_profiles_budget():
    seen: list[list[str]] = []

    async def remember(turn):
        seen.append([e.content for e in turn.history])
        return TurnResult("r" * 10)

    settings = EmbeddedSettings(
        profiles={"p": ProfileSettings(engine="remember", max_history_bytes=25)},
        default_profile="p",
    )
    runtime = EmbeddedRuntime(settings, engines={**BUILTIN_ENGINES, "remember": TurnEngine("remember", remember)})
    worker = (await runtime.create_worker()).worker.worker_id
    for text in ("first-----", "second----", "third-----"):
        await runtime.send_input(worker, text)
        await until_idle(runtime, worker)
    assert seen == [[], ["first-----", "r" * 10], ["second----", "r" * 10]]
    # The transcript itself keeps everything.
    assert len(runtime.read_transcript(worker, start=1, limit=100).items) == 6


async def test_a_2000_entry_history_is_read_without_holding_the_loop(tmp_path):
    """Issue 17: 2,000 inputs of 4 KB held the loop ~140 ms in one piece.

    The longest step the loop runs while the turn reads them in pages (CPU
    time of the loop's thread between two ticks of a 1 ms ticker: preemption
    on this loaded machine does not inflate it) must be a small fraction of
    what the one-piece read of the same entries costs in the same run (a
    ratio, not a wall-clock bound; the figures, wall lag included, are in
    docs/performance.md, "History reads", from tests/benchmarks/bench_history.py).
    """
    runtime, worker = await filled_runtime(tmp_path)
    try:
        figures = await measure(runtime, worker)
    finally:
        await runtime.close()
    assert figures.entries_read == ENTRIES
    assert figures.paged_max_step_cpu < figures.whole_read_cpu / 3, figures
