"""How far replicas on one PostgreSQL database would scale on a machine with enough cores (issue 18).

Run: python tests/benchmarks/bench_replica_scaling.py   (needs wrk and taskset, 2 cores; about a minute)

It also measures, in the same rounds, one server on SQLite (``acknowledged``)
on the replica's core with its own wrk there: the replica's rate against
SQLite's when each server has the same one core and the database has its own,
as a deployment would give it (the same-box comparison, all processes on
both cores, is ``bench_replicas.py``'s part 1).

Two replicas on this 2-core machine share their cores with each other, with
wrk and with the database, so their total against one replica's
(``bench_replicas.py``, part 2) says little about a deployment where each
has cores of its own. This projects it instead, from what one replica
spends per input when the database has a core of its own:

- ``r``: the replica's CPU per input (all its threads, from ``/proc``);
- ``d``: the database's CPU per input (the postmaster and every backend);
- ``s``: the *serial* part, the time per input during which no other
  replica's decisions can run. Every ``decide()`` locks the runtime's
  ``turns`` row first and holds it to the end of its commit (decision
  0184's lock order; 0235 numbers events under it), so a batch of decisions
  is serial from its first statement to its commit's WAL flush:
  ``s = (decide() execution time + WAL sync time) / inputs``, from
  ``pg_stat_statements`` and ``pg_stat_io`` (``track_wal_io_timing``).
  With the database on its own core that time is its own work, not waiting
  for a CPU, which is why the database is pinned to core 1 and the replica
  and wrk to core 0 (``taskset``).

With a core per replica and the database's cores enough for ``d`` per
input, N replicas serve ``X(N) = min(N / r, 1 / s)`` inputs per second: each
adds its share until the serial part is saturated. The projected scaling of
two replicas is ``X(2) / X(1)`` (issue 18's goal: >= 1.6x), printed twice:
with ``s`` as one replica's batches have it (a lower bound), and with ``s``
at the batch two replicas reach once each waits for the other's lock (up to
one input per client: ``s(b) = a / b + c`` through the figures measured at
``BENCH_CLIENTS`` and at twice as many clients, whose batches are larger).
What this leaves
out, and so over-states: a second replica's lock waits lengthen nobody's
hold time here; reads and lease renewals outside ``decide()`` are not
serial. What it under-states: a faster disk's flush (this machine's WAL
sync time is in ``s``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_http import _RPS, DURATION, ROUNDS  # noqa: E402
from bench_replicas import BENCH_PG_SETTINGS, DSN_ENV, PIDS, config, cpu_of, make_workers, postgres_cpu, server  # noqa: E402

from tests.support.pg_server import PgServer, throwaway_server  # noqa: E402

RUNTIME = "backend-internal"
#: wrk's connections (``BENCH_CLIENTS``): 16 as issue 18 measures; more make each ``decide()`` batch larger,
#: as a second replica waiting for the first one's lock would.
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
#: The replica and wrk run on this core, the database on the other.
REPLICA_CORE, DATABASE_CORE = 0, 1
SETTINGS = {
    **BENCH_PG_SETTINGS,
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "track_wal_io_timing": "on",
}


def pin(pid: int, core: int) -> None:
    """Every thread of process ``pid`` on ``core``."""
    subprocess.run(["taskset", "-a", "-cp", str(core), str(pid)], check=True, capture_output=True)


def pin_database(pg: PgServer) -> None:
    """The postmaster and its children on the database's core; backends forked later inherit it."""
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    pin(postmaster, DATABASE_CORE)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == postmaster:
                pin(int(entry.name), DATABASE_CORE)


