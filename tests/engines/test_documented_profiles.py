"""The llm profiles the README and docs/configuration.md show are valid configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime_registry.host import assemble, discover_plugins, parse_config

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = '[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n'


def toml_blocks(path: Path) -> list[str]:
    return [
        block for block in re.findall(r"```toml\n(.*?)```", path.read_text(), re.DOTALL) if 'engine = "llm"' in block
    ]


@pytest.mark.parametrize(
    "block",
    toml_blocks(ROOT / "README.md") + toml_blocks(ROOT / "docs" / "configuration.md"),
)
def test_a_documented_llm_profile_passes_check_config(block):
    text = block if "[[runtimes]]" in block else RUNTIME + block
    discovered = tuple(p for p in discover_plugins() if p.name == "embedded")
    assemble(parse_config(text), discovered=discovered, strict=True)


def test_there_is_one_in_the_readme_and_two_in_the_configuration_docs():
    assert (len(toml_blocks(ROOT / "README.md")), len(toml_blocks(ROOT / "docs" / "configuration.md"))) == (1, 2)
