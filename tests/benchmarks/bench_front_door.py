"""What the server's request checks and its HTTP protocol add to a request, in process (issue 23, reads).

Run: python tests/benchmarks/bench_front_door.py [--before TREE]

Two figures, each the best of many short rounds of CPU time (the machine is
shared: the best round is the one least disturbed):

- **checks**: the middleware ``create_app`` installs (decision 0250: one front
  door), wrapped around an app that answers ``{}`` at once, against that app
  alone, for a ``GET`` with the headers wrk sends; the difference is what the
  checks cost a request;
- **protocol**: our uvicorn protocol (``protocol_class("httptools")``: the
  head timer, the head bound, the head written with its body) against
  uvicorn's own httptools protocol, over a transport that only collects
  writes, answering the same app; the difference is what ours adds in
  Python (it saves a ``send`` system call per answer on a real socket,
  which this does not see).

``--before TREE`` measures an older checkout too (laid out as installed
packages: ``registry_core/``, ``runtime_registry/`` with ``server/``,
``runtimes/`` and ``plugins/`` inside it), in a child process per round,
alternating with this checkout, so both sides share the machine's moments.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
# Appended, not prepended: an older tree on PYTHONPATH keeps its own packages first.
sys.path.append(str(ROOT))

from tests.benchmarks.bench_http import _Transport  # noqa: E402

ROUNDS = 150
REQUESTS_PER_ROUND = 300
#: What wrk sends.
REQUEST = b"GET /api/runtimes/backend-internal/workers/w1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-length", b"2"), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def _best_cpu_us(request: Any) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(REQUESTS_PER_ROUND):
            await request()
        best = min(best, (time.process_time() - started) / REQUESTS_PER_ROUND * 1e6)
    return best


class _Route:
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}"


async def _checks_us() -> float:
    from runtime_registry.server.app import create_app

    app: Any = _answer
    for middleware in reversed(create_app(access_log=False).user_middleware):
        app = middleware.cls(app, *middleware.args, **middleware.kwargs)
    headers = [(b"host", b"127.0.0.1:8000")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def sink(message: Any) -> None:
        return None

    def scope() -> dict[str, Any]:
        path = "/api/runtimes/backend-internal/workers/w1"
        return {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "http_version": "1.1",
            "route": _Route,  # as Starlette's router leaves it for the metrics
        }

    checked = await _best_cpu_us(lambda: app(scope(), receive, sink))
    alone = await _best_cpu_us(lambda: _answer(scope(), receive, sink))
    return checked - alone


async def _protocol_request_us(protocol_type: Any) -> float:
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(_answer, log_config=None, access_log=False, lifespan="off", http="httptools")
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 07 Dec 2026 12:00:00 GMT")]
    loop = asyncio.get_running_loop()
    protocol = protocol_type(config, state, {}, loop)
    transport = _Transport()
    protocol.connection_made(transport)
    answered: list[asyncio.Future[None]] = []
    complete = protocol.on_response_complete

    def on_response_complete() -> None:
        complete()
        answered.pop().set_result(None)

    protocol.on_response_complete = on_response_complete

    async def request() -> None:
        done = loop.create_future()
        answered.append(done)
        transport.written.clear()
        protocol.data_received(REQUEST)
        await done

    return await _best_cpu_us(request)


async def _protocol_us() -> float:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from runtime_registry.server.http_protocol import protocol_class

    ours = await _protocol_request_us(protocol_class("httptools", header_timeout_seconds=10))
    theirs = await _protocol_request_us(HttpToolsProtocol)
    return ours - theirs


def _measure() -> None:
    """One round of both figures, printed as ``checks protocol`` (the child's answer)."""
    checks = asyncio.run(_checks_us())
    protocol = asyncio.run(_protocol_us())
    print(f"{checks:.3f} {protocol:.3f}")


def _round(tree: str | None) -> tuple[float, float]:
    environment = dict(os.environ)
    if tree is not None:
        environment["PYTHONPATH"] = tree
    output = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        env=environment,
        cwd=tree or None,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(output[0]), float(output[1])


def main(before: str | None, rounds: int = 3) -> None:
    print(f"load average before: {os.getloadavg()}")
    sides: dict[str, str | None] = (
        {"this checkout": None} if before is None else {"before": before, "this checkout": None}
    )
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, tree in sides.items():
            results[name].append(_round(tree))
    print(f"CPU µs per request, best of {ROUNDS} rounds of {REQUESTS_PER_ROUND}, median of {rounds} runs")
    print(f"{'side':<15} {'checks':>8} {'protocol':>9}")
    for name, runs in results.items():
        checks = statistics.median(c for c, _ in runs)
        protocol = statistics.median(p for _, p in runs)
        print(f"{name:<15} {checks:8.2f} {protocol:9.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        _measure()
    else:
        arguments = sys.argv[1:]
        main(arguments[arguments.index("--before") + 1] if "--before" in arguments else None)
