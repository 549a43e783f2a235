"""Every TOML configuration the README and docs/ show passes ``runtime-registry check-config`` as written.

A snippet is a whole file an operator can copy: no ``[[runtimes]]`` header to
guess in front of it. Blocks that are a package's ``pyproject.toml`` (they
have ``[project]`` or ``[build-system]``) are not configurations. The plugin
tutorial's configurations name the kind and engine the same page builds
(``wordcount``, ``shout``): here the only problem allowed in them is that
those are not installed — tests/plugin_kit/test_plugin_kit_tutorial.py and
test_engine_tutorial.py build them and run those configurations for real.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime_registry.server.cli import main

REPOSITORY = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```toml\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Names a page's own tutorial builds, by page: "not installed" is the one problem allowed for them.
BUILT_BY_THE_PAGE = {"plugins.md": ("wordcount", "shout")}
NOT_INSTALLED = re.compile(
    r"no loaded plugin provides runtime kind '(\w+)'|no installed plugin is called '(\w+)'"
    r"|no loaded plugin registers an engine '(\w+)'"
)


def snippets() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in BLOCK.finditer(text):
            if re.search(r"^\[(project|build-system)\]", match[1], re.MULTILINE):
                continue
            line = text[: match.start()].count("\n") + 2
            found.append((f"{document.relative_to(REPOSITORY)}:{line}", match[1]))
    return found


def test_the_docs_show_configurations():
    assert len(snippets()) >= 8


@pytest.mark.parametrize(("where", "text"), snippets(), ids=[where for where, _ in snippets()])
def test_a_documented_configuration_passes_check_config(where, text, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    path = tmp_path / "snippet.toml"
    path.write_text(text)
    code = main(["check-config", str(path)])
    problems = [line for line in capsys.readouterr().err.splitlines() if "warning:" not in line]
    allowed = BUILT_BY_THE_PAGE.get(Path(where.split(":")[0]).name, ())
    unexpected = [
        line
        for line in problems
        if not ((found := NOT_INSTALLED.search(line)) and any(name in allowed for name in found.groups() if name))
    ]
    assert unexpected == [], f"{where}: check-config says:\n" + "\n".join(problems)
    assert code == 0 or problems
