"""A kind written to an earlier minor release's docs passes this release's conformance suite, unchanged.

The kind from the 0.1 docs once failed the suite (``worker.input_accepted
data lacks the required field 'role'``): the event contract of 0.3 was
enforced on kinds written before it existed. Rules a release adds now apply
to kinds that declare that release's ``contract_version``; an older kind
gets a :class:`NewerContractWarning` naming the rule (decision 0162).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

KINDS = Path(__file__).parent / "kinds"
CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def released_minors() -> list[str]:
    return sorted(
        {f"v{major}_{minor}" for major, minor in re.findall(r"^## (\d+)\.(\d+)\.\d+$", CHANGELOG.read_text(), re.M)}
    )


def run_own_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-W", "default", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_released_minor_has_a_kind_kept_here():
    kept = sorted(path.name for path in KINDS.iterdir() if path.is_dir())
    assert kept == released_minors(), "add the newest release's tutorial kind to tests/compat/kinds/"


@pytest.mark.parametrize("release", released_minors())
def test_the_kind_of_an_earlier_release_passes_its_own_tests_unchanged(release):
    result = run_own_tests(KINDS / release)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_the_0_1_kind_hears_which_newer_rules_it_breaks_and_which_names_moved():
    output = run_own_tests(KINDS / "v0_1").stdout
    assert "NewerContractWarning" in output
    assert "worker.input_accepted data lacks the required field 'role'" in output
    assert "contract_version = '0.3'" in output
    assert "registry_core.conformance moved to runtime_registry.testing.conformance" in output
