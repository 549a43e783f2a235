"""CPU per request through the ASGI app, ours versus a bare Starlette app, in one process and one run.

Run: python tests/benchmarks/bench_asgi.py

What it isolates: the app (middlewares, routing, the contract table's
endpoints, the registry, the embedded runtime, rendering) without HTTP
parsing, the kernel or a load generator, so that a loaded machine's noise
stays out of the figure as far as it can (CPU time of this process only).
Each request is one ASGI call with a complete scope, as uvicorn would make
it. The bare app is bench_http.py's: the same route shapes answering the very
bytes ours answered, parsing the input body as JSON, and nothing else.
Best of 7 interleaved rounds of 2,000 requests per scenario.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import BARE_APP_DEFINITION

from runtime_registry.server.app import create_app

RUNTIME = "backend-internal"
REQUESTS, ROUNDS = 2000, 7
INPUT = b'{"content":"benchmark input"}'


async def call(app: Any, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through ``app``'s ASGI interface; its status and body."""
    path, _, query = target.partition("?")
    headers = [(b"host", b"127.0.0.1:8000")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    received = False
    answer: dict[str, Any] = {"body": []}

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects mid-request here
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"].append(message.get("body", b""))

    await app(scope, receive, send)
    return answer["status"], b"".join(answer["body"])


async def _cpu_per_request(app: Any, make: Callable[[int], tuple[str, str, bytes]]) -> float:
    started = time.process_time()
    for i in range(REQUESTS):
        status, _ = await call(app, *make(i))
        await asyncio.sleep(0)  # let a turn started by an input run, as between requests
    assert status in (200, 202), status
    return (time.process_time() - started) / REQUESTS * 1e6


async def main() -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        workers = f"/api/runtimes/{RUNTIME}/workers"
        ids = [json.loads((await call(app, "POST", workers, b'{"label":"bench"}'))[1])["worker_id"] for _ in range(60)]
        chatty, rotating = ids[0], ids[2:]
        for _ in range(50):
            assert (await call(app, "POST", f"{workers}/{chatty}/input", INPUT))[0] == 202
            await asyncio.sleep(0)
        bodies = {
            "worker": (await call(app, "GET", f"{workers}/{ids[1]}"))[1],
            "accepted": (await call(app, "POST", f"{workers}/{ids[1]}/input", INPUT))[1],
            "workers": (await call(app, "GET", f"{workers}?limit=50"))[1],
            "transcript": (await call(app, "GET", f"{workers}/{chatty}/transcript?limit=50"))[1],
        }
        namespace: dict[str, Any] = {}
        exec(BARE_APP_DEFINITION, namespace)
        bare = namespace["build_bare_app"]({name: json.loads(text) for name, text in bodies.items()})
        scenarios: dict[str, Callable[[int], tuple[str, str, bytes]]] = {
            "get worker": lambda i: ("GET", f"{workers}/{ids[1]}", b""),
            "send input (rotating)": lambda i: ("POST", f"{workers}/{rotating[i % len(rotating)]}/input", INPUT),
            "list 50 workers": lambda i: ("GET", f"{workers}?limit=50", b""),
            "50-entry transcript page": lambda i: ("GET", f"{workers}/{chatty}/transcript?limit=50", b""),
        }
        print(
            f"ASGI calls in process, no HTTP parsing; best of {ROUNDS} interleaved rounds of {REQUESTS}; CPU µs per request"
        )
        print(f"{'scenario':<26} {'ours':>8} {'bare':>8} {'ours/bare':>10}")
        for name, make in scenarios.items():
            best = {"ours": float("inf"), "bare": float("inf")}
            for _ in range(ROUNDS):
                for side, target in (("bare", bare), ("ours", app)):
                    best[side] = min(best[side], await _cpu_per_request(target, make))
            print(f"{name:<26} {best['ours']:6.1f}µs {best['bare']:6.1f}µs {best['ours'] / best['bare']:10.2f}")


if __name__ == "__main__":
    asyncio.run(main())
