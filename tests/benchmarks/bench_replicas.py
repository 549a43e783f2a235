"""Replicas on PostgreSQL against one process on SQLite, in one run (issue 18).

Run: python tests/benchmarks/bench_replicas.py   (needs wrk; about three minutes)
     BENCH_BEFORE=TREE ... also measures part 1 on a replica of an older checkout (same run)

1. One replica on PostgreSQL against one server on SQLite (``acknowledged``):
   get worker and send input (rotating over 1,000 workers), wrk ``-t1 -c16``,
   requests/s and each server's CPU per request. Goal: PostgreSQL >= 0.5x
   SQLite on send input.
2. Two replicas against one on the same database, send input: two wrk
   processes at ``-c8`` (one per replica) against one at ``-c16``; total
   requests/s and CPU per request of each replica (with the database's
   processes' CPU per request, read from ``/proc``), from which the scaling on
   a machine with enough cores is projected.
3. Cross-replica cancel latency: a turn runs on replica A; the cancel is sent
   to replica B; measured from sending it to the ``worker.turn_cancelled``
   frame on an SSE stream of replica A (the replay that also cancels A's task).
4. Live delta latency (in this process: two replicas' stores, a streaming
   engine on A, a subscriber on B): from ``emit`` on A to the delta on B.

The PostgreSQL server is a throwaway one (tests/support/pg_server.py) with its
durability settings at their defaults (``fsync``, ``synchronous_commit`` on),
as SQLite's ``acknowledged`` syncs every commit. Each comparison alternates
its sides over ``BENCH_ROUNDS`` rounds; medians are reported, since the
machine is shared and its load drifts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_http import DURATION, ROUNDS  # noqa: E402

from tests.support.pg_server import PgServer, throwaway_server  # noqa: E402
from tests.support.server_process import free_port, serve_command, started, wait_until_healthy  # noqa: E402

RUNTIME = "backend-internal"
WORKERS = 1000
DSN_ENV = "RR_BENCH_PG_DSN"
#: Default durability; room for the replicas' pools.
BENCH_PG_SETTINGS = {"max_connections": "200", "shared_buffers": "64MB"}
if os.environ.get("BENCH_PG_SYNC") == "off":
    # To tell the cost of the commit's flush from the rest (not a setting to run with).
    BENCH_PG_SETTINGS["synchronous_commit"] = "off"
PIDS: dict[str, int] = {}
#: ``BENCH_BEFORE=TREE``: also measure part 1 on a replica of an older checkout, in the same run
#: (TREE laid out as installed, as ``.ci/check`` builds it for mypy: ``TREE/runtime_registry/server`` ...).
BEFORE = os.environ.get("BENCH_BEFORE", "")


def config(folder: Path, store: str) -> Path:
    text = f"""
[[runtimes]]
id = "{RUNTIME}"
kind = "embedded"
[runtimes.settings]
max_workers = 100000
[runtimes.settings.profiles.hold]
base = "builtin:echo"
reply_delay_seconds = 60.0
[runtimes.settings.store]
{store}
"""
    path = folder / f"config-{abs(hash(store))}.toml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def server(config_path: Path, folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    home = folder / f"server-{port}"
    home.mkdir()
    arguments = ["--port", str(port), "--log-level", "warning", "--no-access-log", "--config", str(config_path)]
    environ = {**os.environ, **(env or {})}
    with started(serve_command(*arguments), cwd=home, env=environ) as process:
        wait_until_healthy(process, port)
        url = f"http://127.0.0.1:{port}"
        PIDS[url] = process.pid
        yield url


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(pg: PgServer) -> float:
    """CPU seconds of this cluster's processes: the postmaster and its children (pooled backends stay alive)."""
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_of(postmaster)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    total += cpu_of(int(entry.name))
            except OSError:
                continue
    return total


def make_workers(url: str) -> list[str]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [client.post(f"/api/runtimes/{RUNTIME}/workers", json={}).json()["worker_id"] for _ in range(WORKERS)]


