"""Streamed turns: the cost of a delta, delivery under load, event-loop lag, and what llm costs at startup.

Run: python tests/benchmarks/bench_turns.py [--workers 100] [--subscribers 50] [--seconds 5]

1. **Per-delta overhead** (in process, no sockets): an engine's ``emit`` → the
   coalescer → the event log's live publish → a stream's subscription →
   the SSE frame the server writes, against a bare ``asyncio.Queue``
   put/get of the same text, in the same run.
2. **Delivery under load** (real HTTP on loopback): the server (uvicorn, the
   real app) runs in a thread of this process; ``--workers`` workers stream
   50 pieces a second each for ``--seconds`` through a test engine, and
   ``--subscribers`` SSE clients in a child process read
   ``/events/stream``. Each piece carries the CLOCK_MONOTONIC time it was
   emitted (system-wide on Linux, so comparable across processes): latency
   is receipt minus emission of the newest piece in a delta (delivery) and of
   the oldest (delivery + coalescing wait). A task in the server's loop
   sleeps 10 ms at a time and records how late it wakes (event-loop lag).
3. **Startup**: wall time of ``runtime-registry check-config`` (a fresh
   interpreter: imports, plugin discovery, assembly) for the default
   configuration against one with an ``llm`` profile, interleaved; and which
   of ``llm``/``openai`` each imported.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PIECES_PER_SECOND = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. per-delta overhead ------------------------------------------------------


async def per_delta_overhead(count: int = 50_000) -> None:
    from registry_core import TurnEngine, TurnResult
    from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
    from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
    from runtime_registry.server.event_stream import _frame

    text = "a few words "
    done = asyncio.Event()
    frames = 0

    async def emitting(turn):
        for _ in range(count):
            turn.emit(text)
            turn.deltas.flush()  # one delta per piece: measure the path, not the coalescing
        done.set()
        return TurnResult(None)

    settings = EmbeddedSettings(
        profiles={"e": ProfileSettings(engine="emitting")}, default_profile="e", output_deltas_per_second=1000
    )
    runtime = EmbeddedRuntime(settings, engines={**BUILTIN_ENGINES, "emitting": TurnEngine("emitting", emitting)})
    live = runtime.events.subscribe()
    live._queue = __import__("collections").deque(maxlen=count + 10)  # keep every delta for this measurement
    worker = (await runtime.create_worker()).worker.worker_id
    started = time.perf_counter()
    await runtime.send_input(worker, "go")
    await done.wait()
    for event in live.take(up_to=2**62):
        _frame(event, "rt", stored=False)
        frames += 1
    ours = (time.perf_counter() - started) / count

    queue: asyncio.Queue[str] = asyncio.Queue()
    started = time.perf_counter()
    for _ in range(count):
        queue.put_nowait(text)
    for _ in range(count):
        queue.get_nowait()
    bare = (time.perf_counter() - started) / count
    await runtime.close()
    print(
        f"1. per delta, engine emit to SSE frame: {ours * 1e6:.2f} µs ({frames} frames); "
        f"bare asyncio.Queue put+get: {bare * 1e6:.2f} µs; ratio {ours / bare:.1f}x; "
        f"difference {(ours - bare) * 1e6:.2f} µs"
    )


# -- 2. delivery under load -------------------------------------------------------


def streaming_plugin(seconds: float) -> types.ModuleType:
    from registry_core import TurnEngine, TurnResult, hookimpl

    async def stream(turn):
        deadline = time.monotonic() + seconds
        interval = 1 / PIECES_PER_SECOND
        while time.monotonic() < deadline:
            turn.emit(f"{time.monotonic():.6f};")
            await asyncio.sleep(interval)
        return TurnResult("done")

    @hookimpl
    def register_turn_engines(register):
        register(TurnEngine("bench-stream", stream))

    # A module, as a real plugin is (pluggy needs plugins it can hash).
    plugin = types.ModuleType("test_engine_plugin")
    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    return plugin


def subscriber_process(port: int, subscribers: int, until: float, ready, results) -> None:
    """Child process: ``subscribers`` raw-socket SSE readers; reports latencies in ms."""

    async def read(latest: list[float], oldest: list[float], opened: asyncio.Event) -> None:
        # Cheap parsing (no JSON): the client must not be what is measured.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/runtimes/backend-internal/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        opened.set()
        pending = b""
        while time.monotonic() < until:
            try:
                chunk = await asyncio.wait_for(reader.read(262144), timeout=max(0.1, until - time.monotonic()))
            except TimeoutError:
                break
            if not chunk:
                break
            now = time.monotonic()
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b"data:") and b"output_delta" in line:
                    text = line.split(b'"text":"', 1)[1].split(b'"', 1)[0]
                    stamps = text.split(b";")
                    latest.append((now - float(stamps[-2])) * 1000)
                    oldest.append((now - float(stamps[0])) * 1000)
        writer.close()

    async def main() -> None:
        latest: list[float] = []
        oldest: list[float] = []
        flags = [asyncio.Event() for _ in range(subscribers)]
        tasks = [asyncio.create_task(read(latest, oldest, flag)) for flag in flags]
        await asyncio.gather(*(flag.wait() for flag in flags))
        ready.set()
        await asyncio.gather(*tasks)
        results.put({"latest": latest, "oldest": oldest})

    asyncio.run(main())


def delivery_under_load(workers: int, subscribers: int, seconds: float) -> None:
    import httpx
    import uvicorn

    from runtime_registry.host import assemble, discover_plugins, parse_config
    from runtime_registry.host.plugin_loading import DiscoveredPlugin
    from runtime_registry.server.app import create_app
    from tests.support.server_process import free_port

    config = parse_config(
        f'[server]\nstream_heartbeat_seconds = 5\n[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n'
        f"[runtimes.settings]\nmax_workers = {workers + 10}\n"
        '[runtimes.settings.profiles.stream]\nengine = "bench-stream"\nmax_turn_seconds = 600\n'
    )
    discovered = (*discover_plugins(), DiscoveredPlugin("bench", "1", "bench", load=lambda: streaming_plugin(seconds)))
    app = create_app(assembly=assemble(config, discovered=discovered, strict=True))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    lags: list[float] = []
    stop_lag = threading.Event()

    async def lag_monitor() -> None:
        while not stop_lag.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - started - 0.01) * 1000)

    async def serve() -> None:
        monitor = asyncio.create_task(lag_monitor())
        await server.serve()
        monitor.cancel()

    def run_server() -> None:
        if os.environ.get("BENCH_PROFILE"):  # where the server's time goes (its thread only)
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(asyncio.run, serve())
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        else:
            asyncio.run(serve())

    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    context = multiprocessing.get_context("spawn")
    ready, results = context.Event(), context.Queue()
    until = time.monotonic() + seconds + 30
    child = context.Process(target=subscriber_process, args=(port, subscribers, until, ready, results))
    child.start()
    ready.wait(30)
    base = f"http://127.0.0.1:{port}/api/runtimes/backend-internal"
    with httpx.Client(timeout=30) as api:
        ids = [api.post(f"{base}/workers", json={"profile": "stream"}).json()["worker_id"] for _ in range(workers)]
        lags.clear()
        for worker in ids:
            api.post(f"{base}/workers/{worker}/input", json={"content": "go"})
        time.sleep(seconds + 0.5)
        stop_lag.set()
        measured_lags = list(lags)
    report = results.get(timeout=60)
    child.join(30)
    server.should_exit = True
    thread.join(15)
    latest, oldest = report["latest"], report["oldest"]
    print(
        f"2. {workers} workers x {PIECES_PER_SECOND} pieces/s, {subscribers} SSE subscribers, {seconds:g} s: "
        f"{len(latest)} deltas received ({len(latest) / subscribers / seconds:.0f}/s per subscriber)"
    )
    print(
        f"   delivery latency (newest piece): p50 {percentile(latest, 0.5):.1f} ms, p99 {percentile(latest, 0.99):.1f} ms, max {max(latest):.1f} ms"
    )
    print(
        f"   with coalescing wait (oldest piece): p50 {percentile(oldest, 0.5):.1f} ms, p99 {percentile(oldest, 0.99):.1f} ms"
    )
    print(
        f"   event-loop lag: p50 {percentile(measured_lags, 0.5):.1f} ms, p99 {percentile(measured_lags, 0.99):.1f} ms, max {max(measured_lags):.1f} ms"
    )


# -- 3. startup -------------------------------------------------------------------


def startup(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        default = Path(folder) / "default.toml"
        default.write_text('[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n')
        with_llm = Path(folder) / "llm.toml"
        with_llm.write_text(
            '[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n'
            '[runtimes.settings.profiles.assistant]\nengine = "llm"\nmodel = "gpt-4o-mini"\n'
        )
        code = (
            "import sys, json; from runtime_registry.server.cli import main; sys.argv = ['runtime-registry', 'check-config', sys.argv[1]];"
            "import atexit; atexit.register(lambda: print(json.dumps(sorted({'llm', 'openai'} & set(sys.modules))), file=sys.stderr)); main()"
        )
        times: dict[str, list[float]] = {"default": [], "llm profile": []}
        imported: dict[str, str] = {}
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
        for _ in range(rounds):
            for name, path in (("default", default), ("llm profile", with_llm)):
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
                times[name].append((time.perf_counter() - started) * 1000)
                imported[name] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
        base = statistics.median(times["default"])
        for name, values in times.items():
            print(
                f"3. check-config, {name}: median {statistics.median(values):.0f} ms, best {min(values):.0f} ms "
                f"({statistics.median(values) / base:.2f}x); imported of llm/openai: {imported[name]}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--startup-rounds", type=int, default=7)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "load", "startup"])
    args = parser.parse_args()
    if "overhead" not in args.skip:
        asyncio.run(per_delta_overhead())
    if "load" not in args.skip:
        delivery_under_load(args.workers, args.subscribers, args.seconds)
    if "startup" not in args.skip:
        startup(args.startup_rounds)


if __name__ == "__main__":
    main()