async def serial_seconds(url: str) -> tuple[float, int, float]:
    """``decide()``'s total execution seconds and calls, and the WAL's sync seconds, since the last reset."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        decide = await connection.fetchrow(
            "SELECT coalesce(sum(total_exec_time), 0) AS ms, coalesce(sum(calls), 0) AS calls "
            "FROM pg_stat_statements WHERE query LIKE '%FROM decide(%'"
        )
        # PostgreSQL 18 counts the WAL's syncs in pg_stat_io (object 'wal'), no longer in pg_stat_wal.
        wal_ms = await connection.fetchval("SELECT coalesce(sum(fsync_time), 0) FROM pg_stat_io WHERE object = 'wal'")
    finally:
        await connection.close()
    return decide["ms"] / 1000, int(decide["calls"]), wal_ms / 1000


async def reset(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_statements_reset()")
        await connection.execute("SELECT pg_stat_reset_shared('io')")
    finally:
        await connection.close()


def send_inputs(base: str, ids_file: Path, clients: int = CLIENTS) -> float:
    """wrk on the replica's core, ``clients`` connections rotating over the workers: requests/s."""
    command = [
        "taskset", "-c", str(REPLICA_CORE), "wrk", "-t1", f"-c{clients}", f"-d{DURATION}",
        "-s", str(HERE / "rotate_post.lua"), base + "/", "--", str(ids_file), f"/api/runtimes/{RUNTIME}/workers",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(_RPS.search(output).group(1))


def sqlite_round(base: str, ids_file: Path) -> dict[str, float]:
    """One wrk run against the SQLite server on the replica's core: inputs/s and its CPU per input."""
    before = cpu_of(PIDS[base])
    rate = send_inputs(base, ids_file)
    return {"rate": rate, "r": (cpu_of(PIDS[base]) - before) / (rate * float(DURATION.removesuffix("s")))}


def one_round(base: str, ids_file: Path, pg: PgServer, url: str, clients: int) -> dict[str, float]:
    """One wrk run against the replica: inputs/s and the per-input figures the projection needs."""
    asyncio.run(reset(url))
    replica_before, database_before = cpu_of(PIDS[base]), postgres_cpu(pg)
    rate = send_inputs(base, ids_file, clients)
    inputs = rate * float(DURATION.removesuffix("s"))
    decide_seconds, calls, wal_seconds = asyncio.run(serial_seconds(url))
    return {
        "rate": rate,
        "r": (cpu_of(PIDS[base]) - replica_before) / inputs,
        "d": (postgres_cpu(pg) - database_before) / inputs,
        "decide": decide_seconds / inputs,
        "wal": wal_seconds / inputs,
        "batch": inputs / max(1, calls),
    }


def projected(r: float, s: float, replicas: int) -> float:
    """Inputs/s of ``replicas`` replicas, each on a core of its own, sharing a serial part of ``s`` s per input."""
    return min(replicas / r, 1 / s)


def serial_at(batch: float, small: dict[str, float], large: dict[str, float]) -> float | None:
    """The serial part per input at ``batch`` inputs per ``decide()``, from ``s(b) = a / b + c`` through
    the two measured points (a: per batch, c: per input); ``None`` if they do not fit that shape."""
    s_small, s_large = small["decide"] + small["wal"], large["decide"] + large["wal"]
    if large["batch"] <= small["batch"] or s_large >= s_small:
        return None
    per_batch = (s_small - s_large) / (1 / small["batch"] - 1 / large["batch"])
    return per_batch / batch + s_small - per_batch / small["batch"]


def report(clients: int, median: dict[str, float]) -> None:
    serial = median["decide"] + median["wal"]
    print(
        f"wrk -c{clients}: {median['rate']:.0f} inputs/s; per input: replica CPU r = {median['r'] * 1e3:.3f} ms, "
        f"database CPU d = {median['d'] * 1e3:.3f} ms, serial s = {serial * 1e3:.3f} ms "
        f"(decide() {median['decide'] * 1e3:.3f} + WAL sync {median['wal'] * 1e3:.3f}; "
        f"{median['batch']:.1f} inputs per decide())"
    )


def main() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two cores: one for the database, one for the replica and wrk")
    print(
        f"one replica (core {REPLICA_CORE}, with wrk -c{CLIENTS}, then -c{2 * CLIENTS}) on PostgreSQL "
        f"(core {DATABASE_CORE}); {ROUNDS} rounds"
    )
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as scratch, throwaway_server(SETTINGS) as pg:
        folder = Path(scratch)
        os.chmod(folder, 0o755)
        dbname = pg.create_database("scaling")
        url = pg.url(dbname)
        asyncio.run(_create_extension(url))
        pg_config = config(folder, f'backend = "postgres"\ndsn_env = "{DSN_ENV}"\nlease_seconds = 10')
        with (
            server(pg_config, folder, {DSN_ENV: pg.dsn(dbname)}) as base,
            server(config(folder, 'backend = "sqlite"'), folder) as lite,
        ):
            ids_file, lite_ids = folder / "ids.txt", folder / "lite-ids.txt"
            ids_file.write_text("\n".join(make_workers(base)))
            lite_ids.write_text("\n".join(make_workers(lite)))
            pin(PIDS[base], REPLICA_CORE)
            pin(PIDS[lite], REPLICA_CORE)
            pin_database(pg)
            rounds: dict[int, list[dict[str, float]]] = {CLIENTS: [], 2 * CLIENTS: []}
            lite_rounds = []
            for _ in range(ROUNDS):
                for clients, rows in rounds.items():
                    rows.append(one_round(base, ids_file, pg, url, clients))
                lite_rounds.append(sqlite_round(lite, lite_ids))
    print(f"load average after: {os.getloadavg()}")
    medians = {
        clients: {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        for clients, rows in rounds.items()
    }
    small, large = medians[CLIENTS], medians[2 * CLIENTS]
    lite_rate = statistics.median(row["rate"] for row in lite_rounds)
    lite_cpu = statistics.median(row["r"] for row in lite_rounds)
    print(
        f"one core each, wrk -c{CLIENTS}: SQLite {lite_rate:.0f} inputs/s ({lite_cpu * 1e3:.3f} ms CPU per input), "
        f"PostgreSQL replica {small['rate']:.0f}/s: {small['rate'] / lite_rate:.2f}x"
    )
    for clients, median in medians.items():
        report(clients, median)
    r, serial = small["r"], small["decide"] + small["wal"]
    one = projected(r, serial, 1)
    bound = projected(r, serial, 2)
    print(f"projected, a core per replica, {CLIENTS} clients each: one {one:.0f}/s")
    print(f"  two, each batch as one replica's alone (a lower bound): {bound:.0f}/s: {bound / one:.2f}x")
    # Two replicas whose decide() calls wait for each other's lock gather more inputs per call, up to
    # one per client of the replica: the serial part per input at that batch, from the two measured points.
    saturated = serial_at(CLIENTS, small, large)
    if saturated is None:
        print("  two, batches grown by the lock's wait: the two points do not fit s(b) = a/b + c (noise?)")
    else:
        two = projected(r, saturated, 2)
        print(
            f"  two, batches grown to {CLIENTS} inputs by the lock's wait: s = {saturated * 1e3:.3f} ms: "
            f"{two:.0f}/s: {two / one:.2f}x (the database needs {two * small['d']:.1f} cores)"
        )


async def _create_extension(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE EXTENSION pg_stat_statements")
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
