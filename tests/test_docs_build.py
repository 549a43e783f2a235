"""The documentation site builds with warnings as errors, so the API reference cannot rot.

The reference pages (docs/reference/) render the plugin API and the host from
their docstrings; a docstring that names a parameter the signature lacks, a
reference to a name that is gone, or a broken link between pages fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def test_the_documentation_builds_strictly_with_the_api_reference(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reference = (site / "reference" / "plugin-api" / "index.html").read_text()
    for name in ("RuntimeProvider", "RuntimeKind", "register_runtime_kinds", "WorkerBusy", "TranscriptPage"):
        assert name in reference
    testing = (site / "reference" / "testing" / "index.html").read_text()
    for name in (
        "RuntimeConformance",
        "make_provider",
        "slow_turn_request",
        "check_timeout",
        "find_path_like",
        "test_event_ids_are_not_reused_across_restarts",
    ):
        assert name in testing
