"""Nothing of the database reaches a client or the log: every route of a PostgreSQL runtime, up and down.

The connection string carries a password, a user and a database name made to
be recognised; every route (with a worker that went through a
``replica_lost`` turn, and a worker id that does not exist) is scanned while
the database is up and while it is stopped (``store_unreachable``), and so
are the replicas' logs.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.reliability.routes import ROUTES
from tests.support.pg_server import PgServer
from tests.support.server_process import running_server

from .test_replicas import DSN_ENV, RUNTIME, replica_config, wait_for

PASSWORD = "S3cret-PG-password-4711"


def test_no_route_or_log_line_shows_the_connection_string(pg_server: PgServer, tmp_path: Path) -> None:
    database = pg_server.create_database("leakscan")
    # Local connections are trusted: the password is sent nowhere, but it is in the string.
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{pg_server.port}/{database}"
    forbidden = [PASSWORD, dsn, database, f":{pg_server.port}", "postgresql://", "asyncpg", "Traceback"]
    config = replica_config(tmp_path, lease_seconds=1)
    with running_server(config, log=tmp_path / "a.log", environ={DSN_ENV: dsn}) as a:
        with running_server(config, log=tmp_path / "b.log", environ={DSN_ENV: dsn}) as b:
            with httpx.Client(base_url=a.base_url, timeout=10) as api:
                worker_id = api.post(f"{RUNTIME}/workers", json={"profile": "hold"}).json()["worker_id"]
            answer = httpx.post(f"{b.base_url}{RUNTIME}/workers/{worker_id}/input", json={"content": "x"}, timeout=10)
            assert answer.status_code == 202
            queued = {"content": "q", "if_busy": "enqueue"}
            answer = httpx.post(f"{b.base_url}{RUNTIME}/workers/{worker_id}/input", json=queued, timeout=10)
            assert answer.json()["status"] == "queued"
            b.signal(signal.SIGKILL)  # the owner: A ends its turn as replica_lost, and runs the queued input
            with httpx.Client(base_url=a.base_url, timeout=10) as api:
                wait_for(lambda: "replica_lost" in api.get(f"{RUNTIME}/events", params={"cursor": 0}).text, 10)
                # Turn control's answers too (decision 0184): queued, queue_full, interrupt, cancel keeping the queue.
                control = [{"content": f"q{n}", "if_busy": "enqueue"} for n in range(9)]
                control.append({"content": "i", "if_busy": "interrupt"})
                for body in control:
                    answer = api.post(f"{RUNTIME}/workers/{worker_id}/input", json=body)
                    assert answer.status_code in (202, 409), answer.text
                    for secret in forbidden:
                        assert secret not in answer.text
                assert api.post(f"{RUNTIME}/workers/{worker_id}/cancel", params={"queued": "keep"}).status_code == 200
                assert api.post(f"{RUNTIME}/workers/{worker_id}/cancel").status_code == 200
                scanned = 0
                for phase in ("up", "down"):
                    if phase == "down":
                        pg_server.stop()
                    try:
                        for target in (worker_id, "w-00000000000000000000"):
                            for route in ROUTES:
                                if route.template.endswith("/stream") or "{runtime_id}" not in route.template:
                                    continue
                                path = route.path("backend-internal", target)
                                answer = api.request(route.method, path, json=route.body)
                                text = answer.text + str(answer.headers)
                                for secret in forbidden:
                                    assert secret not in text, f"{route.method} {path} ({phase}) shows {secret!r}"
                                if phase == "down" and route.template not in (
                                    "/api/runtimes/{runtime_id}",
                                    "/api/runtimes/{runtime_id}/profiles",
                                ):
                                    # The summary answers, with the diagnostic, and the profiles
                                    # (configuration, not state); everything else is 503.
                                    assert answer.status_code == 503, (route.method, path, answer.text)
                                scanned += 1
                        events = api.get(f"{RUNTIME}/events", params={"cursor": 0}).text
                        for secret in forbidden:
                            assert secret not in events
                    finally:
                        if phase == "down":
                            pg_server.start()
                assert scanned > 20
                # The scan deleted the worker while the database was up; the runtime comes back by itself.
                wait_for(lambda: api.get(f"{RUNTIME}/workers").status_code == 200, 15)
            log = a.log_text() + b.log_text()
            time.sleep(0.1)
            for secret in (PASSWORD, dsn, "postgresql://"):
                assert secret not in log
