"""Send input on one PostgreSQL replica against SQLite, in this process: throughput, CPU and round trips (issue 18).

What ``bench_replicas.py`` measures through HTTP, without the HTTP layer,
so the store's own cost shows: 16 clients at once, each a loop of what the
provider does for ``POST .../input`` (``refresh(deciding_on=...)`` then ``send_input``),
rotating over 1,000 workers of the default profile, whose turns (the ``record``
engine: no reply) complete at once (each input
costs the accept and the turn's end). Reported per side, medians of
interleaved rounds:

- inputs/s;
- this process's CPU per input (the runtime and its store);
- PostgreSQL's CPU per input (its cluster's processes, from ``/proc``);
- database round trips per input (every asyncpg call that waits for the
  server, ``BEGIN``/``COMMIT`` included; notifications received are not).

The PostgreSQL server is a throwaway one with its durability settings at the
defaults (``fsync``, ``synchronous_commit`` on), as SQLite ``acknowledged``
syncs every commit.

With ``--statements`` the server loads ``pg_stat_statements`` (nested
statements of the server-side functions tracked too) and the statements the
PostgreSQL side ran are printed with their calls and execution time per
input: where the database's time goes.

With ``--before TREE`` each round runs twice in child processes, once on an
older checkout (TREE laid out as installed, as ``.ci/check`` builds it for
mypy: ``TREE/runtime_registry/runtimes`` ..., with a copy of its ``tests``
folder as ``TREE/tests``, not a symlink) and once on
this one, alternating; each child measures PostgreSQL against SQLite in its own
run, and the medians of both are printed side by side (ratios against SQLite
measured beside each, so the load's drift between children cancels out).

With ``--side postgres`` (or ``sqlite``) only that side runs, with no ratio:
for a sampling profiler (``py-spy record --pid``) attached to this process.

Run: ``.venv/bin/python tests/benchmarks/bench_pg_send_input.py [--seconds 3] [--rounds 3] [--profile] [--statements]
[--before TREE] [--side postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bench_replicas import BENCH_PG_SETTINGS, postgres_cpu

from registry_core.errors import WorkerBusy
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings
from runtime_registry.runtimes.embedded.postgres import PostgresStore
from runtime_registry.runtimes.embedded.sqlite_store import SQLiteStore
from tests.support.pg_server import PgServer, throwaway_server

CLIENTS = 16
WORKERS = 1000
RUNTIME = "backend-internal"

#: Round trips so far (every asyncpg call that waits for the server).
ROUND_TRIPS = [0]


def count_round_trips() -> None:
    """Count every asyncpg call that waits for an answer (statements, BEGIN, COMMIT, ROLLBACK)."""
    import asyncpg.connection
    import asyncpg.transaction

    def counted(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            ROUND_TRIPS[0] += 1
            return await original(*args, **kwargs)

        setattr(cls, name, wrapper)

    for name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
        counted(asyncpg.connection.Connection, name)
    for name in ("start", "commit", "rollback"):
        counted(asyncpg.transaction.Transaction, name)


async def one_side(runtime: EmbeddedRuntime, ids: list[str], seconds: float, pg: PgServer | None) -> tuple[float, ...]:
    """Inputs/s, CPU ms per input here, PostgreSQL CPU ms per input, round trips per input."""
    rotation = itertools.cycle(ids)
    done, busy = [0], [0]
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < stop_at:
            worker_id = next(rotation)
            await runtime.refresh(deciding_on=worker_id)
            try:
                await runtime.send_input(worker_id, "benchmark input")
            except WorkerBusy:
                # Its last turn has not ended yet: the rotation came round faster than the turn's end.
                busy[0] += 1
                await asyncio.sleep(0.001)
                continue
            done[0] += 1

    cpu, trips = time.process_time(), ROUND_TRIPS[0]
    database = postgres_cpu(pg) if pg is not None else 0.0
    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.monotonic() - started
    # The turns those inputs started end too (their cost is the input's).
    while any(runtime.get_worker(w).status == "busy" for w in ids):
        await asyncio.sleep(0.01)
    inputs = done[0]
    if busy[0]:
        print(f"  ({busy[0]} inputs found their worker busy; not counted)")
    return (
        inputs / elapsed,
        (time.process_time() - cpu) / inputs * 1000,
        ((postgres_cpu(pg) - database) / inputs * 1000) if pg is not None else 0.0,
        (ROUND_TRIPS[0] - trips) / inputs,
        elapsed,
    )


#: ``--statements``: what the server loads to count them (nested statements of functions too).
STATEMENT_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.max": "1000",
}


async def statements(pg: PgServer, dbname: str, inputs: int) -> None:
    """Print the statements run since the last reset, by execution time: per input, calls and milliseconds."""
    import asyncpg

    connection = await asyncpg.connect(pg.url(dbname))
    try:
        rows = await connection.fetch(
            "SELECT calls, total_exec_time, total_plan_time, rows, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC LIMIT 25"
        )
    finally:
        await connection.close()
    print(f"statements per input ({inputs} inputs): calls | exec ms | rows | query (nested ones included)")
    for calls, exec_ms, _, row_count, query in rows:
        text = " ".join(query.split())[:150]
        print(f"  {calls / inputs:5.2f} | {exec_ms / inputs:6.3f} | {row_count / inputs:6.2f} | {text}")


async def reset_statements(pg: PgServer, dbname: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(pg.url(dbname))
    try:
        await connection.execute("SELECT pg_stat_statements_reset()")
    finally:
        await connection.close()


async def main(seconds: float, rounds: int, profile: bool, track: bool, side: str | None = None) -> None:
    count_round_trips()
    print(f"{CLIENTS} clients, {seconds:.0f} s x {rounds} interleaved rounds; load {os.getloadavg()}")
    settings = EmbeddedSettings()
    server_settings = {**BENCH_PG_SETTINGS, **(STATEMENT_SETTINGS if track else {})}
    with tempfile.TemporaryDirectory() as scratch, throwaway_server(server_settings) as pg:
        dbname = pg.create_database("bench")
        if track:
            import asyncpg

            connection = await asyncpg.connect(pg.url(dbname))
            await connection.execute("CREATE EXTENSION pg_stat_statements")
            await connection.close()
        lite = EmbeddedRuntime(settings, store=SQLiteStore(Path(scratch) / "lite.db", durability="acknowledged"))
        post = EmbeddedRuntime(settings, store=PostgresStore(pg.dsn(dbname), RUNTIME, lease_seconds=10))
        sides: dict[str, tuple[EmbeddedRuntime, PgServer | None]] = {"sqlite": (lite, None), "postgres": (post, pg)}
        if side is not None:
            # One side alone (for a sampling profiler attached to this process): no ratio.
            sides = {side: sides[side]}
        ids: dict[str, list[str]] = {}
        for name, (runtime, _) in sides.items():
            await runtime.start()
            ids[name] = [(await runtime.create_worker()).worker.worker_id for _ in range(WORKERS)]
        rows: dict[str, list[tuple[float, ...]]] = {name: [] for name in sides}
        if side is not None:
            print(f"measuring {side} (pid {os.getpid()})", flush=True)
        profiler = cProfile.Profile(time.process_time) if profile else None
        if track:
            await reset_statements(pg, dbname)
        for _ in range(rounds):
            for name, (runtime, server) in sides.items():
                if profiler is not None and name == "postgres":
                    profiler.enable()
                rows[name].append(await one_side(runtime, ids[name], seconds, server))
                if profiler is not None:
                    profiler.disable()
        if track:
            postgres_inputs = sum(round(row[0] * row[4]) for row in rows["postgres"])
            await statements(pg, dbname, postgres_inputs)
        for runtime, _ in sides.values():
            await runtime.close()
    median: Callable[[Any], float] = statistics.median
    for name, found in rows.items():
        print(
            f"{name:<9} {median(r[0] for r in found):7.0f} inputs/s | CPU here {median(r[1] for r in found):5.2f} ms"
            f" + database {median(r[2] for r in found):5.2f} ms per input | {median(r[3] for r in found):5.1f} round trips per input"
        )
    if side is None:
        ratio = median(r[0] for r in rows["postgres"]) / median(r[0] for r in rows["sqlite"])
        print(f"postgres / sqlite: {ratio:.2f}x; load {os.getloadavg()}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


#: One side's line as :func:`main` prints it.
_SIDE = re.compile(
    r"^(sqlite|postgres)\s+(\d+) inputs/s \| CPU here\s+([\d.]+) ms \+ database\s+([\d.]+) ms per input"
    r" \|\s+([\d.]+) round trips per input",
    re.MULTILINE,
)


def child_round(script: Path, tree: Path | None, seconds: float) -> dict[str, tuple[float, ...]]:
    """One round of ``script`` in a child process (on ``tree`` if given): each side's figures."""
    environment = dict(os.environ)
    if tree is not None:
        # The tree first: its packages, not this checkout's editable install.
        environment["PYTHONPATH"] = str(tree)
    command = [sys.executable, str(script), "--seconds", str(seconds), "--rounds", "1"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=600)
    found = {m[1]: tuple(float(v) for v in m.groups()[1:]) for m in _SIDE.finditer(done.stdout)}
    if set(found) != {"sqlite", "postgres"}:
        raise RuntimeError(f"a child round printed no figures:\n{done.stdout}\n{done.stderr[-2000:]}")
    return found


