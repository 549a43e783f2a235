"""What ``/metrics`` costs a request: the app with its metrics against the same app without them, one run.

Run: python tests/benchmarks/bench_metrics_overhead.py

Two apps from ``create_app``, each with its own embedded runtime on a memory
store (so the two share no file and the store's commit is not in the
figure). The *metrics-off* app is the same app less what exists only for
``/metrics``: the HTTP middleware that counts requests and times them
(``ObserveMiddleware``; the access log is off in both, as ``create_app``'s
default) and the per-runtime turn followers (its ``RuntimeWatch`` watches
statuses only, as with no metrics). The measure is bench_asgi.py's: CPU time
of this process per ASGI call, no HTTP parsing, best of interleaved rounds.
Inputs start turns, so the turn followers' work (reading each runtime's
event feed and counting turns, tokens and durations) is in the "send input"
figure.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_asgi import INPUT, _cpu_per_request, call

RUNTIME = "backend-internal"
ROUNDS = 9
CONFIG = f"""
[[runtimes]]
id = "{RUNTIME}"
kind = "embedded"
[runtimes.settings]
max_workers = 10000
[runtimes.settings.store]
backend = "memory"
"""


def build(metrics: bool) -> Any:
    from runtime_registry.host import parse_config
    from runtime_registry.server import app as app_module
    from runtime_registry.server.observe.http import ObserveMiddleware
    from runtime_registry.server.observe.watch import RuntimeWatch

    if metrics:
        return app_module.create_app(parse_config(CONFIG))
    original = app_module.RuntimeWatch
    app_module.RuntimeWatch = lambda registry, _metrics: RuntimeWatch(registry, None)  # type: ignore[assignment,misc]
    try:
        app = app_module.create_app(parse_config(CONFIG))
    finally:
        app_module.RuntimeWatch = original  # type: ignore[misc]
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ObserveMiddleware]
    return app


async def prepared(app: Any) -> dict[str, Callable[[int], tuple[str, str, bytes]]]:
    workers = f"/api/runtimes/{RUNTIME}/workers"
    ids = [json.loads((await call(app, "POST", workers, b'{"label":"bench"}'))[1])["worker_id"] for _ in range(60)]
    chatty, rotating = ids[0], ids[2:]
    for _ in range(50):
        status, body = await call(app, "POST", f"{workers}/{chatty}/input", INPUT)
        assert status == 202, body
        for _ in range(20):  # the turn ends within a few loop steps
            await asyncio.sleep(0)
    return {
        "get worker": lambda i: ("GET", f"{workers}/{ids[1]}", b""),
        "send input (rotating)": lambda i: ("POST", f"{workers}/{rotating[i % len(rotating)]}/input", INPUT),
        "list 50 workers": lambda i: ("GET", f"{workers}?limit=50", b""),
        "50-entry transcript page": lambda i: ("GET", f"{workers}/{chatty}/transcript?limit=50", b""),
    }


async def main() -> None:
    on, off = build(metrics=True), build(metrics=False)
    async with on.router.lifespan_context(on), off.router.lifespan_context(off):
        scenarios = {"on": await prepared(on), "off": await prepared(off)}
        apps = {"on": on, "off": off}
        print(f"ASGI calls in process; best of {ROUNDS} interleaved rounds; CPU µs per request")
        print(f"{'scenario':<26} {'metrics':>8} {'off':>8} {'on/off':>8}")
        for name in scenarios["on"]:
            best = {"on": float("inf"), "off": float("inf")}
            for _ in range(ROUNDS):
                for side in ("off", "on"):
                    best[side] = min(best[side], await _cpu_per_request(apps[side], scenarios[side][name]))
            print(f"{name:<26} {best['on']:6.1f}µs {best['off']:6.1f}µs {best['on'] / best['off']:8.2f}")
        # The scrape itself is not on a request's path, but it is what an operator pays every interval.
        scrape = {"on": float("inf")}
        for _ in range(ROUNDS):
            scrape["on"] = min(scrape["on"], await _cpu_per_request(on, lambda i: ("GET", "/metrics", b"")))
        print(f"{'GET /metrics (a scrape)':<26} {scrape['on']:6.1f}µs")


if __name__ == "__main__":
    asyncio.run(main())
