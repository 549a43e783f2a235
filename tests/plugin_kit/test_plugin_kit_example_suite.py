"""The example package's own test suite passes, run the way its author runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from .example_package import EXAMPLE_PACKAGE

#: Plugins installed in this environment that a plugin author would not have; each costs import time.
UNRELATED_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio")


def test_the_example_package_passes_its_own_tests():
    # A separate pytest process: the example is its own project, with its own
    # rootdir, configuration and conftest, exactly as a plugin author has it.
    # Its conformance module is left out here only because
    # test_plugin_kit_conformance.py runs the same suite against the same kind.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            *UNRELATED_PLUGINS,
            "--ignore",
            "tests/test_conformance.py",
        ],
        cwd=EXAMPLE_PACKAGE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
