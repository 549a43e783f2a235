"""1,000 silent connections against the real server with its defaults: how long until /healthz answers again.

Run: python tests/benchmarks/bench_silent_connections.py [--sockets 1000] [--stack speedups|pure]
Goal (issue 12, point 3): with 1,000 TCP connections open that send nothing,
``/healthz`` answers 200 again within ``header_timeout_seconds`` (10 s by
default) + 2 s. Before the header timeout, it answered a plain 503 for as
long as the sockets stayed open.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.support.server_process import healthz_status, running_server  # noqa: E402

STACKS = {"speedups": ("httptools", "uvloop"), "pure": ("h11", "asyncio")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--stack", choices=sorted(STACKS), default="speedups")
    args = parser.parse_args()
    http_parser, loop = STACKS[args.stack]
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "registry.toml"
        config.write_text(f'[server]\nhttp_parser = "{http_parser}"\nevent_loop = "{loop}"\n')
        with running_server(config, log=Path(scratch) / "server.log") as server:
            port = int(server.base_url.rsplit(":", 1)[1])
            silent = []
            opened = time.monotonic()
            for _ in range(args.sockets):
                silent.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            time.sleep(0.5)
            first = healthz_status(port)
            statuses = {first: 1}
            while (status := healthz_status(port)) != 200:
                statuses[status] = statuses.get(status, 0) + 1
                time.sleep(0.1)
                if time.monotonic() - opened > 60:
                    break
            recovered = time.monotonic() - opened
            closed = 0
            for connection in silent:
                connection.settimeout(0.5)
                try:
                    closed += connection.recv(1) == b""
                except OSError:
                    closed += 1
                connection.close()
    print(
        f"{args.sockets} silent sockets, {http_parser} + {loop}, defaults (header_timeout_seconds 10, max_connections 1000): "
        f"/healthz first answered {first}, then 200 after {recovered:.1f} s from the first socket opened "
        f"(statuses while waiting: {statuses}); {closed} of {args.sockets} sockets closed by the server"
    )


if __name__ == "__main__":
    main()
