"""Streamed turns: the cost of a delta, delivery under load, event-loop lag, and what llm costs at startup.

Run: python tests/benchmarks/bench_turns.py [--workers 100] [--subscribers 1 10 50 200] [--seconds 5]
     [--before TREE]

``--before TREE`` runs parts 1 and 2 twice per setting, alternately against
TREE (a package tree laid out as installed — ``runtime_registry/server`` etc.,
as ``.ci/check`` builds for mypy — of an older checkout) and against this one,
each in a fresh interpreter: before and after in the same run.

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
4. **serve to /healthz** (``--before`` compares with an older tree): wall time
   from starting ``runtime-registry serve`` to its first ``/healthz`` 200, with
   and without an ``llm`` profile, interleaved fresh processes.
3. **Startup**: wall time of ``runtime-registry check-config`` (a fresh
   interpreter: imports, plugin discovery, assembly) for the default
   configuration against one with an ``llm`` profile, interleaved; and which
   of ``llm``/``openai`` each imported.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
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
if os.environ.get("BENCH_TREE"):  # an older checkout's packages, for --before
    sys.path.insert(0, os.environ["BENCH_TREE"])

PIECES_PER_SECOND = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. per-delta overhead ------------------------------------------------------


async def per_delta_overhead(count: int = 20_000, rounds: int = 7) -> None:
    """Best of ``rounds``, in CPU time of this thread (time.thread_time): on a loaded
    machine wall time measures the neighbours."""
    from registry_core import TurnEngine, TurnResult
    from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
    from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
    from runtime_registry.server import event_stream

    # Asked of event_stream, not by importing live_fanout: with an older tree
    # first on sys.path, the editable install would still find this checkout's.
    if hasattr(event_stream, "_frame"):  # before: a frame cache in front of each stream's render
        _frame, LiveFanout = event_stream._frame, None
    else:  # this checkout: the per-runtime fan-out renders each live event once
        from runtime_registry.server.live_fanout import LiveFanout, LiveReader

    text = "a few words "

    async def one_round() -> tuple[float, float, float, int]:
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
        # Awaited since the store seam (issue 17); plain calls in older trees (--before).
        created = runtime.create_worker()
        worker = (await created if inspect.isawaitable(created) else created).worker.worker_id
        started = time.thread_time()
        accepted = runtime.send_input(worker, "go")
        if inspect.isawaitable(accepted):
            await accepted
        await done.wait()
        emitted = time.thread_time()
        if LiveFanout is not None:
            fanout = LiveFanout(live, "rt", batch_seconds=0, ring_size=count + 10)
            reader = LiveReader(fanout, 0)
            fanout.add(live.take(up_to=2**62))
            frames = reader.take(up_to=2**62).count(b"event: ")
        else:
            for event in live.take(up_to=2**62):
                _frame(event, "rt", stored=False)
                frames += 1
        ended = time.thread_time()
        queue: asyncio.Queue[str] = asyncio.Queue()
        bare_started = time.thread_time()
        for _ in range(count):
            queue.put_nowait(text)
        for _ in range(count):
            queue.get_nowait()
        bare = (time.thread_time() - bare_started) / count
        await runtime.close()
        return (ended - started) / count, (ended - emitted) / count, bare, frames

    results = [await one_round() for _ in range(rounds)]
    ours = min(r[0] for r in results)
    render = min(r[1] for r in results)
    bare = min(r[2] for r in results)
    print(
        f"1. per delta, engine emit to SSE frame: {ours * 1e6:.2f} µs (of which rendering {render * 1e6:.2f} µs; "
        f"{results[0][3]} frames); bare asyncio.Queue put+get: {bare * 1e6:.2f} µs; ratio {ours / bare:.1f}x; "
        f"CPU time, best of {rounds}"
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
        f'[runtimes.settings]\nmax_workers = {workers + 10}\n[runtimes.settings.store]\nbackend = "memory"\n'
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
        # The server thread's own CPU time (not wall time): what it cost,
        # whatever the neighbours on the machine take.
        server_clock = time.pthread_getcpuclockid(thread.ident)
        lags.clear()
        cpu_started = time.clock_gettime(server_clock)
        for worker in ids:
            api.post(f"{base}/workers/{worker}/input", json={"content": "go"})
        time.sleep(seconds + 0.5)
        server_cpu = time.clock_gettime(server_clock) - cpu_started
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
    print(
        f"   server CPU: {server_cpu:.2f} s in {seconds + 0.5:g} s ({server_cpu / (seconds + 0.5):.0%} of a core); "
        f"{server_cpu / max(1, len(latest)) * 1e6:.1f} µs per delta delivered to one subscriber"
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


def serve_startup(rounds: int, before: str | None) -> None:
    """Wall time from starting ``runtime-registry serve`` to its first ``/healthz`` 200, with and without an llm profile.

    Interleaved fresh processes; with ``before``, the older tree's serve too
    (its packages first on ``PYTHONPATH``).
    """
    from tests.support.server_process import free_port, healthz_status, serve_command

    with tempfile.TemporaryDirectory() as folder:
        configs = {}
        for name, profile in (
            ("default", ""),
            ("llm profile", '[runtimes.settings.profiles.assistant]\nengine = "llm"\nmodel = "gpt-4o-mini"\n'),
        ):
            path = Path(folder) / f"{name.replace(' ', '-')}.toml"
            path.write_text(
                '[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n[runtimes.settings.store]\nbackend = "memory"\n'
                + profile
            )
            configs[name] = path
        trees = {"after": ""} if before is None else {"before": before, "after": ""}
        times: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in configs}
        for _ in range(rounds):
            for tree_name, tree in trees.items():
                for config_name, path in configs.items():
                    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNTIME_REGISTRY_")}
                    env.pop("BENCH_TREE", None)
                    if tree:
                        env["PYTHONPATH"] = tree
                    port = free_port()
                    command = serve_command("--host", "127.0.0.1", "--port", str(port), "--config", str(path))
                    started = time.perf_counter()
                    process = subprocess.Popen(
                        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    try:
                        while healthz_status(port) != 200:
                            if process.poll() is not None:
                                raise SystemExit(f"serve exited with {process.returncode} ({tree_name}, {config_name})")
                            time.sleep(0.005)
                        times[(tree_name, config_name)].append((time.perf_counter() - started) * 1000)
                    finally:
                        process.terminate()
                        process.wait(15)
        for tree_name in trees:
            base = statistics.median(times[(tree_name, "default")])
            for config_name in configs:
                values = times[(tree_name, config_name)]
                print(
                    f"4. serve to /healthz 200, {tree_name}, {config_name}: median {statistics.median(values):.0f} ms, "
                    f"best {min(values):.0f} ms ({statistics.median(values) / base:.2f}x of default)"
                )


def compare(before: str, args: argparse.Namespace) -> None:
    """Parts 1 and 2 against ``before`` and this checkout, alternately, each in a fresh interpreter."""
    script = str(Path(__file__).resolve())
    for subscribers in args.subscribers:
        for label, tree in (("before", before), ("after", "")):
            skip = ["startup", "serve"] if subscribers == args.subscribers[0] else ["startup", "serve", "overhead"]
            command = [sys.executable, script, "--workers", str(args.workers), "--seconds", str(args.seconds)]
            command += ["--subscribers", str(subscribers), "--skip", *skip]
            load = os.getloadavg()
            print(f"--- {label}, {subscribers} subscribers (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
            env = {key: value for key, value in os.environ.items() if key != "BENCH_TREE"}
            if tree:
                env["BENCH_TREE"] = tree
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd="/")
            print(done.stdout.rstrip() or done.stderr[-2000:], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[50])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--startup-rounds", type=int, default=7)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "load", "startup", "serve"])
    parser.add_argument("--before", help="a package tree of an older checkout to compare with (parts 1 and 2)")
    args = parser.parse_args()
    if args.before:
        if "serve" not in args.skip:
            serve_startup(args.startup_rounds, args.before)
        if "load" not in args.skip:
            compare(args.before, args)
        return
    if "overhead" not in args.skip:
        asyncio.run(per_delta_overhead())
    if "load" not in args.skip:
        for subscribers in args.subscribers:
            delivery_under_load(args.workers, subscribers, args.seconds)
    if "startup" not in args.skip:
        startup(args.startup_rounds)
    if "serve" not in args.skip:
        serve_startup(args.startup_rounds, None)


if __name__ == "__main__":
    main()
