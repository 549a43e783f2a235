"""The long fuzz run: schemathesis, every phase, against ``runtime-registry serve`` over real HTTP.

Run: .venv/bin/python tests/benchmarks/fuzz_long.py [--max-examples 300] [--max-time SECONDS]

One server process (a free loopback port, a bearer token, small limits so
that capacity and retention answers happen; stopped by its pid at the end)
and schemathesis' command line, in this process, against its
``/openapi.json``:

- phases ``examples``, ``coverage`` (boundary and invalid values of every
  parameter and field, systematically), ``fuzzing`` (``--max-examples`` per
  operation, positive and negative) and ``stateful`` (links schemathesis infers:
  a created worker's id into detail, input, transcript, events, stop);
- every check (``--checks all``), with ``positive_data_acceptance`` replaced
  by the refined check of ``tests/reliability/fuzz_checks.py`` (schema-valid
  requests a runtime's own limits refuse, as the contract says).

schemathesis prints the cases tried per phase and every failure with a curl
line to reproduce it; the exit status is non-zero if anything failed. The
bounded in-suite run is ``tests/reliability/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import schemathesis
from schemathesis.cli import schemathesis as schemathesis_cli

from tests.reliability.app_config import embedded_toml, write_config
from tests.reliability.fuzz_checks import valid_data_is_accepted_unless_a_runtime_limit_refuses_it
from tests.support.server_process import running_server

TOKEN = "fuzz-long-token"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=300, help="fuzzing examples per operation")
    parser.add_argument("--max-time", type=int, default=None, help="time budget in seconds for the whole run")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    schemathesis.check(valid_data_is_accepted_unless_a_runtime_limit_refuses_it)
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(
            Path(directory),
            embedded_toml(
                token=TOKEN,
                max_workers=300,
                max_transcript_entries=60,
                event_retention=2000,
                slow_delay_seconds=0.2,
                heartbeat_seconds=0.5,
            ),
        )
        with running_server(config, log=Path(directory) / "server.log") as server:
            cli_args = [
                "run",
                f"{server.base_url}/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(args.max_examples),
                "--request-timeout",
                "2",
                "--seed",
                str(args.seed),
                "--workers",
                "2",
                "--continue-on-failure",
            ]
            if args.max_time:
                cli_args += ["--max-time", str(args.max_time)]
            started = time.monotonic()
            try:
                schemathesis_cli.main(cli_args, standalone_mode=False)
                status = 0
            except SystemExit as exc:
                status = int(exc.code or 0)
            took = time.monotonic() - started
            log = server.log_text()
    print(
        f"\nfuzz run: {took:.0f} s, exit status {status}; server log: "
        f"{log.count('Traceback')} tracebacks, {log.count(' 500')} responses of status 500"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
