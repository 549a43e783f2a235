"""HTTP throughput and startup of the real server versus a bare Starlette app, in one run.

Run: python tests/benchmarks/bench_http.py   (needs wrk; about a minute)
Goal (issue 3): on each route shape, >= 80% of the bare app's requests/s and a
p99 within 1.5x; startup to the first 200 on /healthz within 1.5x of a bare
uvicorn app.

Both apps are served by uvicorn on loopback in their own process, with the
same settings (no access log, log level warning). The bare app has the same
route shapes and answers with the very bytes the real server answered
(fetched first, then rendered per request by Starlette's ``JSONResponse`` from
a prebuilt dict), parsing the input body as JSON as any real app must; it
does no id checks, no auth, no validation, no registry call and builds no
models. wrk runs
``-t1 -c16 -d5s`` per scenario (2 shared cores: the load generator takes one).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUNTIME = "backend-internal"
WORKERS = 1000
DURATION = os.environ.get("BENCH_DURATION", "4s")
#: Each scenario runs bare, ours, bare, ours...: the machine is shared and its
#: load drifts, so each side's median over interleaved rounds is compared.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
STARTUP_ROUNDS = 7

CLI = "import sys; from server.cli import main; sys.argv[0] = 'runtime-registry'; sys.exit(main())"

BARE_APP = textwrap.dedent(
    """
    import json, sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    # The same documents the real server answered, rendered per request by
    # Starlette's own JSONResponse, as a bare app returning JSON would.
    bodies = {name: json.loads(text) for name, text in json.load(open(sys.argv[1])).items()}
    JSON = "application/json; charset=utf-8"
    worker, accepted, workers, transcript = bodies["worker"], bodies["accepted"], bodies["workers"], bodies["transcript"]

    async def healthz(request):
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def get_worker(request):
        return JSONResponse(worker)

    async def send_input(request):
        json.loads(await request.body())
        return JSONResponse(accepted, status_code=202)

    async def list_workers(request):
        return JSONResponse(workers)

    async def read_transcript(request):
        return JSONResponse(transcript)

    app = Starlette(routes=[
        Route("/healthz", healthz),
        Route("/api/runtimes/{runtime_id}/workers", list_workers),
        Route("/api/runtimes/{runtime_id}/workers/{worker_id}", get_worker),
        Route("/api/runtimes/{runtime_id}/workers/{worker_id}/input", send_input, methods=["POST"]),
        Route("/api/runtimes/{runtime_id}/workers/{worker_id}/transcript", read_transcript),
    ])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(base: str, process: subprocess.Popen, *, poll: float = 0.005) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(poll)
    raise SystemExit("server did not become healthy")


@contextlib.contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def real_server(port: int) -> list[str]:
    return [sys.executable, "-c", CLI, "serve", "--port", str(port), "--log-level", "warning", "--no-access-log"]


def bare_server(bodies: Path, port: int) -> list[str]:
    return [sys.executable, "-c", BARE_APP, str(bodies), str(port)]