def run_wrk(target: str, ids_file: Path | None, connections: int) -> tuple[float, float, int]:
    script: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    if ids_file is not None:
        # The rotation, and the count of each non-2xx status (printed at the end).
        script = ("-s", str(HERE / "rotate_post_statuses.lua"))
        args = (str(ids_file), f"/api/runtimes/{RUNTIME}/workers")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{DURATION}", "--latency", *script, target]
    if args:
        command += ["--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    import bench_http

    statuses = re.findall(r"^status (\d+): (\d+)$", output, re.M)
    if statuses:
        print("  non-2xx by status:", ", ".join(f"{code}: {count}" for code, count in statuses))
    non_2xx = bench_http._NON_2XX.search(output)
    return float(bench_http._RPS.search(output).group(1)), 0.0, int(non_2xx.group(1)) if non_2xx else 0


def measured(
    urls: list[str], target_of, ids_file: Path | None, pg: PgServer | None
) -> tuple[float, list[float], float]:  # type: ignore[no-untyped-def]
    """wrk against each of ``urls`` at once (16 connections split between them): total req/s, CPU ms per request of each server, and of PostgreSQL."""
    before = [cpu_of(PIDS[u]) for u in urls]
    pg_before = postgres_cpu(pg) if pg is not None else 0.0
    results: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(urls)

    def one(index: int) -> None:
        results[index] = run_wrk(target_of(urls[index]), ids_file, 16 // len(urls))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total_rps = sum(r[0] for r in results)
    requests = total_rps * float(DURATION.rstrip("s"))
    cpu = [
        (cpu_of(PIDS[u]) - b) / (results[n][0] * float(DURATION.rstrip("s"))) * 1000
        for n, (u, b) in enumerate(zip(urls, before, strict=True))
    ]
    pg_cpu = (postgres_cpu(pg) - pg_before) / requests * 1000 if pg is not None else 0.0
    errors = sum(r[2] for r in results)
    if errors:
        print(f"  ({errors} non-2xx)")
    return total_rps, cpu, pg_cpu


def main() -> None:
    median = statistics.median
    print(
        f"wrk -t1 -c16 -d{DURATION}, median of {ROUNDS} interleaved rounds; loopback, 2 shared cores; load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as scratch, throwaway_server(BENCH_PG_SETTINGS) as pg:
        folder = Path(scratch)
        os.chmod(folder, 0o755)
        env = {DSN_ENV: pg.dsn(pg.create_database("bench"))}
        pg_config = config(folder, f'backend = "postgres"\ndsn_env = "{DSN_ENV}"\nlease_seconds = 10')
        sqlite_config = config(folder, 'backend = "sqlite"')
        with (
            server(sqlite_config, folder) as lite,
            server(pg_config, folder, env) as a,
            server(pg_config, folder, env) as b,
            contextlib.ExitStack() as stack,
        ):
            lite_ids, pg_ids = make_workers(lite), make_workers(a)
            lite_file, pg_file = folder / "lite.txt", folder / "pg.txt"
            lite_file.write_text("\n".join(lite_ids))
            pg_file.write_text("\n".join(pg_ids))
            sides = [("sqlite", lite, lite_ids[0], lite_file), ("postgres", a, pg_ids[0], pg_file)]
            if BEFORE:
                # An older tree's replica, on a database of its own (its schema version may differ).
                before_env = {DSN_ENV: pg.dsn(pg.create_database("before")), "PYTHONPATH": BEFORE}
                old = stack.enter_context(server(pg_config, folder, before_env))
                old_ids = make_workers(old)
                old_file = folder / "before.txt"
                old_file.write_text("\n".join(old_ids))
                sides.append(("postgres before", old, old_ids[0], old_file))

            # 1. PostgreSQL against SQLite, one process each.
            for name, ids, files in (("get worker", None, None), ("send input", True, True)):
                rows: dict[str, list[tuple[float, float, float]]] = {side[0]: [] for side in sides}
                for _ in range(ROUNDS):
                    for side, url, worker, ids_file in sides:
                        target = (
                            (lambda u, w=worker: f"{u}/api/runtimes/{RUNTIME}/workers/{w}")
                            if ids is None
                            else (lambda u: u + "/")
                        )
                        rps, cpu, pg_cpu = measured(
                            [url], target, ids_file if files else None, pg if side != "sqlite" else None
                        )
                        rows[side].append((rps, cpu[0], pg_cpu))
                lite_rps, pg_rps = median(r[0] for r in rows["sqlite"]), median(r[0] for r in rows["postgres"])
                print(
                    f"{name:<12} sqlite {lite_rps:6.0f}/s cpu {median(r[1] for r in rows['sqlite']):5.2f} ms"
                    f" | postgres {pg_rps:6.0f}/s cpu {median(r[1] for r in rows['postgres']):5.2f} ms"
                    f" + database {median(r[2] for r in rows['postgres']):5.2f} ms | {pg_rps / lite_rps:4.2f}x"
                )
                if BEFORE:
                    old_rps = median(r[0] for r in rows["postgres before"])
                    print(
                        f"{'':<12} postgres before {old_rps:6.0f}/s cpu {median(r[1] for r in rows['postgres before']):5.2f} ms"
                        f" + database {median(r[2] for r in rows['postgres before']):5.2f} ms | {old_rps / lite_rps:4.2f}x"
                        f" | after / before {pg_rps / old_rps:4.2f}x"
                    )

            # 2. Two replicas against one, send input.
            one_rows, two_rows = [], []
            for _ in range(ROUNDS):
                one_rows.append(measured([a], lambda u: u + "/", pg_file, pg))
                two_rows.append(measured([a, b], lambda u: u + "/", pg_file, pg))
            one_rps, two_rps = median(r[0] for r in one_rows), median(r[0] for r in two_rows)
            print(
                f"send input, one replica {one_rps:6.0f}/s cpu {median(r[1][0] for r in one_rows):5.2f} ms"
                f" + database {median(r[2] for r in one_rows):5.2f} ms"
                f" | two replicas {two_rps:6.0f}/s cpu {median(r[1][0] for r in two_rows):5.2f}"
                f" / {median(r[1][1] for r in two_rows):5.2f} ms + database {median(r[2] for r in two_rows):5.2f} ms"
                f" | {two_rps / one_rps:4.2f}x same box"
            )

            # 3. Cross-replica cancel latency.
            print(
                "cross-replica cancel, send to B until A's stream shows it:",
                latency_summary(cancel_latencies(a, b, 40)),
            )
    print("live delta, emit on A to subscriber on B:", latency_summary(asyncio.run(delta_latencies(200))))
    print("load average:", os.getloadavg())


def latency_summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {statistics.median(samples) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (n={len(samples)})"


def cancel_latencies(a: str, b: str, count: int) -> list[float]:
    samples = []
    with httpx.Client(timeout=30) as client:
        worker_id = client.post(f"{a}/api/runtimes/{RUNTIME}/workers", json={"profile": "hold"}).json()["worker_id"]
        for _ in range(count):
            client.post(f"{a}/api/runtimes/{RUNTIME}/workers/{worker_id}/input", json={"content": "x"})
            last = client.get(f"{a}/api/runtimes/{RUNTIME}/workers/{worker_id}").json()
            assert last["status"] == "busy"
            seen = threading.Event()
            ready = threading.Event()
            # The worker's newest event (its turn_started): the stream starts after it.
            page = client.get(f"{a}/api/runtimes/{RUNTIME}/workers/{worker_id}/events", params={"limit": 1000}).json()
            after = page["events"][-1]["id"]

            def watch(after: int = after, ready: threading.Event = ready, seen: threading.Event = seen) -> None:
                params = {"cursor": after}
                with httpx.stream(
                    "GET", f"{a}/api/runtimes/{RUNTIME}/events/stream", params=params, timeout=30
                ) as stream:
                    ready.set()
                    for line in stream.iter_lines():
                        if line.startswith("data:") and "worker.turn_cancelled" in line and worker_id in line:
                            seen.set()
                            return

            thread = threading.Thread(target=watch, daemon=True)
            thread.start()
            ready.wait(10)
            time.sleep(0.05)
            sent = time.perf_counter()
            client.post(f"{b}/api/runtimes/{RUNTIME}/workers/{worker_id}/cancel")
            if seen.wait(10):
                samples.append(time.perf_counter() - sent)
    return samples


async def delta_latencies(count: int) -> list[float]:
    from registry_core import TurnEngine, TurnResult
    from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
    from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
    from runtime_registry.runtimes.embedded.postgres import PostgresStore

    sent: dict[str, float] = {}

    async def run(turn):  # type: ignore[no-untyped-def]
        for index in range(count):
            key = f"{index};"
            sent[key] = time.perf_counter()
            turn.emit(key)
            await asyncio.sleep(0.06)  # slower than the coalescing interval: one piece per delta
        return TurnResult("done")

    engine = TurnEngine("stamping", run)
    settings = EmbeddedSettings(profiles={"p": ProfileSettings(engine="stamping")}, default_profile="p")
    with throwaway_server() as pg:
        dsn = pg.dsn(pg.create_database("deltas"))
        a = EmbeddedRuntime(
            settings,
            store=PostgresStore(dsn, RUNTIME, lease_seconds=10),
            engines={**BUILTIN_ENGINES, "stamping": engine},
        )
        b = EmbeddedRuntime(
            settings,
            store=PostgresStore(dsn, RUNTIME, lease_seconds=10),
            engines={**BUILTIN_ENGINES, "stamping": engine},
        )
        await a.start()
        await b.start()
        samples: list[float] = []
        live = b.events.subscribe()
        worker_id = (await a.create_worker()).worker.worker_id
        await a.send_input(worker_id, "go")
        deadline = time.perf_counter() + count * 0.06 + 10
        while len(samples) < count and time.perf_counter() < deadline:
            for event in live.take(up_to=2**62):
                if event.type == "worker.output_delta":
                    now = time.perf_counter()
                    for key in event.data["text"].split(";")[:-1]:
                        samples.append(now - sent[key + ";"])
            await asyncio.sleep(0.001)
        await a.close()
        await b.close()
    return samples


if __name__ == "__main__":
    main()
