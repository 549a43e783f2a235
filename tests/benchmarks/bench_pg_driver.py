"""psycopg 3 (with psycopg-pool) against asyncpg on the send-input path, same server, same run (decision 0131).

The path is what a replica does to accept an input: in one transaction, the
busy rule's conditional ``UPDATE ... WHERE status = 'idle'``, an event id
taken from the counter row (the id scheme, decision 0132) and the event's
insert; 16 clients at once, each on its own worker (a busy worker would
answer 409 without the insert). Reported: transactions per second and this
process's CPU time per transaction (the driver's cost; the server's is the
same SQL for both).

Run: ``.venv/bin/python tests/benchmarks/bench_pg_driver.py [--seconds 5] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from tests.support.pg_server import throwaway_server

CLIENTS = 16

SCHEMA = """
CREATE TABLE workers (worker_id text PRIMARY KEY, status text NOT NULL, turn_number int NOT NULL);
CREATE TABLE counter (one int PRIMARY KEY, last_id bigint NOT NULL);
CREATE TABLE events (id bigint PRIMARY KEY, worker_id text, type text NOT NULL, data jsonb NOT NULL);
INSERT INTO counter VALUES (1, 0);
"""

ACCEPT = (
    "UPDATE workers SET turn_number = turn_number + 1 WHERE worker_id = $1 AND status = 'idle' RETURNING turn_number"
)
NEXT_ID = "UPDATE counter SET last_id = last_id + 1 WHERE one = 1 RETURNING last_id"
INSERT = "INSERT INTO events (id, worker_id, type, data) VALUES ($1, $2, 'worker.input_accepted', $3)"
#: The id taken and the event inserted in one statement (for a pipelined round trip).
INSERT_NEXT = (
    "WITH next AS (UPDATE counter SET last_id = last_id + 1 WHERE one = 1 RETURNING last_id) "
    "INSERT INTO events (id, worker_id, type, data) SELECT last_id, $1, 'worker.input_accepted', $2 FROM next"
)


def _psycopg(sql: str) -> str:
    for number in (3, 2, 1):
        sql = sql.replace(f"${number}", "%s")
    return sql


async def _prepare(dsn: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
        await connection.execute("DROP TABLE IF EXISTS workers, counter, events")
        await connection.execute(SCHEMA)
        for client in range(CLIENTS):
            await connection.execute("INSERT INTO workers VALUES (%s, 'idle', 0)", (f"w{client}",))


async def run_psycopg(dsn: str, seconds: float, *, pipeline: bool = False) -> tuple[int, float]:
    from psycopg.types.json import Jsonb
    from psycopg_pool import AsyncConnectionPool

    accept, next_id, insert, insert_next = map(_psycopg, (ACCEPT, NEXT_ID, INSERT, INSERT_NEXT))
    async with AsyncConnectionPool(dsn, min_size=CLIENTS, max_size=CLIENTS, open=False) as pool:
        await pool.wait()
        done = 0
        deadline = time.monotonic() + seconds

        async def client(worker: str) -> None:
            nonlocal done
            data = Jsonb({"transcript_sequence": 1, "role": "user", "content": "hello"})
            while time.monotonic() < deadline:
                async with pool.connection() as connection:
                    if pipeline:
                        # One round trip: the statements are sent together and
                        # the id is taken by the insert itself.
                        async with connection.pipeline(), connection.transaction():
                            accepted = await connection.execute(accept, (worker,), prepare=True)
                            await connection.execute(insert_next, (worker, data), prepare=True)
                        assert await accepted.fetchone() is not None
                    else:
                        async with connection.transaction():
                            row = await (await connection.execute(accept, (worker,), prepare=True)).fetchone()
                            assert row is not None
                            (event_id,) = await (await connection.execute(next_id, prepare=True)).fetchone() or (0,)
                            await connection.execute(insert, (event_id, worker, data), prepare=True)
                done += 1

        cpu = time.process_time()
        await asyncio.gather(*(client(f"w{n}") for n in range(CLIENTS)))
        return done, time.process_time() - cpu


async def run_asyncpg(url: str, seconds: float) -> tuple[int, float]:
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=CLIENTS, max_size=CLIENTS)
    try:
        done = 0
        deadline = time.monotonic() + seconds
        data = json.dumps({"transcript_sequence": 1, "role": "user", "content": "hello"})

        async def client(worker: str) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with pool.acquire() as connection, connection.transaction():
                    assert await connection.fetchval(ACCEPT, worker) is not None
                    event_id = await connection.fetchval(NEXT_ID)
                    await connection.execute(INSERT, event_id, worker, data)
                done += 1

        cpu = time.process_time()
        await asyncio.gather(*(client(f"w{n}") for n in range(CLIENTS)))
        return done, time.process_time() - cpu
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"psycopg": [], "psycopg-pipeline": [], "asyncpg": []}
    with throwaway_server() as server:
        for _ in range(arguments.rounds):
            # Alternating, so that load from the rest of the machine falls on both.
            for name in results:
                await _prepare(server.dsn())
                if name.startswith("psycopg"):
                    done, cpu = await run_psycopg(server.dsn(), arguments.seconds, pipeline=name.endswith("pipeline"))
                else:
                    done, cpu = await run_asyncpg(server.url(), arguments.seconds)
                results[name].append((done / arguments.seconds, cpu / done * 1e6))
    for name, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        cpu_us = statistics.median(c for _, c in rows)
        print(f"{name:16} {rate:8.0f} tx/s  {cpu_us:6.0f} us CPU/tx (client process)  rounds={rows}")
    for name in ("psycopg", "psycopg-pipeline"):
        ratio = statistics.median(r for r, _ in results[name]) / statistics.median(r for r, _ in results["asyncpg"])
        print(f"{name}/asyncpg throughput ratio: {ratio:.2f}")
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
