"""HTTP throughput and startup of the real server versus a bare Starlette app, in one run.

Run: python tests/benchmarks/bench_http.py   (needs wrk; about a minute; BENCH_STACK=pure for h11 + asyncio;
BENCH_STORE=memory|batched|acknowledged for the default runtime's store, the default configuration's
SQLite acknowledged store when unset)
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
``-t1 -c16 -d4s`` per scenario (2 shared cores: the load generator takes one).

``--reads`` runs only the two read scenarios (get worker, list 50) and no
startup rounds. ``--in-process`` measures CPU per request of both apps in this process
(uvicorn's protocol over a fake transport: no kernel, no wrk); ``--profile
"send input"`` (or another scenario's name) adds a cProfile of ours; ``--layers``
gives the front door's share (every check of :mod:`runtime_registry.server.middleware`) of a get worker, in process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server_process import free_port, serve_command, started, wait_until_healthy  # noqa: E402

RUNTIME = "backend-internal"
WORKERS = 1000
DURATION = os.environ.get("BENCH_DURATION", "4s")
#: Each scenario runs bare, ours, bare, ours...: the machine is shared and its
#: load drifts, so each side's median over interleaved rounds is compared.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
STARTUP_ROUNDS = 7

#: The bare app: the same route shapes, answering with the very documents the
#: real server answered, rendered per request by Starlette's own JSONResponse
#: (as a bare app returning JSON would), parsing the input body as JSON.
BARE_APP_DEFINITION = textwrap.dedent(
    """
    import json
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def build_bare_app(bodies):
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

        return Starlette(routes=[
            Route("/healthz", healthz),
            Route("/api/runtimes/{runtime_id}/workers", list_workers),
            Route("/api/runtimes/{runtime_id}/workers/{worker_id}", get_worker),
            Route("/api/runtimes/{runtime_id}/workers/{worker_id}/input", send_input, methods=["POST"]),
            Route("/api/runtimes/{runtime_id}/workers/{worker_id}/transcript", read_transcript),
        ])
    """
)
BARE_APP = BARE_APP_DEFINITION + textwrap.dedent(
    """
    import sys
    import uvicorn
    app = build_bare_app({name: json.loads(text) for name, text in json.load(open(sys.argv[1])).items()})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False,
                http=sys.argv[3], loop=sys.argv[4])
    """
)

#: The server stack both apps run on: ``BENCH_STACK=speedups`` (default:
#: httptools and uvloop, what an install brings where they have wheels) or
#: ``BENCH_STACK=pure`` (h11 and asyncio's loop: the fallback, and the stack
#: before issue 12).
STACK = os.environ.get("BENCH_STACK", "speedups")
_PARSER, _LOOP = {"speedups": ("httptools", "uvloop"), "pure": ("h11", "asyncio")}[STACK]
#: The default runtime's store (issue 23 asks for reads near the bare app's on
#: every store): ``BENCH_STORE=memory``, ``batched`` or ``acknowledged``; unset
#: keeps the default configuration's runtime (SQLite, acknowledged).
STORE = os.environ.get("BENCH_STORE")


def runtime_config(store: str) -> str:
    """A config table with the default runtime on ``store`` ("memory", "batched" or "acknowledged")."""
    backend = 'backend = "memory"' if store == "memory" else f'backend = "sqlite"\ndurability = "{store}"'
    return (
        f'[[runtimes]]\nid = "{RUNTIME}"\nkind = "embedded"\n\n'
        "[runtimes.settings]\nmax_workers = 20000\n\n"
        f"[runtimes.settings.store]\n{backend}\n"
    )


#: The ``[server]`` table choosing the stack (``BENCH_STACK``).
STACK_TABLE = f'[server]\nhttp_parser = "{_PARSER}"\nevent_loop = "{_LOOP}"\n\n'
_STACK_CONFIG = Path(tempfile.gettempdir()) / f"bench-http-{os.getpid()}.toml"
_STACK_CONFIG.write_text(STACK_TABLE + (runtime_config(STORE) if STORE else ""))


def real_server(port: int) -> list[str]:
    return serve_command(
        "--config", str(_STACK_CONFIG), "--port", str(port), "--log-level", "warning", "--no-access-log"
    )


def bare_server(bodies: Path, port: int) -> list[str]:
    return [sys.executable, "-c", BARE_APP, str(bodies), str(port), _PARSER, _LOOP]


def prepare(base: str) -> tuple[dict[str, str], list[str], str]:
    """Create the workers and a 50-entry transcript; return the bodies the real server answers with."""
    with httpx.Client(base_url=base, timeout=10) as client:
        ids = [
            client.post(f"/api/runtimes/{RUNTIME}/workers", json={"label": "bench"}).json()["worker_id"]
            for _ in range(WORKERS)
        ]
        chatty = ids[0]
        for _ in range(50):
            while client.get(f"/api/runtimes/{RUNTIME}/workers/{chatty}").json()["status"] != "idle":
                time.sleep(0.001)
            assert (
                client.post(
                    f"/api/runtimes/{RUNTIME}/workers/{chatty}/input", json={"content": "benchmark input"}
                ).status_code
                == 202
            )
        while client.get(f"/api/runtimes/{RUNTIME}/workers/{chatty}").json()["status"] != "idle":
            time.sleep(0.001)
        bodies = {
            "worker": client.get(f"/api/runtimes/{RUNTIME}/workers/{ids[1]}").text,
            "accepted": client.post(
                f"/api/runtimes/{RUNTIME}/workers/{ids[1]}/input", json={"content": "benchmark input"}
            ).text,
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


def startup_once(command_for_port, env: dict[str, str] | None = None) -> float:
    """Milliseconds from spawn to the first 200 on /healthz."""
    port = free_port()
    spawned = time.perf_counter()
    with started(command_for_port(port), cwd=ROOT, env=env) as process:
        wait_until_healthy(process, port, poll=0.002)
        return (time.perf_counter() - spawned) * 1000


def startup_ms(ours, theirs, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Medians over interleaved rounds (ours, bare, ours, ...)."""
    mine, bare = [], []
    for _ in range(STARTUP_ROUNDS):
        mine.append(startup_once(ours, env))
        bare.append(startup_once(theirs, env))
    return statistics.median(mine), statistics.median(bare)


