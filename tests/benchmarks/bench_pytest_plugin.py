"""What runtime-registry's pytest plugin costs a pytest run that does not use the conformance suite.

Run: python tests/benchmarks/bench_pytest_plugin.py
Goal (decision 0071): loading the plugin (it loads in every pytest run of an
environment where runtime-registry is installed) adds no measurable time to
a session that does not use the suite. Figures: the import of the plugin
module against the import of the suite it defers, each in a fresh
interpreter; and a whole pytest session (one trivial test) with the plugin
against ``-p no:runtime_registry``, best of several runs, in ms.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 15
#: Heavy plugins of this environment that a plugin author's would not have (as the suite's own tests leave out).
QUIET = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]


def import_ms(module: str) -> float:
    """The cumulative import time of ``module`` after pytest, as ``-X importtime`` reports it (best of the rounds)."""
    best = float("inf")
    for _ in range(ROUNDS):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import pytest, {module}"], check=True, capture_output=True, text=True
        )
        line = next(line for line in result.stderr.splitlines() if line.rstrip().endswith(f"| {module}"))
        best = min(best, int(line.split("|")[1]) / 1000)
    return best


def sessions_ms(commands: dict[str, list[str]], cwd: Path) -> dict[str, float]:
    """Best wall time of each command, run alternately so that machine load falls on all of them alike."""
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(ROUNDS):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, cwd=cwd, check=True, capture_output=True)
            best[name] = min(best[name], (time.perf_counter() - started) * 1000)
    return best


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
    print(f"pytest session, one trivial test, -p no:runtime_registry: {sessions['without']:7.1f} ms")
    print(f"pytest session, one trivial test, plugin loaded:          {sessions['with']:7.1f} ms  "
          f"(ratio {sessions['with'] / sessions['without']:.3f})")


if __name__ == "__main__":
    main()
