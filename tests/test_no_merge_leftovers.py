"""No text file of the repository keeps a merge's conflict markers.

A merge of two helpers' CHANGELOG entries once landed with its markers in
place; Python files would fail to import, but Markdown, TOML and the
templates are read by people and tools that do not complain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)
SKIPPED = {".git", ".venv", "node_modules", "site", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
SUFFIXES = {".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".ini", ".html", ".js", ".css", ".lua", ".py", ".tmpl"}


def _text_files() -> list[Path]:
    found = []
    for folder, folders, names in os.walk(REPOSITORY):
        folders[:] = [name for name in folders if name not in SKIPPED and not name.endswith(".egg-info")]
        found.extend(Path(folder, name) for name in names if Path(name).suffix in SUFFIXES)
    return found


def test_no_file_keeps_conflict_markers():
    files = _text_files()
    assert any(path.name == "CHANGELOG.md" for path in files)
    leftovers = [str(path.relative_to(REPOSITORY)) for path in files if MARKER.search(path.read_text(errors="replace"))]
    assert leftovers == []
