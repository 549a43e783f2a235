"""What runtime-registry's pytest plugin costs a pytest run that does not use the conformance suite.

Run: python tests/benchmarks/bench_pytest_plugin.py
Goal (decision 0071): loading the plugin (it loads in every pytest run of an
environment where runtime-registry is installed) adds no measurable time to
a session that does not use the suite. Figures: the import of the plugin
module against the import of the suite it defers, each in a fresh
interpreter; and a whole pytest session (one trivial test) with the plugin
against ``-p no:runtime_registry``, as CPU time of the child process (wall
time on a shared machine is mostly other people's load), best and median of
the rounds, in ms.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROUNDS = 15
#: Heavy plugins of this environment that a plugin author's would not have (as the suite's own tests leave out).
QUIET = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]


def import_ms(module: str) -> float:
    """The cumulative import time of ``module`` after pytest, as ``-X importtime`` reports it (best of the rounds)."""
    best = float("inf")
    for _ in range(ROUNDS):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import pytest, {module}"],
            check=True,
            capture_output=True,
            text=True,
        )
        line = next(line for line in result.stderr.splitlines() if line.rstrip().endswith(f"| {module}"))
        best = min(best, int(line.split("|")[1]) / 1000)
    return best


def child_cpu_ms(command: list[str], cwd: Path) -> float:
    """CPU time (user + system) of one run of ``command``: unlike wall time, barely moved by other load on the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000


def sessions_ms(commands: dict[str, list[str]], cwd: Path) -> dict[str, tuple[float, float]]:
    """Best and median CPU time of each command, run alternately so that load falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(ROUNDS):
        for name, command in commands.items():
            samples[name].append(child_cpu_ms(command, cwd))
    return {name: (min(times), statistics.median(times)) for name, times in samples.items()}


def main() -> None:
    plugin = import_ms("runtime_registry.testing.pytest_plugin")
    suite = import_ms("runtime_registry.testing.conformance")
    with tempfile.TemporaryDirectory() as directory:
        cwd = Path(directory)
        (cwd / "test_trivial.py").write_text("def test_trivial():\n    pass\n")
        pytest_run = [sys.executable, "-m", "pytest", "-q", *QUIET]
        sessions = sessions_ms({"without": [*pytest_run, "-p", "no:runtime_registry"], "with": pytest_run}, cwd)
    print(f"import of the plugin module (after pytest):          {plugin:7.2f} ms")
    print(f"import of the suite it defers (after pytest):        {suite:7.2f} ms  ({suite / plugin:.0f}x)")
    (without, without_median), (with_plugin, with_median) = sessions["without"], sessions["with"]
    print(
        f"pytest session CPU, one trivial test, -p no:runtime_registry: {without:6.1f} ms (median {without_median:6.1f})"
    )
    print(
        f"pytest session CPU, one trivial test, plugin loaded:          {with_plugin:6.1f} ms (median {with_median:6.1f})  "
        f"ratio {with_plugin / without:.3f} (medians {with_median / without_median:.3f})"
    )


if __name__ == "__main__":
    main()
