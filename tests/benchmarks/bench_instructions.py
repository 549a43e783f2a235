"""Send input and get worker counted in instructions: the real server under callgrind, beside the bare app (issue 23).

Run: cd / && python /path/to/tests/benchmarks/bench_instructions.py [--before TREE] [--requests N] [--scenario S]
[--stores memory,batched,acknowledged] (needs valgrind; S is ``send`` (default) or ``get``)

Wall-clock figures on this shared two-core machine move by 20–30% between
neighbouring runs of the same code, even at a load average below 1, so a
change of a few per cent cannot be seen in requests/s. Instructions can: this
runs each server as an operator does (``runtime-registry serve``, memory
store, httptools and uvloop, 1,000 workers) under ``valgrind
--tool=callgrind``, sends it a warm-up of ``--requests`` requests over 16
keep-alive connections, zeroes the counters, sends ``--requests`` more and
reads the user-space instructions the server executed for them. The bare
Starlette app of ``bench_http.py`` (answering the memory server's own body)
and, with ``--before TREE``, an older tree laid out as installed (as for
``bench_send_pair.py``) are counted the same way.

What it cannot see: kernel time (about the same per request for every
server here: the same reads and writes) and how fast the instructions run
(our code touches more memory per request than the bare app's, so its
instructions take longer on average). So the instruction ratio is an upper
bound of the requests/s ratio, and its changes are what a change did. With
SQLite stores every thread is counted (the writer's SQLite work too, not its
waits for the disk), and valgrind runs one thread at a time, so commits group
differently than at full speed: compare stores by it, not commit policies.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.benchmarks.bench_durable import serve  # noqa: E402
from tests.benchmarks.bench_http import RUNTIME, bare_server, runtime_config  # noqa: E402
from tests.support.server_process import free_port, healthz_status, stop  # noqa: E402

WORKERS = 1000
CONNECTIONS = 16
#: valgrind runs the server about fifty times slower: its start-up and 1,000 creates take a while.
STARTUP_TIMEOUT = 300.0
INPUT_BODY = b'{"content":"benchmark input"}'
WORKERS_PATH = f"/api/runtimes/{RUNTIME}/workers"
#: More callgrind options, e.g. ``BENCH_VALGRIND_ARGS="--cache-sim=yes --separate-threads=yes"``; with
#: ``BENCH_KEEP_DUMPS=DIR`` the measured dumps are copied there (for ``callgrind_annotate``).
EXTRA_VALGRIND_ARGUMENTS = os.environ.get("BENCH_VALGRIND_ARGS", "").split()
KEEP_DUMPS = os.environ.get("BENCH_KEEP_DUMPS")

RequestFor = Callable[[str], bytes]


def _send_input(worker_id: str) -> bytes:
    return (
        f"POST {WORKERS_PATH}/{worker_id}/input HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(INPUT_BODY)}\r\n\r\n"
    ).encode() + INPUT_BODY


def _get_worker(worker_id: str) -> bytes:
    return f"GET {WORKERS_PATH}/{worker_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


#: Each scenario's request for a worker, and the status it must answer.
SCENARIOS: dict[str, tuple[RequestFor, bytes]] = {"send": (_send_input, b"202"), "get": (_get_worker, b"200")}


async def _exactly(port: int, requests: int, worker_ids: list[str], request_for: RequestFor, status: bytes) -> None:
    """Send ``requests`` requests over ``CONNECTIONS`` keep-alive connections, rotating over ``worker_ids``."""
    numbers: Iterator[int] = iter(range(requests))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for number in numbers:
            writer.write(request_for(worker_ids[number % len(worker_ids)]))
            head = await reader.readuntil(b"\r\n\r\n")
            if head.split(b" ", 2)[1] != status:
                raise AssertionError(f"answered {head.splitlines()[0]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def _wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while healthz_status(port) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the server under valgrind did not start")
        time.sleep(0.2)


def _instructions(dump: Path) -> int:
    """The instruction total of a callgrind dump (its ``summary:`` line, else ``totals:``)."""
    lines = dump.read_text().splitlines()
    for key in ("summary:", "totals:"):
        for line in lines:
            if line.startswith(key):
                return int(line.split()[1])
    raise AssertionError(f"no instruction total in {dump.name}")


@contextlib.contextmanager
def _under_callgrind(
    command: list[str], directory: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Callable[[], int]]]:
    """Run ``command`` under callgrind until the block ends; yield the process and a function that dumps its count."""
    out = directory / "callgrind.out"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", *EXTRA_VALGRIND_ARGUMENTS, f"--callgrind-out-file={out}.%p", *command],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def dumped() -> int:
        subprocess.run(["callgrind_control", "--dump=measured", str(process.pid)], capture_output=True, check=True)
        dumps = sorted(directory.glob(f"callgrind.out.{process.pid}.*"))
        if not dumps:
            raise AssertionError("callgrind wrote no dump")
        if KEEP_DUMPS:
            for dump in dumps:
                shutil.copy(dump, Path(KEEP_DUMPS) / f"{directory.name}-{dump.name}")
        # One dump per thread with --separate-threads (named ...-01, -02, ...): their sum.
        measured = [dump for dump in dumps if dump.name.split(".")[-1].split("-")[0] == "1"]
        return sum(_instructions(dump) for dump in measured)

    try:
        yield process, dumped
    finally:
        stop(process)


def count(
    name: str, command: list[str], port: int, directory: Path, env: dict[str, str], *, requests: int, scenario: str
) -> tuple[float, str]:
    """Instructions per request of the server ``command`` starts on ``port`` in ``directory``; and the body of an
    input it accepted."""
    request_for, status = SCENARIOS[scenario]
    with _under_callgrind(command, directory, env) as (process, dumped):
        _wait_healthy(process, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            if name == "bare":
                worker_ids, accepted = [f"w{number:04d}" for number in range(WORKERS)], ""
            else:
                worker_ids = [client.post(WORKERS_PATH, json={}).json()["worker_id"] for _ in range(WORKERS)]
                accepted = client.post(f"{WORKERS_PATH}/{worker_ids[0]}/input", json={"content": "x"}).text
        asyncio.run(_exactly(port, requests, worker_ids, request_for, status))  # warm-up
        subprocess.run(["callgrind_control", "--zero", str(process.pid)], capture_output=True, check=True)
        asyncio.run(_exactly(port, requests, worker_ids, request_for, status))
        return dumped() / requests, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an older tree laid out as installed, counted too")
    parser.add_argument("--requests", type=int, default=3000, help="requests counted (and as many to warm up)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="send")
    parser.add_argument(
        "--stores",
        default="memory",
        help="the default runtime's stores, comma-separated: memory, batched, acknowledged",
    )
    arguments = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    counts: dict[str, float] = {}
    trees = [("", None)] + ([("before ", arguments.before)] if arguments.before else [])
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        accepted = ""
        for store in arguments.stores.split(","):
            for prefix, tree in trees:
                name = prefix + store
                directory = scratch / name.replace(" ", "-")
                directory.mkdir()
                (directory / "registry.toml").write_text(runtime_config(store))
                env = dict(os.environ, PYTHONHASHSEED="0")
                if tree is not None:
                    env["PYTHONPATH"] = tree
                port = free_port()
                counts[name], body = count(
                    name,
                    serve(directory, port),
                    port,
                    directory,
                    env,
                    requests=arguments.requests,
                    scenario=arguments.scenario,
                )
                accepted = accepted or body
        directory = scratch / "bare"
        directory.mkdir()
        bodies = directory / "bodies.json"
        bodies.write_text(json.dumps(dict.fromkeys(("worker", "accepted", "workers", "transcript"), accepted)))
        port = free_port()
        counts["bare"], _ = count(
            "bare",
            bare_server(bodies, port),
            port,
            directory,
            dict(os.environ, PYTHONHASHSEED="0"),
            requests=arguments.requests,
            scenario=arguments.scenario,
        )
    print(f"load average after: {os.getloadavg()}")
    print(f"{arguments.scenario}, user-space instructions per request ({arguments.requests} counted, 16 connections):")
    for name, figure in counts.items():
        memory = counts.get(name.replace(name.split()[-1], "memory"))
        beside_memory = memory is not None and name != "bare" and not name.endswith("memory")
        against_memory = f", memory / it: {memory / figure:.2f}" if beside_memory else ""
        print(f"  {name:20s} {figure / 1000:8.1f}k  (bare / it: {counts['bare'] / figure:.2f}{against_memory})")
    for store in arguments.stores.split(","):
        if f"before {store}" in counts:
            print(f"  {store}: after / before {counts[store] / counts[f'before {store}']:.3f}")


if __name__ == "__main__":
    main()
