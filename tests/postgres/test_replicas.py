"""Replicas as real processes: several ``runtime-registry serve`` on one PostgreSQL database.

Each test starts its replicas on a database of its own and talks to them
over HTTP; faults are real: a replica killed with SIGKILL, the PostgreSQL
server stopped and started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path

import httpx

from tests.support.pg_server import PgServer
from tests.support.server_process import ServerProcess, running_server

RUNTIME = "/api/runtimes/backend-internal"
DSN_ENV = "RR_TEST_REPLICA_PG_DSN"
LEASE_SECONDS = 2


def replica_config(folder: Path, lease_seconds: float = LEASE_SECONDS) -> Path:
    path = folder / "replica.toml"
    path.write_text(
        f"""
[server]
call_timeout_seconds = 5.0
stream_heartbeat_seconds = 0.5

[[runtimes]]
id = "backend-internal"
kind = "embedded"
[runtimes.settings.profiles.hold]
base = "builtin:echo"
reply_delay_seconds = 60.0
[runtimes.settings.profiles.slow-echo]
base = "builtin:echo"
reply_delay_seconds = 0.2
[runtimes.settings.store]
backend = "postgres"
dsn_env = "{DSN_ENV}"
lease_seconds = {lease_seconds}
"""
    )
    return path


@contextlib.contextmanager
def serve_replicas(pg_server: PgServer, folder: Path, config: Path, count: int) -> Iterator[list[ServerProcess]]:
    """``count`` ``serve`` processes of ``config`` on a new database of ``pg_server``, logging into ``folder``."""
    dsn = pg_server.dsn(pg_server.create_database("replicas"))
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(running_server(config, log=folder / f"replica-{n}.log", environ={DSN_ENV: dsn}))
            for n in range(count)
        ]


def replicas(pg_server: PgServer, folder: Path, count: int) -> contextlib.AbstractContextManager[list[ServerProcess]]:
    return serve_replicas(pg_server, folder, replica_config(folder), count)


def create(server: ServerProcess, profile: str = "hold") -> str:
    answer = httpx.post(f"{server.base_url}{RUNTIME}/workers", json={"profile": profile}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["worker_id"])


def worker(server: ServerProcess, worker_id: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}{RUNTIME}/workers/{worker_id}", timeout=10)


def events(server: ServerProcess, worker_id: str | None = None, cursor: int = 0) -> list[dict]:
    params: dict[str, str | int] = {"cursor": cursor, "limit": 500}
    path = f"{RUNTIME}/events" if worker_id is None else f"{RUNTIME}/workers/{worker_id}/events"
    answer = httpx.get(f"{server.base_url}{path}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["events"])


def wait_for(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_of_concurrent_inputs_across_replicas_exactly_one_is_accepted(pg_server: PgServer, tmp_path: Path) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(a)
        # The other replica knows the worker at once (it catches up before answering).
        assert worker(b, worker_id).json()["status"] == "idle"

        async def send(server: ServerProcess, client: httpx.AsyncClient, n: int) -> int:
            answer = await client.post(
                f"{server.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": f"input {n}"}
            )
            return answer.status_code

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=10) as client:
                return await asyncio.gather(*(send(a if n % 2 else b, client, n) for n in range(16)))

        statuses = asyncio.run(burst())
        assert sorted(statuses) == [202] + [409] * 15
        assert worker(a, worker_id).json()["status"] == "busy"
        assert worker(b, worker_id).json()["status"] == "busy"


def test_a_cancel_on_another_replica_ends_the_running_turn_within_a_second(pg_server: PgServer, tmp_path: Path) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(a)
        assert httpx.post(f"{a.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "x"}).status_code == 202
        started = time.monotonic()
        answer = httpx.post(f"{b.base_url}{RUNTIME}/workers/{worker_id}/cancel", timeout=10)
        assert answer.status_code == 200 and answer.json()["changed"] is True
        # On the owner, the worker is idle and takes input again: its turn task was cancelled.
        wait_for(lambda: worker(a, worker_id).json()["status"] == "idle", 1.0)
        assert time.monotonic() - started < 1.0
        types = [e["type"] for e in events(a, worker_id)]
        assert types == ["worker.created", "worker.input_accepted", "worker.turn_started", "worker.turn_cancelled"]
        assert httpx.post(f"{a.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "y"}).status_code == 202


def test_a_sigkilled_replicas_turn_ends_as_replica_lost_on_another(pg_server: PgServer, tmp_path: Path) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(b)
        assert httpx.post(f"{a.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "x"}).status_code == 202
        assert worker(b, worker_id).json()["status"] == "busy"
        a.signal(signal.SIGKILL)
        a.wait(10)
        killed = time.monotonic()
        wait_for(lambda: worker(b, worker_id).json()["status"] == "idle", LEASE_SECONDS + 5)
        assert time.monotonic() - killed <= LEASE_SECONDS + 5
        last = events(b, worker_id)[-1]
        assert (last["type"], last["data"]) == ("worker.turn_interrupted", {"turn": 1, "reason": "replica_lost"})
        # The input stays in the transcript; the worker takes input again.
        transcript = httpx.get(f"{b.base_url}{RUNTIME}/workers/{worker_id}/transcript").json()
        assert [entry["content"] for entry in transcript["items"]] == ["x"]
        assert httpx.post(f"{b.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "y"}).status_code == 202


def test_postgresql_stopped_answers_503_store_unreachable_and_recovers(pg_server: PgServer, tmp_path: Path) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(a, "slow-echo")
        accepted = httpx.post(f"{a.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "kept"})
        assert accepted.status_code == 202
        event_id = accepted.json()["event_id"]
        pg_server.stop()
        try:
            for server in (a, b):
                answer = worker(server, worker_id)
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "runtime_unavailable"
                body = answer.text
                assert str(pg_server.port) not in body and "127.0.0.1" not in body and "postgres" not in body.lower()
            summary = httpx.get(f"{b.base_url}{RUNTIME}").json()
            assert summary["status"] in ("degraded", "unavailable")
            assert [d["code"] for d in summary["diagnostics"]] == ["store_unreachable"]
        finally:
            pg_server.start()
        for server in (a, b):
            wait_for(lambda server=server: worker(server, worker_id).status_code == 200, 15)
            assert httpx.get(f"{server.base_url}{RUNTIME}").json()["status"] == "running"
        # Nothing acknowledged was lost.
        ids = [e["id"] for e in events(b, worker_id)]
        assert event_id in ids
        for server in (a, b):
            assert "postgresql://" not in server.log_text() and f"port={pg_server.port}" not in server.log_text()


def test_one_event_feed_on_three_replicas_with_concurrent_writers(pg_server: PgServer, tmp_path: Path) -> None:
    """Writers on three replicas; a reader on each follows the feed by cursor: ids strictly increase,
    no reader ever finds an id below one it passed, and all three read the same feed."""
    with replicas(pg_server, tmp_path, 3) as servers:
        workers = [create(servers[n % 3], "slow-echo") for n in range(6)]

        accepted = 0
        written_at: list[float] = []

        async def write(client: httpx.AsyncClient, server: ServerProcess, worker_id: str, until: float) -> None:
            nonlocal accepted
            # At least 4 s, and enough accepted inputs to check however slow the machine (at most 60 s).
            while time.monotonic() < until or (accepted < 30 and time.monotonic() < until + 56):
                answer = await client.post(
                    f"{server.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "w"}
                )
                accepted += answer.status_code == 202
                await asyncio.sleep(0.05)

        async def writers_done(writers: list[Coroutine[None, None, None]]) -> None:
            await asyncio.gather(*writers)
            written_at.append(time.monotonic())

        async def read(client: httpx.AsyncClient, server: ServerProcess) -> list[int]:
            seen: list[int] = []
            cursor = 0
            while True:
                done = bool(written_at) and time.monotonic() > written_at[0] + 1.5
                answer = await client.get(f"{server.base_url}{RUNTIME}/events", params={"cursor": cursor, "limit": 100})
                assert answer.status_code == 200, answer.text
                page = answer.json()
                for event in page["events"]:
                    assert event["id"] > cursor, "a reader found an id below one it had passed"
                    seen.append(event["id"])
                    cursor = event["id"]
                if done and not page["events"]:
                    return seen

        async def run() -> list[list[int]]:
            until = time.monotonic() + 4
            async with httpx.AsyncClient(timeout=10) as client:
                writers = [write(client, servers[n % 3], w, until) for n, w in enumerate(workers)]
                readers = [read(client, s) for s in servers]
                results = await asyncio.gather(writers_done(writers), *readers)
            return [r for r in results if r is not None]

        seen = asyncio.run(run())
        assert len(seen) == 3
        assert len(seen[0]) > 50
        assert seen[0] == seen[1] == seen[2]
        assert seen[0] == list(range(seen[0][0], seen[0][-1] + 1))
