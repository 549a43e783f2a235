"""Where a memory send input's CPU goes, layer by layer, in one process (issue 23, memory send input).

Run: python tests/benchmarks/bench_send_layers.py [rounds]
(another tree's code: ``cd / && PYTHONPATH=TREE python .../bench_send_layers.py``
with TREE laid out as installed; the last line says where the code came from)

The same app (``create_app`` over one embedded runtime on a memory store,
1,000 workers, uvloop) is driven five ways, one input at a time with a loop
step between inputs (so each turn ends before its worker's next input):

- **runtime**: ``EmbeddedRuntime.send_input`` (the store's decision, the
  events, the turn);
- **registry**: ``RuntimeRegistry.send_input`` (adds the call guard and the
  provider);
- **route**: the send-input route's ``handle`` with a scope the router would
  have made (adds the endpoint: the body, the answer);
- **router**: the app's dispatch, the route table over Starlette's router
  (adds matching; decision 0253);
- **app**: the whole ASGI app (adds the front door);
- **protocol**: the app behind uvicorn's httptools protocol over a fake
  transport (``bench_http.py``'s harness; adds parsing the request, writing
  the answer, and the harness's own client).

Each figure is CPU time per input, best and median of the rounds; the
differences between neighbours are what each layer adds. The metrics watcher
runs as in the server, so its share falls into every layer. Scopes are built
fresh per input (about 2 µs, measured and shown as **scope**). Figures and
their load average: docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.append(str(ROOT))
os.environ.setdefault("BENCH_STORE", "memory")

from tests.benchmarks import bench_http  # noqa: E402

INPUTS = 3000
BODY = b'{"content":"benchmark input"}'


async def _rounds(one: Callable[[int], Awaitable[None]], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for index in range(INPUTS):
            await one(index)
            await asyncio.sleep(0)  # the turn's step
        times.append((time.process_time() - started) / INPUTS * 1e6)
    times.sort()
    return times[0], times[len(times) // 2]


async def measure(rounds: int) -> dict[str, tuple[float, float]]:
    from registry_core.models import InputRequest
    from runtime_registry.host import assemble
    from runtime_registry.host.config import load_config
    from runtime_registry.server.app import create_app
    from runtime_registry.server.route_table import RouteTable

    assembly = assemble(load_config(bench_http._STACK_CONFIG))
    app = create_app(assembly=assembly, access_log=False)
    runtime_id = bench_http.RUNTIME
    async with app.router.lifespan_context(app):
        connection = bench_http._Connection(app, server_header=False)
        workers = f"/api/runtimes/{runtime_id}/workers"
        ids = [json.loads((await connection.request("POST", workers, b"{}"))[1])["worker_id"] for _ in range(1000)]
        registry = assembly.registry
        runtime = registry.provider(runtime_id).runtime  # type: ignore[attr-defined]
        request = InputRequest("benchmark input")
        route = next(r for r in app.routes if getattr(r, "path", "").endswith("/input"))
        headers = [(b"host", b"localhost"), (b"content-type", b"application/json"), (b"content-length", b"29")]

        def scope(index: int) -> dict[str, Any]:
            path = f"{workers}/{ids[index % 1000]}/input"
            return {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 5000),
                "scheme": "http",
                "method": "POST",
                "root_path": "",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": headers,
                "state": {},
                "app": app,
            }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        def answered(asgi: Callable[..., Awaitable[None]], routed: bool = False) -> Callable[[int], Awaitable[None]]:
            async def one(index: int) -> None:
                sent: list[dict[str, Any]] = []

                async def send(message: dict[str, Any]) -> None:
                    sent.append(message)

                made = scope(index)
                if routed:
                    made["path_params"] = {"runtime_id": runtime_id, "worker_id": ids[index % 1000]}
                await asgi(made, receive, send)
                assert sent[0]["status"] == 202, sent[0]

            return one

        async def runtime_call(index: int) -> None:
            await runtime.send_input(ids[index % 1000], "benchmark input")

        async def registry_call(index: int) -> None:
            await registry.send_input(runtime_id, ids[index % 1000], request)

        async def scope_only(index: int) -> None:
            scope(index)

        async def protocol(index: int) -> None:
            status, _ = await connection.request("POST", f"{workers}/{ids[index % 1000]}/input", BODY)
            assert status == 202

        layers: dict[str, Callable[[int], Awaitable[None]]] = {
            "scope": scope_only,
            "runtime": runtime_call,
            "registry": registry_call,
            "route": answered(route.handle, routed=True),
            "router": answered(RouteTable(app.router)),
            "app": answered(app),
            "protocol": protocol,
        }
        return {name: await _rounds(one, rounds) for name, one in layers.items()}


def main() -> None:
    import uvloop

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print(f"load average before: {os.getloadavg()}")
    uvloop.install()
    figures = asyncio.run(measure(rounds))
    print(f"load average after: {os.getloadavg()}")
    print(f"memory send input, CPU per input in one process (best and median of {rounds} rounds of {INPUTS}):")
    best = {name: figure[0] for name, figure in figures.items()}
    # What each layer adds, best against best; the three ASGI figures include building the scope.
    added = {
        "registry": best["registry"] - best["runtime"],
        "route": best["route"] - best["scope"] - best["registry"],
        "router": best["router"] - best["route"],
        "app": best["app"] - best["router"],
        "protocol": best["protocol"] - (best["app"] - best["scope"]),
    }
    for name, (low, median) in figures.items():
        more = f"  (+{added[name]:5.1f} µs)" if name in added else ""
        print(f"  {name:>9}: best {low:6.1f} µs  median {median:6.1f} µs{more}")
    # A before/after pair is only one if each side ran the code it meant to.
    print(f"runtime code from: {Path(sys.modules['runtime_registry.runtimes.embedded.runtime'].__file__).parent}")


if __name__ == "__main__":
    main()