def bytecode_cached_env(cache: str, *warm_up) -> dict[str, str]:
    """An environment in which every module loads from bytecode, as in an installed deployment.

    ``pip install`` compiles a package's bytecode, and uvicorn's and
    Starlette's were compiled when they were installed. This checkout is an
    editable install whose environment may set PYTHONDONTWRITEBYTECODE, so
    without this our modules alone would be compiled from source on every
    start (about 30 ms). Both servers get the same private cache (a temporary
    PYTHONPYCACHEPREFIX; nothing is written to the tree), filled by one
    start of each.
    """
    env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for command_for_port in warm_up:
        startup_once(command_for_port, env)
    return env


def main(*, only_reads: bool = False) -> None:
    # The default configuration keeps its workers in a SQLite store under the
    # data directory (docs/configuration.md): give every run a fresh one, out
    # of the repository. Send-input figures are therefore the default
    # (acknowledged) store's; bench_durable.py compares the stores.
    os.environ["RUNTIME_REGISTRY_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-http-data-")
    real_port, bare_port = free_port(), free_port()
    real, bare = f"http://127.0.0.1:{real_port}", f"http://127.0.0.1:{bare_port}"
    with tempfile.TemporaryDirectory() as scratch, started(real_server(real_port), cwd=ROOT) as real_process:
        wait_until_healthy(real_process, real_port)
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
        if only_reads:
            scenarios = [s for s in scenarios if s[0] in ("get worker", "list 50 workers")]
        print("response sizes (bytes): " + ", ".join(f"{k} {len(v)}" for k, v in bodies.items()))
        rows = []
        with started(bare_server(bodies_file, bare_port), cwd=ROOT) as bare_process:
            wait_until_healthy(bare_process, bare_port)
            for name, path, script in scenarios:
                lua_args = (str(ids_file), f"/api/runtimes/{RUNTIME}/workers") if script else ()
                bare_runs, real_runs = [], []
                for _ in range(ROUNDS):
                    bare_runs.append(wrk(bare + path, script, lua_args))
                    real_runs.append(wrk(real + path, script, lua_args))
                rows.append((name, *_medians(real_runs), *_medians(bare_runs)))

    print(
        f"\nwrk -t1 -c16 -d{DURATION} --latency, uvicorn ({_PARSER} + {_LOOP}), one process each, loopback; "
        f"median of {ROUNDS} interleaved rounds; store: {STORE or 'default (SQLite acknowledged)'}"
    )
    print(
        f"{'scenario':<26} {'ours req/s':>10} {'bare req/s':>10} {'ratio':>6}   {'ours p99':>9} {'bare p99':>9} {'ratio':>6}  non-2xx"
    )
    for name, real_rps, real_p99, real_errors, bare_rps, bare_p99, bare_errors in rows:
        print(
            f"{name:<26} {real_rps:>10.0f} {bare_rps:>10.0f} {real_rps / bare_rps:>6.2f}   "
            f"{real_p99:>7.2f}ms {bare_p99:>7.2f}ms {real_p99 / bare_p99:>6.2f}  {real_errors}/{bare_errors}"
        )

    if only_reads:
        return
    with tempfile.TemporaryDirectory() as scratch:
        bare_bodies = Path(scratch) / "bodies.json"
        bare_bodies.write_text(json.dumps(bodies))
        bare_for_port = functools.partial(bare_server, bare_bodies)
        cached = bytecode_cached_env(str(Path(scratch) / "pycache"), real_server, bare_for_port)
        startups = [
            ("bytecode compiled (as installed)", startup_ms(real_server, bare_for_port, cached)),
            ("this checkout's environment as is", startup_ms(real_server, bare_for_port)),
        ]
    print(f"\nstartup to the first 200 on /healthz (median of {STARTUP_ROUNDS} interleaved rounds):")
    print(f"{'':36} {'ours':>7} {'bare':>7} {'ratio':>6}")
    for name, (ours, theirs) in startups:
        print(f"{name:36} {ours:5.0f}ms {theirs:5.0f}ms {ours / theirs:6.2f}")