def _check_tree(tree: Path) -> None:
    """The older script, run from ``tree``, imports the store from ``tree`` (not this checkout's editable
    install, which a ``TREE/tests`` symlink would let in: its ``..`` leads out of the tree)."""
    probe = (
        "import os, sys; sys.path.insert(0, os.path.join(sys.argv[1], 'tests', 'benchmarks', '..', '..')); "
        "import runtime_registry.runtimes.embedded.postgres_store as m; print(os.path.normpath(m.__file__))"
    )
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tree)], env=environment, capture_output=True, text=True, check=True
    )
    if not done.stdout.strip().startswith(str(tree.absolute())):
        raise SystemExit(f"{tree} does not hold the store it would run (it imports {done.stdout.strip()})")


def before_and_after(tree: Path, seconds: float, rounds: int) -> None:
    """Rounds alternating an older checkout (``tree``) and this one, each against SQLite in its own run."""
    here = Path(__file__).resolve()
    tree = tree.absolute()
    _check_tree(tree)
    older = tree / "tests" / "benchmarks" / here.name
    print(f"{CLIENTS} clients, {seconds:.0f} s x {rounds} rounds, before ({tree}) and after alternating")
    print(f"load at start {os.getloadavg()}")
    found: dict[str, list[dict[str, tuple[float, ...]]]] = {"before": [], "after": []}
    for _ in range(rounds):
        found["before"].append(child_round(older, tree, seconds))
        found["after"].append(child_round(here, None, seconds))
    median = statistics.median
    for name, runs in found.items():
        for side in ("sqlite", "postgres"):
            rows = [run[side] for run in runs]
            print(
                f"{name:<6} {side:<9} {median(r[0] for r in rows):7.0f} inputs/s | CPU here "
                f"{median(r[1] for r in rows):5.2f} ms + database {median(r[2] for r in rows):5.2f} ms per input | "
                f"{median(r[3] for r in rows):5.1f} round trips per input"
            )
        ratios = [run["postgres"][0] / run["sqlite"][0] for run in runs]
        print(
            f"{name:<6} postgres / sqlite: median {median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    gain = median(run["postgres"][0] for run in found["after"]) / median(run["postgres"][0] for run in found["before"])
    print(f"after / before (postgres inputs/s): {gain:.2f}x; load at end {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the PostgreSQL side (top 25 by own time)")
    parser.add_argument(
        "--statements", action="store_true", help="the PostgreSQL side's statements per input (pg_stat_statements)"
    )
    parser.add_argument("--before", type=Path, help="also run an older checkout laid out as installed, alternating")
    parser.add_argument(
        "--side",
        choices=("sqlite", "postgres"),
        help="measure one side alone (to attach a sampling profiler; no ratio)",
    )
    arguments = parser.parse_args()
    if arguments.before is not None:
        before_and_after(arguments.before, arguments.seconds, arguments.rounds)
    else:
        asyncio.run(main(arguments.seconds, arguments.rounds, arguments.profile, arguments.statements, arguments.side))
