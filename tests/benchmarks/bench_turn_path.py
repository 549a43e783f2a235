"""What an instant turn costs as a task against an older revision's turn path, in one run.

Run: python tests/benchmarks/bench_turn_path.py [REVISION]   (default 15bb1e9; about a minute)

Decision 0051 made an instant turn a callback scheduled on the loop; decision
0076 made every turn a task again (one turn path, which turn engines need).
This loads ``runtimes/embedded/runtime.py`` as it was at REVISION (``git
show``) next to the current one and times ``POST .../input`` on one server app
in this process, switching the embedded runtime's class between the two from
round to round (their state is the same), through uvicorn's h11 protocol over
a fake transport as ``bench_http.py --in-process`` does. Get worker, which
starts no turn, is the control: its two sides should agree.

The figures and what we decided from them are in docs/performance.md
("The call guard and the turn path").
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_http  # noqa: E402

from runtime_registry.runtimes.embedded.runtime import EmbeddedRuntime  # noqa: E402

ROUNDS = 15
REQUESTS = 1000


def runtime_class_at(revision: str) -> type:
    """``EmbeddedRuntime`` as ``runtimes/embedded/runtime.py`` defined it at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:runtimes/embedded/runtime.py"],
        cwd=HERE,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("embedded_runtime_at_revision", file.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EmbeddedRuntime


async def main(revision: str) -> None:
    from runtime_registry.host import RegistryConfig, apply_environment, assemble
    from runtime_registry.server.app import create_app

    sides = {f"at {revision}": runtime_class_at(revision), "this checkout": EmbeddedRuntime}
    assembly = assemble(apply_environment(RegistryConfig()))
    app = create_app(assembly=assembly)
    async with app.router.lifespan_context(app):
        # The default configuration's one embedded runtime, found without
        # reaching into the registry's or the provider's internals.
        (runtime,) = (o for o in gc.get_objects() if type(o) is EmbeddedRuntime)
        connection = bench_http._Connection(app, server_header=False)
        body = b'{"content":"benchmark input"}'
        workers = f"/api/runtimes/{bench_http.RUNTIME}/workers"
        ids = [
            json.loads((await connection.request("POST", workers, b'{"label":"bench"}'))[1])["worker_id"]
            for _ in range(bench_http.WORKERS)
        ]
        scenarios = {
            "send input (rotating)": lambda i: ("POST", f"{workers}/{ids[1 + i % (len(ids) - 1)]}/input", body),
            "get worker (control: no turn)": lambda i: ("GET", f"{workers}/{ids[0]}", b""),
        }
        print(f"best of {ROUNDS} interleaved rounds of {REQUESTS} requests, CPU µs per request")
        for name, make in scenarios.items():
            times: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(ROUNDS):
                for side, cls in sides.items():
                    runtime.__class__ = cls
                    started = time.process_time()
                    for i in range(REQUESTS):
                        status, _ = await connection.request(*make(i))
                        await asyncio.sleep(0)  # let the turn end, as between requests
                    times[side].append((time.process_time() - started) / REQUESTS * 1e6)
                    assert status in (200, 202), (name, side, status)
            runtime.__class__ = EmbeddedRuntime
            print(f"\n{name}")
            for side, samples in times.items():
                print(f"  {side:<16} best {min(samples):7.1f} µs   median {statistics.median(samples):7.1f} µs")
            before, after = (min(times[side]) for side in sides)
            print(f"  this checkout: {after - before:+.1f} µs per request ({after / before:.3f}x)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "15bb1e9"))
