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
two replicas is ``X(2) / X(1)`` (issue 18's goal: >= 1.6x). What this leaves
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


def send_inputs(base: str, ids_file: Path) -> float:
    """wrk on the replica's core, 16 connections rotating over the workers: requests/s."""
    command = [
        "taskset", "-c", str(REPLICA_CORE), "wrk", "-t1", "-c16", f"-d{DURATION}",
        "-s", str(HERE / "rotate_post.lua"), base + "/", "--", str(ids_file), f"/api/runtimes/{RUNTIME}/workers",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(_RPS.search(output).group(1))


def sqlite_round(base: str, ids_file: Path) -> dict[str, float]:
    """One wrk run against the SQLite server on the replica's core: inputs/s and its CPU per input."""
    before = cpu_of(PIDS[base])
    rate = send_inputs(base, ids_file)
    return {"rate": rate, "r": (cpu_of(PIDS[base]) - before) / (rate * float(DURATION.removesuffix("s")))}


def one_round(base: str, ids_file: Path, pg: PgServer, url: str) -> dict[str, float]:
    """One wrk run against the replica: inputs/s and the per-input figures the projection needs."""
    asyncio.run(reset(url))
    replica_before, database_before = cpu_of(PIDS[base]), postgres_cpu(pg)
    rate = send_inputs(base, ids_file)
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


def main() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two cores: one for the database, one for the replica and wrk")
    print(f"one replica (core {REPLICA_CORE}, with wrk -c16) on PostgreSQL (core {DATABASE_CORE}); {ROUNDS} rounds")
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
            rounds, lite_rounds = [], []
            for _ in range(ROUNDS):
                rounds.append(one_round(base, ids_file, pg, url))
                lite_rounds.append(sqlite_round(lite, lite_ids))
    print(f"load average after: {os.getloadavg()}")
    median = {key: statistics.median(row[key] for row in rounds) for key in rounds[0]}
    lite_rate = statistics.median(row["rate"] for row in lite_rounds)
    lite_cpu = statistics.median(row["r"] for row in lite_rounds)
    print(
        f"one core each: SQLite {lite_rate:.0f} inputs/s ({lite_cpu * 1e3:.3f} ms CPU per input), "
        f"PostgreSQL replica {median['rate']:.0f}/s: {median['rate'] / lite_rate:.2f}x"
    )
    serial = median["decide"] + median["wal"]
    one, two = projected(median["r"], serial, 1), projected(median["r"], serial, 2)
    print(
        f"measured: {median['rate']:.0f} inputs/s; per input: replica CPU r = {median['r'] * 1e3:.3f} ms, "
        f"database CPU d = {median['d'] * 1e3:.3f} ms, serial s = {serial * 1e3:.3f} ms "
        f"(decide() {median['decide'] * 1e3:.3f} + WAL sync {median['wal'] * 1e3:.3f}; "
        f"{median['batch']:.1f} inputs per decide())"
    )
    print(
        f"projected, a core per replica: one {one:.0f}/s, two {two:.0f}/s: {two / one:.2f}x "
        f"(the database needs {two * median['d']:.1f} cores for two)"
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
