"""Embedded runtime: page costs at scale against a small baseline, and memory per worker and entry.

Run: python tests/benchmarks/bench_embedded.py

Scaling (issue 2): with 10,000 workers, a 100,000-entry transcript and
100,000 retained events, a worker-list page, a transcript page, an event poll
and a per-worker event poll must each stay within 1.5x of the same call on a
runtime with 100 workers, 100 entries and about 100 events. Both runtimes are
built and timed in this run, through the provider (what the registry calls).
So must a worker-list page of the large runtime after 4,900 deletes spread
over the list (decision 0065: tombstones, skip links, compaction).

Memory (tracemalloc): an idle worker <= 2 KiB; a transcript entry <= 250 B
beyond its content.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

from registry_core import CreateWorkerRequest, InputRequest
from registry_core.models import InputContent, ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileBase, ProfileSettings

PAGE = 100
CALLS = 2_000
ROUNDS = 7
RATIO_GOAL = 1.5


def make_provider(name: str) -> EmbeddedProvider:
    settings = EmbeddedSettings(
        max_workers=20_000,
        max_transcript_entries=200_000,
        event_retention=100_000,
        profiles={"echo-now": ProfileSettings(base=ProfileBase.ECHO)},
    )
    return EmbeddedProvider(name, settings)


async def populate(provider: EmbeddedProvider, *, workers: int, turns: int) -> tuple[str, str]:
    """``workers`` workers; one of them talks for ``turns`` echo turns (2 entries, 4 events each).

    Returns the talking worker and a quiet one. Every fourth turn another
    worker takes a turn too, so per-worker polls have other workers' events
    to step over.
    """
    talker = (await provider.create_worker(CreateWorkerRequest(profile=ProfileSelector("echo-now")))).worker_id
    other = (await provider.create_worker(CreateWorkerRequest(profile=ProfileSelector("echo-now")))).worker_id
    for _ in range(workers - 2):
        await provider.create_worker(CreateWorkerRequest())
    content = InputRequest(InputContent("x" * 40))
    runtime = provider.runtime
    for turn in range(turns):
        for worker_id in (talker, other) if turn % 4 == 0 else (talker,):
            await provider.send_input(worker_id, content)
            while runtime.get_worker(worker_id).turn is not None:
                await asyncio.sleep(0)
    return talker, other


async def per_call(call) -> float:
    """Seconds per call, best of ROUNDS."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            await call()
        best = min(best, (time.perf_counter() - started) / CALLS)
    return best


