"""Does the eager call guard (decision 0001) still pay? It against plain ``asyncio.timeout``, in one run.

Run: python tests/benchmarks/bench_call_guard.py   (about a minute)

The registry bounds every provider call in time. ``run_bounded`` starts the
call's coroutine itself and arms a timeout only if it suspends; the plain
alternative is ``async with asyncio.timeout(...)`` around every call. Both are
timed on the same server app in this process, their rounds interleaved:

- per HTTP request, through uvicorn's h11 protocol over a fake transport (as
  ``bench_http.py --in-process``): get worker and send input, CPU µs each;
- per registry call (as ``bench_dispatch.py``): ``get_worker`` of the
  embedded runtime, µs each, the loop running once every 50 calls.

The figures and what we decided from them are in docs/performance.md
("The call guard and the turn path", decision 0076).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_http  # noqa: E402

import runtime_registry.host.registry as registry_module  # noqa: E402
from runtime_registry.host.call_guard import run_bounded  # noqa: E402

ROUNDS = 15
REQUESTS = 1000
CALLS = 20_000


async def plain_timeout(coro, timeout):
    """The simple guard: a timer armed and cancelled around every call."""
    async with asyncio.timeout(timeout):
        return await coro


GUARDS = {"eager (run_bounded)": run_bounded, "plain asyncio.timeout": plain_timeout}


def use(guard) -> None:
    registry_module.run_bounded = guard


async def main() -> None:
    from runtime_registry.host import RegistryConfig, apply_environment, assemble
    from runtime_registry.server.app import create_app

    assembly = assemble(apply_environment(RegistryConfig()))
    app, registry = create_app(assembly=assembly), assembly.registry
    async with app.router.lifespan_context(app):
        connection = bench_http._Connection(app, server_header=False)
        body = b'{"content":"benchmark input"}'
        workers = f"/api/runtimes/{bench_http.RUNTIME}/workers"
        ids = [
            json.loads((await connection.request("POST", workers, b'{"label":"bench"}'))[1])["worker_id"]
            for _ in range(bench_http.WORKERS)
        ]
        scenarios = {
            "HTTP get worker": lambda i: ("GET", f"{workers}/{ids[0]}", b""),
            "HTTP send input (rotating)": lambda i: ("POST", f"{workers}/{ids[1 + i % (len(ids) - 1)]}/input", body),
        }
        print(f"best of {ROUNDS} interleaved rounds; HTTP: {REQUESTS} requests a round, CPU µs each")
        for name, make in scenarios.items():
            times: dict[str, list[float]] = {guard: [] for guard in GUARDS}
            for _ in range(ROUNDS):
                for guard, function in GUARDS.items():
                    use(function)
                    started = time.process_time()
                    for i in range(REQUESTS):
                        status, _ = await connection.request(*make(i))
                        await asyncio.sleep(0)  # let the turn an input started end, as between requests
                    times[guard].append((time.process_time() - started) / REQUESTS * 1e6)
                    assert status in (200, 202), (name, guard, status)
            report(name, times)
        times = {guard: [] for guard in GUARDS}
        for _ in range(ROUNDS):
            for guard, function in GUARDS.items():
                use(function)
                started = time.perf_counter()
                for call in range(CALLS):
                    await registry.get_worker(bench_http.RUNTIME, ids[0])
                    if call % 50 == 0:
                        # As a server does between requests: the loop runs and
                        # drops cancelled timers (else 20,000 pile up in its heap).
                        await asyncio.sleep(0)
                times[guard].append((time.perf_counter() - started) / CALLS * 1e6)
        report(f"registry get_worker (embedded), {CALLS} calls a round", times)
        use(run_bounded)


def report(name: str, times: dict[str, list[float]]) -> None:
    eager, plain = (min(times[guard]) for guard in GUARDS)
    print(f"\n{name}")
    for guard, samples in times.items():
        print(f"  {guard:<24} best {min(samples):7.2f} µs   median {statistics.median(samples):7.2f} µs")
    print(f"  the plain guard costs {plain - eager:+.2f} µs per call ({plain / eager:.3f}x the eager one)")


if __name__ == "__main__":
    asyncio.run(main())
