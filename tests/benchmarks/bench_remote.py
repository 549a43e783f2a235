"""The ``remote`` kind: a front server against the remote directly, in one run.

Run: python tests/benchmarks/bench_remote.py [--pin] [--only get] [--before TREE]
(needs wrk; about two minutes)

``--pin`` pins every back server to CPU 1 and the front to CPU 0 (``taskset``;
wrk floats), as a front on a machine of its own would run (issue 23); the
get-worker line then also gives the latency the front adds, p50 and p99.
``--before TREE`` (with ``--only get``) runs a second back and a front over
it from an older checkout's package tree (its packages first on
``PYTHONPATH``, laid out as ``.ci/check`` lays one out for mypy: see
docs/performance.md), and alternates direct and front of each tree in every
round: before and after in the same run, each front against its own back.
Goal (issue 14): get-worker and send-input through a front server reach
>= 0.5x the requests/s of the remote server asked directly; and one front
server over four remote servers lists ``/api/workers`` (400 workers, one page)
— compared with one server holding the same four runtimes in-process.

Every server is the real CLI (uvicorn, no access log, log level warning) on
loopback in its own process. wrk runs ``-t1 -c16 -d4s`` per scenario; the
sides of each comparison alternate over ``BENCH_ROUNDS`` rounds and each side's
median is reported, since the machine is shared and its load drifts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_http import DURATION, ROUNDS, wrk  # noqa: E402

from tests.support.server_process import free_port, serve_command, started, wait_until_healthy  # noqa: E402

RUNTIME = "backend-internal"
WORKERS = 1000
OVERVIEW_WORKERS_PER_RUNTIME = 100


#: Each server's process id by its base URL, to read its CPU time.
PIDS: dict[str, int] = {}


#: CPU per role with --pin (None: not pinned).
PIN: dict[str, str] | None = None
_P50 = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def latency(url: str) -> tuple[float, float]:
    """p50 and p99 in ms of one wrk run against ``url``."""
    output = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{DURATION}", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    found = [pattern.search(output) for pattern in (_P50, _P99)]
    return tuple(float(m.group(1)) * _UNITS[m.group(2)] for m in found)  # type: ignore[return-value, union-attr]


@contextlib.contextmanager
def server(config: Path | None, folder: Path, role: str = "back", tree: str | None = None) -> Iterator[str]:
    port = free_port()
    arguments = ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    if config is not None:
        arguments += ["--config", str(config)]
    # Each server in a folder of its own: the embedded runtime's SQLite store is relative to it.
    home = folder / f"server-{port}"
    home.mkdir()
    command = serve_command(*arguments)
    if PIN is not None:
        command = ["taskset", "-c", PIN[role], *command]
    env = None
    if tree:
        env = {**os.environ, "PYTHONPATH": tree}
    with started(command, cwd=home, env=env) as process:
        wait_until_healthy(process, port)
        url = f"http://127.0.0.1:{port}"
        PIDS[url] = process.pid
        yield url


def cpu_seconds(url: str) -> float:
    """User plus system CPU time the server at ``url`` has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{PIDS[url]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(target: str, servers: list[str], script=(), script_args=()) -> tuple[float, float, int, float]:
    """One wrk run: requests/s, p99, non-2xx, and CPU ms per request of ``servers`` together."""
    before = sum(cpu_seconds(url) for url in servers)
    rps, p99, errors = wrk(target, script, script_args)
    spent = sum(cpu_seconds(url) for url in servers) - before
    requests = rps * float(DURATION.rstrip("s"))
    return rps, p99, errors, spent / requests * 1000 if requests else float("nan")


def front_config(folder: Path, name: str, remotes: list[tuple[str, str, str]]) -> Path:
    text = "".join(
        f'[[runtimes]]\nid = "{runtime_id}"\nkind = "remote"\n[runtimes.settings]\nurl = "{url}"\nruntime_id = "{remote}"\n\n'
        for runtime_id, url, remote in remotes
    )
    path = folder / name
    path.write_text(text)
    return path


def compare(
    name: str,
    direct: str,
    front: str,
    *,
    backs: list[str],
    front_url: str,
    direct_servers: list[str] | None = None,
    script: tuple[str, ...] = (),
    direct_args=(),
    front_args=(),
) -> float:
    """wrk against ``direct`` and ``front`` in turn; requests/s, p99 and CPU per request of each server involved."""
    direct_runs, front_runs = [], []
    for _ in range(ROUNDS):
        direct_runs.append(measured(direct, direct_servers or backs, script, direct_args))
        before_back = sum(cpu_seconds(url) for url in backs)
        before_front = cpu_seconds(front_url)
        run = wrk(front, script, front_args)
        requests = run[0] * float(DURATION.rstrip("s"))
        front_cpu = (cpu_seconds(front_url) - before_front) / requests * 1000
        back_cpu = (sum(cpu_seconds(url) for url in backs) - before_back) / requests * 1000
        front_runs.append((*run, front_cpu, back_cpu))
    median = statistics.median
    direct_rps, front_rps = median(r[0] for r in direct_runs), median(r[0] for r in front_runs)
    direct_cpu = median(r[3] for r in direct_runs)
    front_cpu, behind_cpu = median(r[3] for r in front_runs), median(r[4] for r in front_runs)
    errors = sum(r[2] for r in direct_runs + front_runs)
    print(
        f"{name:<36} direct {direct_rps:6.0f}/s p99 {median(r[1] for r in direct_runs):6.1f} ms cpu {direct_cpu:5.2f} ms"
        f" | front {front_rps:6.0f}/s p99 {median(r[1] for r in front_runs):6.1f} ms cpu front {front_cpu:5.2f} + remote {behind_cpu:5.2f} ms"
        f" | {front_rps / direct_rps:4.2f}x same box, {direct_cpu / front_cpu:4.2f}x front on its own cores"
        f"{'' if not errors else f'  ({errors} non-2xx)'}"
    )
    return front_rps / direct_rps


def main() -> None:
    global PIN
    parser = argparse.ArgumentParser()
    parser.add_argument("--pin", action="store_true", help="back servers on CPU 1, the front on CPU 0")
    parser.add_argument("--only", choices=["get"], help="only the get-worker comparison (and its latency)")
    parser.add_argument(
        "--before", help="an older checkout's package tree: its front too, alternated (with --only get)"
    )
    args = parser.parse_args()
    if args.before and args.only != "get":
        parser.error("--before needs --only get")
    if args.pin:
        PIN = {"back": "1", "front": "0"}
    pinned = "front on CPU 0, back on CPU 1 (taskset)" if args.pin else "2 shared cores"
    print(f"wrk -t1 -c16 -d{DURATION} --latency, median of {ROUNDS} interleaved rounds; loopback, {pinned}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        with server(None, folder) as back:
            with server(front_config(folder, "front.toml", [("gpu", back, RUNTIME)]), folder, "front") as front:
                with httpx.Client(base_url=front, timeout=30) as client:
                    ids = [
                        client.post("/api/runtimes/gpu/workers", json={"label": "bench"}).json()["worker_id"]
                        for _ in range(WORKERS)
                    ]
                ids_file = folder / "ids.txt"
                ids_file.write_text("\n".join(ids[1:]))
                worker = ids[0]
                direct_url = f"{back}/api/runtimes/{RUNTIME}/workers/{worker}"
                front_url = f"{front}/api/runtimes/gpu/workers/{worker}"
                if args.before:
                    with before_pair(folder, args.before) as (old_back, old_direct, old_front, old_front_url):
                        fronts_compared(
                            {
                                "before": ((old_direct, old_back), (old_front_url, old_front)),
                                "after": ((direct_url, back), (front_url, front)),
                            }
                        )
                    return
                compare("get worker", direct_url, front_url, backs=[back], front_url=front)
                direct_latency = [latency(direct_url) for _ in range(ROUNDS)]
                front_latency = [latency(front_url) for _ in range(ROUNDS)]
                median = statistics.median
                d50, d99 = median(x[0] for x in direct_latency), median(x[1] for x in direct_latency)
                f50, f99 = median(x[0] for x in front_latency), median(x[1] for x in front_latency)
                print(
                    f"{'get worker latency (16 connections)':<36} direct p50 {d50:.2f} ms p99 {d99:.2f} ms"
                    f" | front p50 {f50:.2f} ms p99 {f99:.2f} ms | added p50 {f50 - d50:+.2f} ms p99 {f99 - d99:+.2f} ms"
                )
                if args.only == "get":
                    return
                compare(
                    "send input (rotating workers)",
                    back + "/",
                    front + "/",
                    backs=[back],
                    front_url=front,
                    script=("-s", str(HERE / "rotate_post.lua")),
                    direct_args=(str(ids_file), f"/api/runtimes/{RUNTIME}/workers"),
                    front_args=(str(ids_file), "/api/runtimes/gpu/workers"),
                )
        if args.only is None:
            overview(folder)


def wrk_latency(url: str) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 in ms, and non-2xx count, of one wrk run against ``url``."""
    output = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{DURATION}", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50, p99 = (float(m.group(1)) * _UNITS[m.group(2)] for m in (_P50.search(output), _P99.search(output)))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


@contextlib.contextmanager
def before_pair(folder: Path, tree: str) -> Iterator[tuple[str, str, str, str]]:
    """A back and a front over it, both from the package tree ``tree``, one worker on the back.

    Back URL, its get-worker URL, front URL, the front's get-worker URL. The
    older tree's front is compared with the older tree's back: a change to the
    server both sides run (decision 0203) moves both.
    """
    (folder / "before").mkdir()
    with server(None, folder / "before", tree=tree) as back:
        config = front_config(folder, "front-before.toml", [("gpu", back, RUNTIME)])
        with server(config, folder / "before", "front", tree=tree) as front:
            with httpx.Client(base_url=front, timeout=30) as client:
                created = client.post("/api/runtimes/gpu/workers", json={"label": "bench"})
                worker = created.json()["worker_id"]
            yield (
                back,
                f"{back}/api/runtimes/{RUNTIME}/workers/{worker}",
                front,
                f"{front}/api/runtimes/gpu/workers/{worker}",
            )


def fronts_compared(pairs: dict[str, tuple[tuple[str, str], tuple[str, str]]]) -> None:
    """Get worker directly and through a front, for each (back, front) pair, alternated per round.

    ``pairs``: name to ((direct URL, back), (front URL, front)). Each front is
    compared with its own back: rates, CPU per request, latency added.
    """
    runs: dict[str, list[tuple[float, ...]]] = {}
    for _ in range(ROUNDS):
        for name, ((direct_url, back), (front_url, front)) in pairs.items():
            for role, url, base in (("direct", direct_url, back), ("front", front_url, front)):
                before_back, before_front = cpu_seconds(back), cpu_seconds(base)
                rps, p50, p99, errors = wrk_latency(url)
                requests = rps * float(DURATION.rstrip("s"))
                front_cpu = (cpu_seconds(base) - before_front) / requests * 1000
                back_cpu = 0.0 if base == back else (cpu_seconds(back) - before_back) / requests * 1000
                runs.setdefault(f"{name} {role}", []).append((rps, front_cpu, back_cpu, p50, p99, errors))
    median = statistics.median
    summary = {key: tuple(median(run[i] for run in values) for i in range(5)) for key, values in runs.items()}
    for name in pairs:
        d_rps, d_cpu, _, d50, d99 = summary[f"{name} direct"]
        rps, cpu, back_cpu, p50, p99 = summary[f"{name} front"]
        errors = sum(run[5] for run in runs[f"{name} direct"] + runs[f"{name} front"])
        print(
            f"{name + ': get worker, direct':<34} {d_rps:6.0f}/s cpu {d_cpu:5.3f} ms  p50 {d50:5.2f} ms p99 {d99:6.2f} ms"
        )
        print(
            f"{name + ': get worker, front':<34} {rps:6.0f}/s cpu {cpu:5.3f} ms (+ back {back_cpu:5.3f})"
            f"  p50 {p50:5.2f} ms p99 {p99:6.2f} ms | {rps / d_rps:4.2f}x direct, {d_cpu / cpu:4.2f}x from CPU"
            f" | added p50 {p50 - d50:+.2f} ms p99 {p99 - d99:+.2f} ms{'' if not errors else f'  ({errors} non-2xx)'}"
        )


def overview(folder: Path) -> None:
    """/api/workers?limit=500: one front over four remote servers, against one server with the four runtimes."""
    runtimes = [f"rt-{i}" for i in range(4)]
    together = folder / "together.toml"
    together.write_text("".join(f'[[runtimes]]\nid = "{rt}"\nkind = "embedded"\n\n' for rt in runtimes))
    with contextlib.ExitStack() as stack:
        backs = [stack.enter_context(server(None, folder)) for _ in runtimes]
        one = stack.enter_context(server(together, folder))
        front = stack.enter_context(
            server(
                front_config(
                    folder, "front4.toml", [(rt, url, RUNTIME) for rt, url in zip(runtimes, backs, strict=True)]
                ),
                folder,
                "front",
            )
        )
        for rt, url in zip(runtimes, backs, strict=True):
            with httpx.Client(timeout=30) as client:
                for _ in range(OVERVIEW_WORKERS_PER_RUNTIME):
                    client.post(f"{url}/api/runtimes/{RUNTIME}/workers", json={})
                    client.post(f"{one}/api/runtimes/{rt}/workers", json={})
        with httpx.Client(timeout=30) as client:
            assert (
                len(client.get(f"{front}/api/workers", params={"limit": 500}).json()["items"])
                == 4 * OVERVIEW_WORKERS_PER_RUNTIME
            )
            assert (
                len(client.get(f"{one}/api/workers", params={"limit": 500}).json()["items"])
                == 4 * OVERVIEW_WORKERS_PER_RUNTIME
            )
        compare(
            "/api/workers, 400 rows (4 runtimes)",
            f"{one}/api/workers?limit=500",
            f"{front}/api/workers?limit=500",
            backs=backs,
            front_url=front,
            direct_servers=[one],
        )
    print("(the overview's direct side is one server holding the four runtimes in-process)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
