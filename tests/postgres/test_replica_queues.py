"""Queues and interrupts across ``serve`` processes on one PostgreSQL database (decision 0184).

Real processes, real faults: an input queued on one replica starts when a turn
on another ends; an interrupt sent to B ends A's turn (A's task is cancelled)
and B runs the new one; a replica killed with SIGKILL while inputs wait behind
its turn loses none of them: another replica ends the lost turn
(``replica_lost``) and runs them, in order.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import httpx

from tests.support.pg_server import PgServer
from tests.support.server_process import ServerProcess

from .test_replicas import DSN_ENV, LEASE_SECONDS, RUNTIME, events, serve_replicas, wait_for, worker

#: Turns long enough to kill a replica in the middle of one, short enough to run a queue in a test.
STEADY_SECONDS = 2.0


def queue_config(folder: Path) -> Path:
    path = folder / "replica.toml"
    path.write_text(
        f"""
[server]
call_timeout_seconds = 5.0

[[runtimes]]
id = "backend-internal"
kind = "embedded"
[runtimes.settings.profiles.hold]
base = "builtin:echo"
reply_delay_seconds = 60.0
[runtimes.settings.profiles.steady]
base = "builtin:echo"
reply_delay_seconds = {STEADY_SECONDS}
[runtimes.settings.store]
backend = "postgres"
dsn_env = "{DSN_ENV}"
lease_seconds = {LEASE_SECONDS}
"""
    )
    return path


def replicas(pg_server: PgServer, folder: Path, count: int) -> contextlib.AbstractContextManager[list[ServerProcess]]:
    return serve_replicas(pg_server, folder, queue_config(folder), count)


def create(server: ServerProcess, profile: str) -> str:
    answer = httpx.post(f"{server.base_url}{RUNTIME}/workers", json={"profile": profile}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["worker_id"])


def send(server: ServerProcess, worker_id: str, content: str, if_busy: str = "reject") -> dict:
    body = {"content": content} if if_busy == "reject" else {"content": content, "if_busy": if_busy}
    answer = httpx.post(f"{server.base_url}{RUNTIME}/workers/{worker_id}/input", json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def transcript(server: ServerProcess, worker_id: str) -> list[str]:
    answer = httpx.get(f"{server.base_url}{RUNTIME}/workers/{worker_id}/transcript", params={"limit": 50}, timeout=10)
    return [entry["content"] for entry in answer.json()["items"]]


def test_inputs_queued_behind_a_sigkilled_replicas_turn_are_run_by_another_in_order(
    pg_server: PgServer, tmp_path: Path
) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(b, "steady")
        assert send(a, worker_id, "first")["status"] == "busy"  # A runs it
        queued = [send(server, worker_id, f"q{n}", "enqueue") for n, server in enumerate((b, a, b))]
        assert [q["queue_position"] for q in queued] == [1, 2, 3]
        a.signal(signal.SIGKILL)
        a.wait(10)
        killed = time.monotonic()
        # B takes the turn as lost within the lease (+5 s), then runs the queue itself, in order.
        wait_for(lambda: any(e["type"] == "worker.turn_interrupted" for e in events(b, worker_id)), LEASE_SECONDS + 5)
        assert time.monotonic() - killed <= LEASE_SECONDS + 5
        wait_for(lambda: len(transcript(b, worker_id)) == 7, 3 * STEADY_SECONDS + 15)
        assert transcript(b, worker_id) == ["first", "q0", "q0", "q1", "q1", "q2", "q2"]
        feed = events(b, worker_id)
        interrupted = [e["data"] for e in feed if e["type"] == "worker.turn_interrupted"]
        assert interrupted == [{"turn": 1, "reason": "replica_lost"}]
        started = [e["data"].get("queued_event_id") for e in feed if e["type"] == "worker.input_accepted"]
        assert started == [None, *(q["event_id"] for q in queued)]
        assert worker(b, worker_id).json()["status"] == "idle"
        assert "Traceback" not in b.log_text()


def test_an_interrupt_sent_to_b_ends_the_turn_on_a_and_b_runs_the_new_one(pg_server: PgServer, tmp_path: Path) -> None:
    with replicas(pg_server, tmp_path, 2) as (a, b):
        worker_id = create(a, "hold")
        send(a, worker_id, "long")  # runs on A for a minute
        queued = send(a, worker_id, "after", "enqueue")
        started = time.monotonic()
        answer = send(b, worker_id, "now", "interrupt")
        assert (answer["status"], answer["transcript_sequence"]) == ("busy", 2)
        # A replays the end (and cancels its task, which can write nothing more: the database refuses it)
        # and shows B's turn.
        wait_for(lambda: worker(a, worker_id).json()["transcript_length"] == 2, 1.0)
        assert time.monotonic() - started < 1.5
        feed = [(e["type"], e["data"].get("reason")) for e in events(a, worker_id)]
        assert feed[-3:] == [
            ("worker.turn_cancelled", "interrupt"),
            ("worker.input_accepted", None),
            ("worker.turn_started", None),
        ]
        # The input queued on A waits behind B's turn; a cancel on A that keeps it starts it (on A).
        cancelled = httpx.post(
            f"{a.base_url}{RUNTIME}/workers/{worker_id}/cancel", params={"queued": "keep"}, timeout=10
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "busy"
        last = events(b, worker_id)[-2]
        assert (last["type"], last["data"]["queued_event_id"]) == ("worker.input_accepted", queued["event_id"])
        assert transcript(b, worker_id) == ["long", "now", "after"]
        for server in (a, b):
            assert "Traceback" not in server.log_text()