def prepare(base: str) -> tuple[dict[str, str], list[str], str]:
    """Create the workers and a 50-entry transcript; return the bodies the real server answers with."""
    with httpx.Client(base_url=base, timeout=10) as client:
        ids = [client.post(f"/api/runtimes/{RUNTIME}/workers", json={"label": "bench"}).json()["worker_id"] for _ in range(WORKERS)]
        chatty = ids[0]
        for _ in range(50):
            while client.get(f"/api/runtimes/{RUNTIME}/workers/{chatty}").json()["status"] != "idle":
                time.sleep(0.001)
            assert client.post(f"/api/runtimes/{RUNTIME}/workers/{chatty}/input", json={"content": "benchmark input"}).status_code == 202
        while client.get(f"/api/runtimes/{RUNTIME}/workers/{chatty}").json()["status"] != "idle":
            time.sleep(0.001)
        bodies = {
            "worker": client.get(f"/api/runtimes/{RUNTIME}/workers/{ids[1]}").text,
            "accepted": client.post(f"/api/runtimes/{RUNTIME}/workers/{ids[1]}/input", json={"content": "benchmark input"}).text,
            "workers": client.get(f"/api/runtimes/{RUNTIME}/workers", params={"limit": 50}).text,
            "transcript": client.get(f"/api/runtimes/{RUNTIME}/workers/{chatty}/transcript", params={"limit": 50}).text,
        }
    assert json.loads(bodies["transcript"])["items"].__len__() == 50
    # The input workers exclude the chatty one (its transcript stays at 50) and ids[1].
    return bodies, ids[2:], chatty


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, script: tuple[str, ...] = (), script_args: tuple[str, ...] = ()) -> tuple[float, float, int]:
    """Requests/s, p99 in ms and non-2xx count of one wrk run."""
    command = ["wrk", "-t1", "-c16", f"-d{DURATION}", "--latency", *script, url]
    if script_args:
        command += ["--", *script_args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    p99 = _P99.search(output)
    non_2xx = _NON_2XX.search(output)
    return (
        float(_RPS.search(output).group(1)),
        float(p99.group(1)) * _UNITS[p99.group(2)],
        int(non_2xx.group(1)) if non_2xx else 0,
    )


def _medians(runs: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), sum(r[2] for r in runs)


def startup_once(command_for_port) -> float:
    """Milliseconds from spawn to the first 200 on /healthz."""
    port = free_port()
    started = time.perf_counter()
    with running(command_for_port(port)) as process:
        wait_healthy(f"http://127.0.0.1:{port}", process, poll=0.002)
        return (time.perf_counter() - started) * 1000


def startup_ms(ours, theirs) -> tuple[float, float]:
    """Medians over interleaved rounds (ours, bare, ours, ...)."""
    mine, bare = [], []
    for _ in range(STARTUP_ROUNDS):
        mine.append(startup_once(ours))
        bare.append(startup_once(theirs))
    return statistics.median(mine), statistics.median(bare)


def main() -> None:
    real_port, bare_port = free_port(), free_port()
    real, bare = f"http://127.0.0.1:{real_port}", f"http://127.0.0.1:{bare_port}"
    with tempfile.TemporaryDirectory() as scratch, running(real_server(real_port)) as real_process:
        wait_healthy(real, real_process)
        bodies, input_ids, chatty = prepare(real)
        bodies_file = Path(scratch) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        ids_file = Path(scratch) / "ids.txt"
        ids_file.write_text("\n".join(input_ids) + "\n")
        some = input_ids[0]
        scenarios = [
            ("get worker", f"/api/runtimes/{RUNTIME}/workers/{some}", ()),
            ("send input (rotating)", "/", ("-s", str(HERE / "rotate_post.lua"))),
            ("list 50 workers", f"/api/runtimes/{RUNTIME}/workers?limit=50", ()),
            ("50-entry transcript page", f"/api/runtimes/{RUNTIME}/workers/{chatty}/transcript?limit=50", ()),
        ]
        print("response sizes (bytes): " + ", ".join(f"{k} {len(v)}" for k, v in bodies.items()))
        rows = []
        with running(bare_server(bodies_file, bare_port)) as bare_process:
            wait_healthy(bare, bare_process)
            for name, path, script in scenarios:
                lua_args = (str(ids_file), f"/api/runtimes/{RUNTIME}/workers") if script else ()
                bare_runs, real_runs = [], []
                for _ in range(ROUNDS):
                    bare_runs.append(wrk(bare + path, script, lua_args))
                    real_runs.append(wrk(real + path, script, lua_args))
                rows.append((name, *_medians(real_runs), *_medians(bare_runs)))

    print(f"\nwrk -t1 -c16 -d{DURATION} --latency, uvicorn, one process each, loopback; median of {ROUNDS} interleaved rounds")
    print(f"{'scenario':<26} {'ours req/s':>10} {'bare req/s':>10} {'ratio':>6}   {'ours p99':>9} {'bare p99':>9} {'ratio':>6}  non-2xx")
    for name, real_rps, real_p99, real_errors, bare_rps, bare_p99, bare_errors in rows:
        print(
            f"{name:<26} {real_rps:>10.0f} {bare_rps:>10.0f} {real_rps / bare_rps:>6.2f}   "
            f"{real_p99:>7.2f}ms {bare_p99:>7.2f}ms {real_p99 / bare_p99:>6.2f}  {real_errors}/{bare_errors}"
        )

    bare_bodies = Path(tempfile.mkdtemp()) / "bodies.json"
    bare_bodies.write_text(json.dumps(bodies))
    ours, theirs = startup_ms(real_server, lambda port: bare_server(bare_bodies, port))
    print(f"\nstartup to the first 200 on /healthz (median of {STARTUP_ROUNDS} interleaved rounds):")
    print(f"  runtime-registry serve {ours:7.0f} ms\n  bare uvicorn app       {theirs:7.0f} ms\n  ratio                  {ours / theirs:7.2f}")


if __name__ == "__main__":
    main()