# -- in process: uvicorn's HTTP protocol driven directly ------------------------
#
# ``--in-process`` feeds raw requests to uvicorn's protocol object (httptools, or h11 with BENCH_STACK=pure) over a
# fake transport, one connection, one request at a time, for our app and the
# bare app in one process: CPU per request including HTTP parsing, ASGI, the
# app and (for input) the turn it starts, without the kernel, wrk or the other
# core's noise. ``--profile SCENARIO`` adds a cProfile of our side.


class _Transport:
    """Collects what the protocol writes; the bare minimum of asyncio.Transport it uses."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Connection:
    """One keep-alive HTTP/1.1 connection to ``app`` through uvicorn's HTTP protocol."""

    def __init__(self, app, *, server_header: bool) -> None:
        import uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState

        # As in the benchmark: our server sends no server header, the bare one uvicorn's default.
        # The keep-alive timeout is an hour: on a loaded machine one side's
        # rounds outlast uvicorn's default 5 s, which closed the other side's
        # idle connection and failed its next request.
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=_PARSER,
            server_header=server_header,
            timeout_keep_alive=3600,
        )
        config.load()
        state = ServerState()
        state.default_headers = [(b"date", b"Wed, 25 Nov 2026 09:00:00 GMT"), *config.encoded_headers]
        self.transport = _Transport()
        protocol = HttpToolsProtocol if _PARSER == "httptools" else H11Protocol
        self.protocol = protocol(config, state, {}, asyncio.get_running_loop())
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]
        self._done: asyncio.Future[None] | None = None
        completed = self.protocol.on_response_complete

        def on_response_complete() -> None:
            completed()
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

        self.protocol.on_response_complete = on_response_complete  # type: ignore[method-assign]

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.transport.written = []
        self._done = asyncio.get_running_loop().create_future()
        self.protocol.data_received(head.encode() + b"\r\n" + body)
        await self._done
        response = b"".join(self.transport.written)
        return int(response.split(b" ", 2)[1]), response.split(b"\r\n\r\n", 1)[1]


