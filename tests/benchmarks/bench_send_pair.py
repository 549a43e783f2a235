"""Memory send input, this checkout against another tree, two servers side by side (issue 23).

Run: cd / && python /path/to/tests/benchmarks/bench_send_pair.py TREE|--bare [rounds]

TREE is an older checkout laid out as installed (``plugins/``, ``runtimes/``
and ``server/`` under ``runtime_registry/``), as for ``bench_durable.py
--before``. Two memory servers start at once, one running TREE's code (on
``PYTHONPATH``) and one running this checkout's, each with 1,000 workers.
Then ``wrk -t1 -c16`` sends ``rotate_post.lua``'s inputs to each in turn for
``rounds`` rounds (default 5), alternating: before, after, before, ...

``bench_durable.py throughput --before`` runs seven servers one after the
other in each round. On this shared machine the same code there moved by 20%
between neighbouring runs, more than the change being measured. Two servers
alternating over more rounds separate the trees. The figures are each side's
median requests/s and the server process's CPU per request (all threads).
Run it from ``/``, not from a checkout, so that the current directory puts no
tree first on ``sys.path``. With ``--bare`` instead of a tree, the "before"
side is ``bench_http.py``'s bare Starlette app answering this checkout's own
202 body: the issue's goal (memory send input >= 0.65x bare) alternated
round by round. Figures and their load average:
docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.benchmarks.bench_durable import process_cpu_seconds, serve  # noqa: E402
from tests.benchmarks.bench_http import DURATION, RUNTIME, bare_server, runtime_config, wrk  # noqa: E402
from tests.support.server_process import free_port, started, wait_until_healthy  # noqa: E402

WORKERS = 1000
DEFAULT_ROUNDS = 5


def _start(stack: contextlib.ExitStack, scratch: Path, name: str, tree: str | None) -> tuple[str, Path, int]:
    """A memory server running ``tree``'s code (``None``: this checkout's); its base URL, ids file and pid."""
    directory = scratch / name
    directory.mkdir()
    (directory / "registry.toml").write_text(runtime_config("memory"))
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    port = free_port()
    process = stack.enter_context(started(serve(directory, port), cwd=directory, env=env))
    wait_until_healthy(process, port)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        ids = [client.post(f"/api/runtimes/{RUNTIME}/workers", json={}).json()["worker_id"] for _ in range(WORKERS)]
    ids_file = directory / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    return base, ids_file, process.pid


def _start_bare(stack: contextlib.ExitStack, scratch: Path, like: tuple[str, Path, int]) -> tuple[str, Path, int]:
    """The bare app answering the 202 body of the memory server ``like``; its base URL, ids file and pid."""
    base, ids_file, _ = like
    with httpx.Client(base_url=base, timeout=30) as client:
        worker_id = ids_file.read_text().split()[0]
        accepted = client.post(f"/api/runtimes/{RUNTIME}/workers/{worker_id}/input", json={"content": "x"}).text
    bodies = scratch / "bare-bodies.json"
    bodies.write_text(json.dumps(dict.fromkeys(("worker", "accepted", "workers", "transcript"), accepted)))
    port = free_port()
    process = stack.enter_context(started(bare_server(bodies, port), cwd=scratch))
    wait_until_healthy(process, port)
    return f"http://127.0.0.1:{port}", ids_file, process.pid


def pair(tree: str | None, rounds: int) -> dict[str, tuple[float, float]]:
    """Each side's median requests/s and median CPU µs per request (``tree`` None: the bare app before)."""
    seconds = float(DURATION.removesuffix("s"))
    samples: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        after = _start(stack, Path(scratch), "after", None)
        before = _start(stack, Path(scratch), "before", tree) if tree else _start_bare(stack, Path(scratch), after)
        servers = {"before": before, "after": after}
        for _ in range(rounds):
            for name, (base, ids_file, pid) in servers.items():
                cpu_before = process_cpu_seconds(pid)
                rps, _, _ = wrk(
                    f"{base}/",
                    ("-s", str(HERE / "rotate_post.lua")),
                    (str(ids_file), f"/api/runtimes/{RUNTIME}/workers"),
                )
                cpu_us = (process_cpu_seconds(pid) - cpu_before) / max(1.0, rps * seconds) * 1e6
                samples[name].append((rps, cpu_us))
                print(f"  {name:6s} {rps:8.0f} req/s  {cpu_us:6.1f} µs/request", flush=True)
    return {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tree = None if sys.argv[1] == "--bare" else sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_ROUNDS
    print(f"load average before: {os.getloadavg()}")
    medians = pair(tree, rounds)
    print(f"load average after: {os.getloadavg()}")
    (before_rps, before_cpu), (after_rps, after_cpu) = medians["before"], medians["after"]
    print(f"memory send input, wrk -t1 -c16, median of {rounds} alternating rounds:")
    print(f"  {'bare' if tree is None else 'before':>6}: {before_rps:8.0f} req/s  {before_cpu:6.1f} µs/request")
    print(
        f"   after: {after_rps:8.0f} req/s  {after_cpu:6.1f} µs/request"
        f"  ({after_rps / before_rps:.2f}x requests/s, {after_cpu / before_cpu:.2f}x CPU)"
    )


if __name__ == "__main__":
    main()
