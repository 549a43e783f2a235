"""Event-loop lag while a turn reads a 2,000-entry history from a SQLite store (issue 17, decision 0121).

Run: python tests/benchmarks/bench_history.py [--rounds 5] [--entries 2000]

A worker's transcript holds ``--entries`` committed inputs of 4 KB. Each round
reads the whole history twice in the same loop: in one piece (what a turn did
before: ``turn.history`` on first use) and in pages (what the runtime now does
before it runs an engine that reads history), while a task sleeps 1 ms at a
time and records how late it wakes. Printed: the one-piece read's time (the
loop is held for all of it), and the paged read's worst ticker lag and total
time, the most CPU time the loop's thread spent between two ticks (the
longest step, which preemption on a loaded machine does not inflate),
medians over the rounds, and the ratio of the longest step to the one-piece
read; and the ticker's worst lag over
as long with no read at all (this machine's noise floor at the time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.embedded.history_lag import filled_runtime, measure  # noqa: E402


async def main(rounds: int, entries: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as directory:
        runtime, worker = await filled_runtime(Path(directory), entries)
        try:
            figures = [await measure(runtime, worker) for _ in range(rounds)]
        finally:
            await runtime.close()
    whole = statistics.median(f.whole_read for f in figures) * 1000
    whole_cpu = statistics.median(f.whole_read_cpu for f in figures) * 1000
    step_cpu = statistics.median(f.paged_max_step_cpu for f in figures) * 1000
    lag = statistics.median(f.paged_max_lag for f in figures) * 1000
    total = statistics.median(f.paged_total for f in figures) * 1000
    idle = statistics.median(f.idle_max_lag for f in figures) * 1000
    print(f"entries read per turn:             {figures[0].entries_read}")
    print(f"one-piece read (loop held):        {whole:8.1f} ms ({whole_cpu:.1f} ms CPU)")
    print(f"paged read, worst ticker lag:      {lag:8.2f} ms")
    print(f"paged read, longest step (CPU):    {step_cpu:8.2f} ms")
    print(f"paged read, whole turn:            {total:8.1f} ms")
    print(f"no read, worst ticker lag (floor): {idle:8.2f} ms")
    print(f"longest step / one-piece (CPU):    {step_cpu / whole_cpu:8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--entries", type=int, default=2000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.entries))