async def _in_process(profile: str | None) -> None:
    import cProfile
    import pstats

    from runtime_registry.host.config import load_config
    from runtime_registry.server.app import create_app

    os.environ.setdefault("RUNTIME_REGISTRY_DATA_DIR", tempfile.mkdtemp(prefix="bench-http-data-"))
    app = create_app(load_config(_STACK_CONFIG) if STORE else None)
    async with app.router.lifespan_context(app):
        ours = _Connection(app, server_header=False)
        body = b'{"content":"benchmark input"}'
        workers = f"/api/runtimes/{RUNTIME}/workers"
        ids = [
            json.loads((await ours.request("POST", workers, b'{"label":"bench"}'))[1])["worker_id"]
            for _ in range(WORKERS)
        ]
        chatty, rotating = ids[0], ids[2:]
        for _ in range(50):
            assert (await ours.request("POST", f"{workers}/{chatty}/input", body))[0] == 202
            await asyncio.sleep(0)
        documents = {
            "worker": (await ours.request("GET", f"{workers}/{ids[1]}"))[1],
            "accepted": (await ours.request("POST", f"{workers}/{ids[1]}/input", body))[1],
            "workers": (await ours.request("GET", f"{workers}?limit=50"))[1],
            "transcript": (await ours.request("GET", f"{workers}/{chatty}/transcript?limit=50"))[1],
        }
        await asyncio.sleep(0)
        namespace: dict[str, object] = {}
        exec(BARE_APP_DEFINITION, namespace)
        bare = _Connection(
            namespace["build_bare_app"]({k: json.loads(v) for k, v in documents.items()}), server_header=True
        )
        scenarios = {
            "get worker": lambda i: ("GET", f"{workers}/{rotating[0]}", b""),
            "send input (rotating)": lambda i: ("POST", f"{workers}/{rotating[i % len(rotating)]}/input", body),
            "list 50 workers": lambda i: ("GET", f"{workers}?limit=50", b""),
            "50-entry transcript page": lambda i: ("GET", f"{workers}/{chatty}/transcript?limit=50", b""),
        }
        if profile is not None:
            scenarios = {name: make for name, make in scenarios.items() if name.startswith(profile)}
        requests, rounds = 3000, 5
        print(
            f"in process: uvicorn's {_PARSER} protocol, one connection; best of {rounds} rounds of {requests} requests, CPU µs per request"
        )
        print(f"{'scenario':<26} {'ours':>8} {'bare':>8} {'ratio':>6}")
        for name, make in scenarios.items():
            best = {}
            for side, connection in (("bare", bare), ("ours", ours)):
                times = []
                for _ in range(rounds):
                    started = time.process_time()
                    for i in range(requests):
                        status, _ = await connection.request(*make(i))
                        await asyncio.sleep(0)  # let a turn started by the input run, as between requests
                    times.append((time.process_time() - started) / requests * 1e6)
                    assert status in (200, 202), (name, side, status)
                best[side] = min(times)
            print(f"{name:<26} {best['ours']:6.1f}µs {best['bare']:6.1f}µs {best['bare'] / best['ours']:6.2f}")
            if profile is not None:
                profiler = cProfile.Profile()
                profiler.enable()
                for i in range(requests):
                    await ours.request(*make(i))
                    await asyncio.sleep(0)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


async def _layers(rounds: int = 7, requests: int = 3000) -> None:
    """CPU µs per get worker in process with the full app and without its front door (every check)."""
    from runtime_registry.host.config import load_config
    from runtime_registry.server.app import create_app

    os.environ.setdefault("RUNTIME_REGISTRY_DATA_DIR", tempfile.mkdtemp(prefix="bench-http-data-"))

    async def get_worker_cost(with_front_door: bool) -> float:
        app = create_app(load_config(_STACK_CONFIG) if STORE else None, access_log=False)
        if not with_front_door:
            app.user_middleware = []
        async with app.router.lifespan_context(app):
            connection = _Connection(app, server_header=False)
            workers = f"/api/runtimes/{RUNTIME}/workers"
            worker = json.loads((await connection.request("POST", workers, b"{}"))[1])["worker_id"]
            best = float("inf")
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    await connection.request("GET", f"{workers}/{worker}")
                best = min(best, (time.process_time() - started) / requests * 1e6)
            return best

    full = await get_worker_cost(True)
    bare = await get_worker_cost(False)
    print(f"get worker in process, CPU µs per request (best of {rounds} rounds of {requests}); full app {full:.1f}")
    print(f"  without the front door           {bare:6.1f}  (its share {full - bare:4.1f})")


if __name__ == "__main__":
    if "--layers" in sys.argv:
        asyncio.run(_layers())
    elif "--in-process" in sys.argv or "--profile" in sys.argv:
        chosen = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
        asyncio.run(_in_process(chosen))
    else:
        main(only_reads="--reads" in sys.argv)
