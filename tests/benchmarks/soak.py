"""Soak: minutes of mixed load on ``runtime-registry serve``; memory, descriptors and answers over time.

Run: .venv/bin/python tests/benchmarks/soak.py [--seconds 180] [--users 32] [--sample 15]

One server process (uvicorn, a free loopback port, stopped by its pid at the
end) with one embedded runtime configured to saturate within the first
minute: ``max_workers`` 400, ``max_transcript_entries`` 100, ``event_retention``
10,000. Virtual users create workers, send inputs (instant and 50 ms echo
turns), cancel, stop, read details, transcripts, event pages and the
overviews (``tests/reliability/mixed_load.py``). Every answer is checked
against the contract.

Printed: RSS (``VmRSS`` of /proc/PID/status) and open descriptors
(/proc/PID/fd) at start, after warm-up and every ``--sample`` seconds, the
requests per second, and the answers per operation. The baseline is the same
server's RSS after warm-up, measured in the same run: the ratio end/warm-up
says whether memory stayed bounded once the configured state was full.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.app_config import EMBEDDED, embedded_toml, write_config
from tests.reliability.mixed_load import LoadTally, run_mixed_load
from tests.support.server_process import running_server

CONFIG = {"max_workers": 400, "max_transcript_entries": 100, "event_retention": 10_000, "slow_delay_seconds": 0.05}


async def sample(server, tally: LoadTally, every: float, until: float, rows: list[tuple]) -> None:
    started = time.monotonic()
    while time.monotonic() < until:
        await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))
        rows.append((time.monotonic() - started, tally.requests, server.rss_kib(), server.open_fds()))


async def soak(server, seconds: float, users: int, every: float) -> None:
    fds_start, rss_start = await server.settled_fds(), server.rss_kib()
    warm_up_seconds = min(60.0, seconds / 3)
    warm = await run_mixed_load(server.base_url, EMBEDDED, seconds=warm_up_seconds, users=users, seed=1)
    rss_warm, fds_warm = server.rss_kib(), server.open_fds()
    tally, rows = LoadTally(), []
    load_seconds = seconds - warm_up_seconds
    began = time.monotonic()
    await asyncio.gather(
        run_mixed_load(server.base_url, EMBEDDED, seconds=load_seconds, users=users, seed=2, tally=tally),
        sample(server, tally, every, began + load_seconds, rows),
    )
    elapsed = time.monotonic() - began
    rss_end, fds_end = server.rss_kib(), await server.settled_fds(at_most=fds_start)

    print(f"config: {CONFIG}, users: {users}, warm-up {warm_up_seconds:.0f} s, load {load_seconds:.0f} s")
    print(
        f"warm-up: {warm.requests} requests ({warm.requests / warm_up_seconds:.0f}/s), unexpected answers: {len(warm.errors)}"
    )
    print(
        f"load   : {tally.requests} requests ({tally.requests / elapsed:.0f}/s), unexpected answers: {len(tally.errors)}"
    )
    for error in (warm.errors + tally.errors)[:10]:
        print(f"  unexpected: {error}")
    print()
    print(f"{'t (s)':>7} {'requests':>9} {'RSS KiB':>9} {'fds':>5}")
    print(f"{'start':>7} {0:>9} {rss_start:>9} {fds_start:>5}")
    print(f"{'warm':>7} {warm.requests:>9} {rss_warm:>9} {fds_warm:>5}")
    for at, requests, rss, fds in rows:
        print(f"{at:>7.0f} {warm.requests + requests:>9} {rss:>9} {fds:>5}")
    print(
        f"{'end':>7} {warm.requests + tally.requests:>9} {rss_end:>9} {fds_end:>5}  (descriptors after clients closed)"
    )
    print()
    print(
        f"RSS end / after warm-up: {rss_end / rss_warm:.3f} ({rss_end - rss_warm:+d} KiB over {tally.requests} requests)"
    )
    print(f"descriptors end / start: {fds_end} / {fds_start}")
    print()
    print("answers per operation (load phase):")
    for (operation, status, code), count in sorted(tally.outcomes.items()):
        print(f"  {operation:<14} {status} {code or '':<20} {count:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--sample", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(Path(directory), embedded_toml(**CONFIG))
        with running_server(config, log=Path(directory) / "server.log") as server:
            asyncio.run(soak(server, args.seconds, args.users, args.sample))
            log = server.log_text()
        print(f"tracebacks in the server log: {log.count('Traceback')}")


if __name__ == "__main__":
    main()
