"""Reads on every store against the bare app, in one run (issue 23: get worker and list >= 0.85x bare).

Run: python tests/benchmarks/bench_reads.py   (needs wrk; about two minutes; BENCH_ROUNDS, BENCH_DURATION)

Four servers run side by side under uvicorn (httptools + uvloop, no access
log): the real server with its default runtime on the memory store, on SQLite
``batched`` and on SQLite ``acknowledged``, and ``bench_http.py``'s bare
Starlette app answering the bytes the memory server answered. Each scenario
runs bare, memory, batched, acknowledged, bare, ... for ``BENCH_ROUNDS``
rounds of ``wrk -t1 -c16``; the table gives each side's median requests/s,
its ratio to the bare app's, and the server process's CPU per request
(user + system time over the requests it answered: on a shared machine the
steadier figure).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_http import RUNTIME, STACK_TABLE, bare_server, prepare, runtime_config, wrk  # noqa: E402
from tests.support.server_process import free_port, serve_command, started, wait_until_healthy  # noqa: E402

STORES = ("memory", "batched", "acknowledged")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(url: str, pid: int) -> tuple[float, float]:
    """Requests/s of one wrk run against ``url`` and the server's CPU µs per request over it."""
    before = cpu_seconds(pid)
    rps, _, errors = wrk(url)
    assert errors == 0, url
    spent = cpu_seconds(pid) - before
    duration = float(os.environ.get("BENCH_DURATION", "4s").rstrip("s"))
    return rps, spent / (rps * duration) * 1e6


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    servers: dict[str, tuple[str, int]] = {}
    with contextlib.ExitStack() as stack:
        for store in STORES:
            directory = scratch / store
            directory.mkdir()
            (directory / "registry.toml").write_text(STACK_TABLE + runtime_config(store))
            port = free_port()
            process = stack.enter_context(
                started(
                    serve_command(
                        "--config",
                        str(directory / "registry.toml"),
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ),
                    cwd=ROOT,
                    env={**os.environ, "RUNTIME_REGISTRY_DATA_DIR": str(directory)},
                )
            )
            wait_until_healthy(process, port)
            servers[store] = (f"http://127.0.0.1:{port}", process.pid)
        bodies = {store: prepare(base)[0] for store, (base, _) in servers.items()}
        some_worker = {store: json.loads(bodies[store]["worker"])["worker_id"] for store in STORES}
        bodies_file = scratch / "bodies.json"
        bodies_file.write_text(json.dumps(bodies["memory"]))
        bare_port = free_port()
        bare_process = stack.enter_context(started(bare_server(bodies_file, bare_port), cwd=ROOT))
        wait_until_healthy(bare_process, bare_port)
        servers["bare"] = (f"http://127.0.0.1:{bare_port}", bare_process.pid)

        scenarios = {
            "get worker": lambda side: (
                f"/api/runtimes/{RUNTIME}/workers/{some_worker.get(side, some_worker['memory'])}"
            ),
            "list 50 workers": lambda side: f"/api/runtimes/{RUNTIME}/workers?limit=50",
        }
        sides = ("bare", *STORES)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for name, path_of in scenarios.items():
            for _ in range(ROUNDS):
                for side in sides:
                    base, pid = servers[side]
                    results.setdefault((name, side), []).append(measured(base + path_of(side), pid))

    print(
        f"\nwrk -t1 -c16 -d{os.environ.get('BENCH_DURATION', '4s')}, uvicorn (httptools + uvloop), "
        f"median of {ROUNDS} interleaved rounds; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'scenario':<16} {'side':<13} {'req/s':>7} {'x bare':>7} {'CPU µs/req':>11} {'bare/ours CPU':>14}")
    for name in scenarios:
        bare_rps = statistics.median(r for r, _ in results[(name, "bare")])
        bare_cpu = statistics.median(c for _, c in results[(name, "bare")])
        for side in sides:
            rps = statistics.median(r for r, _ in results[(name, side)])
            cpu = statistics.median(c for _, c in results[(name, side)])
            print(f"{name:<16} {side:<13} {rps:>7.0f} {rps / bare_rps:>7.2f} {cpu:>11.1f} {bare_cpu / cpu:>14.2f}")


if __name__ == "__main__":
    main()
