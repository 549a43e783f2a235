"""One version everywhere it is reported, a CHANGELOG entry for it, and advice that can be installed.

The package once said 0.2.0 while the code said ``versionadded:: 0.3`` and
docs/plugins.md advised ``runtime-registry>=0.3,<1`` — a requirement no
release could meet.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import registry_core
import runtime_registry

REPOSITORY = Path(__file__).resolve().parents[1]
RELEASE = re.compile(r"^## (\d+)\.(\d+)\.(\d+)$", re.MULTILINE)
SECTIONS = ("### Added", "### Changed", "### Deprecated", "### Removed", "### Fixed")


def version() -> tuple[int, int, int]:
    text = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["version"]
    major, minor, patch = map(int, text.split("."))
    return major, minor, patch


def test_every_place_that_reports_the_version_agrees_with_pyproject():
    expected = ".".join(map(str, version()))
    assert registry_core.__version__ == expected
    assert runtime_registry.__version__ == expected
    assert importlib.metadata.version("runtime-registry") == expected, "reinstall: pip install -e ."


def test_the_changelog_has_unreleased_on_top_then_the_current_release_and_every_section():
    text = (REPOSITORY / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    releases = [tuple(map(int, match)) for match in RELEASE.findall(text)]
    assert releases[0] == version(), "the newest release in CHANGELOG.md is the package's version"
    assert releases == sorted(releases, reverse=True)
    for block in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        name = block.partition("\n")[0]
        for section in SECTIONS:
            assert f"\n{section}\n" in block, f"CHANGELOG.md {name} lacks {section}"


def test_versionadded_notes_name_a_release_or_the_next_minor():
    major, minor, _ = version()
    allowed = {
        (m, n) for m, n, _ in (tuple(map(int, r)) for r in RELEASE.findall((REPOSITORY / "CHANGELOG.md").read_text()))
    }
    allowed.add((major, minor + 1))  # what Unreleased adds
    for folder in ("registry_core", "runtime_registry", "server", "runtimes", "plugins"):
        for path in (REPOSITORY / folder).rglob("*.py"):
            for found in re.findall(r"versionadded:: (\d+)\.(\d+)", path.read_text()):
                assert tuple(map(int, found)) in allowed, f"{path.name}: versionadded:: {'.'.join(found)}"


def test_the_docs_advise_only_requirements_a_release_meets():
    current = version()
    texts = [REPOSITORY / "docs" / "plugins.md", REPOSITORY / "README.md"]
    texts += list((REPOSITORY / "docs" / "examples").rglob("pyproject.toml"))
    for path in texts:
        for lower in re.findall(r"runtime-registry>=(\d+(?:\.\d+){1,2})", path.read_text()):
            parts = tuple(map(int, lower.split(".")))
            assert parts <= current[: len(parts)], (
                f"{path.name} asks for runtime-registry>={lower}, newer than {current}"
            )
