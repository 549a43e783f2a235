"""What the Host/Origin middleware costs per request, against calling the app below it directly.

Run: python tests/benchmarks/bench_browser_guard.py
Goal (decision 0060): well under a microsecond on the common request
(loopback Host, no Origin). The app below is a no-op coroutine, so the figure
is the middleware alone: its header scan, the policy checks and one extra
ASGI call. Requests carry the headers a browser-less client (curl) and a
browser send; best of several rounds, in ns per request.
"""

from __future__ import annotations

import asyncio
import time

from runtime_registry.server.middleware.browser_guard import BrowserGuardMiddleware
from runtime_registry.server.middleware.host_policy import HostPolicy
from runtime_registry.server.middleware.origin_policy import OriginPolicy

ROUNDS, REQUESTS = 7, 50_000

CURL_HEADERS = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"curl/8.5.0"), (b"accept", b"*/*")]
BROWSER_HEADERS = [
    (b"host", b"localhost:8000"),
    (b"connection", b"keep-alive"),
    (b"sec-ch-ua-platform", b'"Linux"'),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (b"accept", b"application/json"),
    (b"origin", b"http://localhost:8000"),
    (b"sec-fetch-site", b"same-origin"),
    (b"sec-fetch-mode", b"cors"),
    (b"sec-fetch-dest", b"empty"),
    (b"referer", b"http://localhost:8000/console"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"accept-language", b"en-GB,en;q=0.9"),
]


def scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": "/api/runtimes/backend-internal/workers",
        "root_path": "",
        "headers": headers,
    }


async def inner(scope, receive, send) -> None:
    return None


async def per_request_ns(app, request_scope) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for _ in range(REQUESTS):
            await app(request_scope, None, None)
        best = min(best, (time.perf_counter_ns() - started) / REQUESTS)
    return best


async def main() -> None:
    default = BrowserGuardMiddleware(inner, host_policy=HostPolicy(), origin_policy=OriginPolicy())
    with_cors = BrowserGuardMiddleware(
        inner, host_policy=HostPolicy(), origin_policy=OriginPolicy(["https://console.example"])
    )
    cases = {
        "curl GET, default settings": (default, scope("GET", CURL_HEADERS)),
        "curl POST, default settings": (default, scope("POST", CURL_HEADERS)),
        "browser same-origin POST": (default, scope("POST", BROWSER_HEADERS)),
        "curl GET, CORS configured": (with_cors, scope("GET", CURL_HEADERS)),
        "browser GET, CORS configured": (with_cors, scope("GET", BROWSER_HEADERS)),
    }
    print(f"best of {ROUNDS} rounds of {REQUESTS} requests, ns per request")
    print(f"{'request':<32} {'app alone':>9} {'guarded':>9} {'added':>7}")
    for name, (guarded, request_scope) in cases.items():
        alone = await per_request_ns(inner, request_scope)
        total = await per_request_ns(guarded, request_scope)
        print(f"{name:<32} {alone:7.0f}ns {total:7.0f}ns {total - alone:5.0f}ns")


if __name__ == "__main__":
    asyncio.run(main())
