"""The example package's own test suite passes, run the way its author runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from .example_package import EXAMPLE_PACKAGE


def test_the_example_package_passes_its_own_tests():
    # A separate pytest process: the example is its own project, with its own
    # rootdir, configuration and conftest, exactly as a plugin author has it.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=EXAMPLE_PACKAGE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    # The only check the kind may skip is the one about false capabilities: it has none.
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == 1 and skips[0].endswith("every capability is true"), skips