async def page_costs(provider: EmbeddedProvider, talker: str) -> dict[str, float]:
    """Each call reads a full page (``PAGE`` items) from the middle of the data, or as near as it allows."""
    runtime = provider.runtime
    held = len(runtime)
    # The cursor a client paging through the list would send, from the middle.
    worker_cursor = runtime.list_workers(limit=min(held // 2, held - PAGE - 1))[1] if held > PAGE + 1 else None
    total = len(runtime.get_worker(talker).transcript)
    start = max(1, min(total // 2, total - PAGE + 1))
    log = runtime.events
    event_cursor = min((log.first_id + log.last_id) // 2, log.last_id - PAGE)
    costs = {
        "worker-list page": (lambda: provider.list_workers(limit=PAGE, cursor=worker_cursor)),
        "transcript page": (lambda: provider.read_transcript(talker, start=start, limit=PAGE)),
        "event poll": (lambda: provider.read_events(cursor=event_cursor, limit=PAGE)),
        "per-worker event poll": (lambda: provider.read_events(cursor=event_cursor, limit=PAGE, worker_id=talker)),
    }
    for name, call in costs.items():
        page = await call()
        size = len(getattr(page, "items", None) or getattr(page, "events", ()))
        assert size == PAGE, f"{name}: the page holds {size} items, not {PAGE}"
    return {name: await per_call(call) for name, call in costs.items()}


async def scaling() -> bool:
    small, large = make_provider("small"), make_provider("large")
    started = time.perf_counter()
    small_talker, _ = await populate(small, workers=100, turns=50)
    large_talker, _ = await populate(large, workers=10_000, turns=50_000)
    built = time.perf_counter() - started
    small_rt, large_rt = small.runtime, large.runtime
    print(f"built in {built:.1f} s")
    for name, rt, talker in (("baseline", small_rt, small_talker), ("large", large_rt, large_talker)):
        print(
            f"  {name:8}: {len(rt):6} workers, {len(rt.get_worker(talker).transcript):6} transcript entries, "
            f"{len(rt.events):6} retained events (ids {rt.events.first_id}..{rt.events.last_id})"
        )
    base = await page_costs(small, small_talker)
    big = await page_costs(large, large_talker)
    print(f"\n{'call (limit 100)':24} {'baseline':>10} {'large':>10} {'ratio':>7}")
    met = True
    for name in base:
        ratio = big[name] / base[name]
        met &= ratio <= RATIO_GOAL
        print(f"{name:24} {base[name] * 1e6:8.1f}µs {big[name] * 1e6:8.1f}µs {ratio:6.2f}x")
    after_deletes = await page_after_deletes(large)
    ratio = after_deletes / base["worker-list page"]
    met &= ratio <= RATIO_GOAL
    print(
        f"{'list page, 49% deleted':24} {base['worker-list page'] * 1e6:8.1f}µs {after_deletes * 1e6:8.1f}µs {ratio:6.2f}x"
    )
    print(f"goal: every ratio <= {RATIO_GOAL}x -> {'MET' if met else 'MISSED'}")
    return met


async def page_after_deletes(provider: EmbeddedProvider) -> float:
    """A worker-list page from the middle after deleting every other worker of most of the list
    (4,900 of 10,000: just short of compaction, so the page steps over the most tombstones)."""
    runtime = provider.runtime
    first_page, _ = runtime.list_workers(limit=len(runtime))
    for worker in first_page[2:9_802:2]:
        await provider.delete_worker(worker.worker_id)
    held = len(runtime)
    _, cursor = runtime.list_workers(limit=held // 2)
    page = await provider.list_workers(limit=PAGE, cursor=cursor)
    assert len(page.items) == PAGE, f"the page holds {len(page.items)} items, not {PAGE}"
    # The first call walks the skip links and compresses them; the rest are the steady state.
    return await per_call(lambda: provider.list_workers(limit=PAGE, cursor=cursor))


def measure(build, count: int) -> float:
    """Bytes per item that ``build(count)`` allocates and keeps."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build(count)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / count


def _at_once(coroutine):
    """The result of a runtime operation over a memory store, which never suspends (no loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("a memory store's operation suspended")


def idle_workers(count: int) -> EmbeddedRuntime:
    # Retention 1: the event log's own (bounded) memory is not the workers'.
    runtime = EmbeddedRuntime(EmbeddedSettings(max_workers=count, event_retention=1))
    for _ in range(count):
        _at_once(runtime.create_worker(label="a display label"))
    return runtime


def transcript_entries(count: int) -> EmbeddedRuntime:
    runtime = EmbeddedRuntime(EmbeddedSettings(max_transcript_entries=count + 2, event_retention=1))
    transcript = _at_once(runtime.create_worker()).worker.transcript
    content = "shared content: its own size is not the entry's overhead"
    for event_id in range(1_000_000, 1_000_000 + count):
        transcript.append("user", content, event_id)
    return runtime


def memory() -> bool:
    per_worker = measure(idle_workers, 10_000)
    per_entry = measure(transcript_entries, 100_000)
    worker_ok, entry_ok = per_worker <= 2048, per_entry <= 250
    print(
        f"\nmemory per idle worker          : {per_worker:7.0f} B (goal <= 2048 B) -> {'MET' if worker_ok else 'MISSED'}"
    )
    print(
        f"memory per transcript entry     : {per_entry:7.0f} B beyond content (goal <= 250 B) -> {'MET' if entry_ok else 'MISSED'}"
    )
    return worker_ok and entry_ok


def main() -> None:
    scaled = asyncio.run(scaling())
    fits = memory()
    print(f"\nall goals {'MET' if scaled and fits else 'NOT all met'}")


if __name__ == "__main__":
    main()
