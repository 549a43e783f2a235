"""docs/plugins.md works as written: its file blocks make a package whose tests pass and whose kind serves.

The tutorial's code blocks that start with a file name (``# src/...``, or
``# ... (continued)``) are assembled into the ``acme-wordcount`` package in a
temporary directory. Then: its own tests (the conformance suite and its
behaviour tests) pass; the plugin loads through the entry point its
pyproject declares; the tutorial's config serves it over HTTP; the error
lines and the table of checks the page shows are the real ones.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from registry_core import PluginState
from runtime_registry.host import ConfigError, assemble, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin
from runtime_registry.testing import RuntimeConformance

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_HEADER = re.compile(r"# (?P<path>[\w./-]+\.(?:py|toml))(?P<continued> \(continued\))?$")


def code_blocks() -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block of the tutorial."""
    return [(match[1], match[2]) for match in BLOCK.finditer(TUTORIAL.read_text())]


def tutorial_file(path: str) -> str:
    """One file the tutorial builds."""
    return tutorial_files()[path]


def tutorial_files() -> dict[str, str]:
    """File path -> contents, from the blocks that start with a file name."""
    files: dict[str, str] = {}
    for _, text in code_blocks():
        first, _, rest = text.partition("\n")
        header = FILE_HEADER.fullmatch(first)
        if header is None:
            continue
        path = header["path"]
        if header["continued"]:
            assert path in files, f"{path} is continued before it starts"
            files[path] += "\n" + rest
        else:
            assert path not in files, f"{path} starts twice"
            files[path] = text
    return files


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The tutorial's package, written out."""
    root = tmp_path_factory.mktemp("acme-wordcount")
    for path, text in tutorial_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def plugin(package, monkeypatch) -> DiscoveredPlugin:
    """The plugin as its pyproject's entry point declares it, imported from the written package."""
    monkeypatch.syspath_prepend(str(package / "src"))
    for name in [m for m in sys.modules if m.startswith("acme_wordcount")]:
        monkeypatch.delitem(sys.modules, name)
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    ((name, target),) = project["entry-points"]["runtime_registry"].items()
    return DiscoveredPlugin(name, project["version"], project["name"], load=lambda: importlib.import_module(target))


def test_the_tutorial_builds_the_whole_package():
    assert set(tutorial_files()) == {
        "pyproject.toml",
        "registry.toml",
        "src/acme_wordcount/__init__.py",
        "src/acme_wordcount/settings.py",
        "src/acme_wordcount/provider.py",
        "src/acme_wordcount/plugin.py",
        "tests/test_conformance.py",
        "tests/test_wordcount.py",
        "tests/conftest.py",
        "tests/test_wordcount_http.py",
    }


def test_every_python_and_toml_block_is_valid():
    for language, text in code_blocks():
        if FILE_HEADER.fullmatch(text.partition("\n")[0]):
            continue  # a file or a piece of one: checked whole, below
        if language == "python":
            ast.parse(text)
        elif language == "toml":
            tomllib.loads(text)
    for path, text in tutorial_files().items():
        ast.parse(text) if path.endswith(".py") else tomllib.loads(text)


def test_the_packages_own_tests_pass(package):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:schemathesis",
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:anyio",
        ],
        cwd=package,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout)[1])
    assert passed >= 2 + 2 * 14 + 2, result.stdout[-2000:]  # two runs of the suite, the behaviour and fixture tests
    # The line the page shows runtime-registry's pytest plugin printing is the one it prints.
    shown = re.search(r"^runtime-registry conformance: .*$", TUTORIAL.read_text(), re.MULTILINE)[0]
    assert shown in result.stdout.splitlines(), result.stdout[:2000]


def test_the_plugin_loads_through_its_declared_entry_point(plugin):
    config = parse_config(tutorial_file("registry.toml"))
    assembly = assemble(config, discovered=(plugin,))
    (info,) = assembly.plugins.plugins
    assert (info.name, info.version, info.kinds, info.state) == (
        "wordcount",
        "1.0.0",
        ("wordcount",),
        PluginState.LOADED,
    )


async def test_the_tutorials_config_serves_the_kind_over_http(plugin):
    from runtime_registry.server.app import create_app

    app = create_app(assembly=assemble(parse_config(tutorial_file("registry.toml")), discovered=(plugin,)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as api:
            summary = (await api.get("/api/runtimes/counter")).json()
            created = await api.post("/api/runtimes/counter/workers", json={"label": "tutorial"})
            worker_id = created.json()["worker_id"]
            accepted = await api.post(f"/api/runtimes/counter/workers/{worker_id}/input", json={"content": "one two"})
            transcript = (await api.get(f"/api/runtimes/counter/workers/{worker_id}/transcript")).json()
            cancel = await api.post(f"/api/runtimes/counter/workers/{worker_id}/cancel")
    assert (summary["kind"], summary["display_name"], summary["status"]) == ("wordcount", "Word counter", "running")
    assert summary["capabilities"]["cancel_worker"] is False and summary["capabilities"]["stream_events"] is True
    assert summary["limits"]["worker_page_max"] == 50
    assert (created.status_code, accepted.status_code) == (201, 202)
    assert [item["content"] for item in transcript["items"]] == ["one two", "2 words, 7 characters"]
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (405, "unsupported_operation")


def test_the_settings_errors_the_page_shows_are_the_real_ones(plugin):
    shown = re.search(
        r"```\n(runtime-registry: registry\.toml: runtimes\[0\]\.settings.*?)```", TUTORIAL.read_text(), re.DOTALL
    )[1].splitlines()
    actual = []
    for settings in ('{ max_workers = 0, page_max = "50", colour = "red" }', "{ event_retention = 10, page_max = 50 }"):
        config = parse_config(f'[[runtimes]]\nid = "counter"\nkind = "wordcount"\nsettings = {settings}\n')
        with pytest.raises(ConfigError) as refused:
            assemble(config, discovered=(plugin,), strict=True, source="registry.toml")
        actual += [f"runtime-registry: {line}" for line in refused.value.lines()]
    assert sorted(shown) == sorted(actual)


def test_the_table_of_checks_lists_every_check_of_the_suite():
    listed = re.findall(r"^\| `(test_\w+)` \|", TUTORIAL.read_text(), re.MULTILINE)
    assert listed == RuntimeConformance.check_names()


def test_the_table_says_what_each_check_holds_you_to_as_its_docstring_does():
    rows = re.findall(r"^\| `(test_\w+)` \| (.*) \|$", TUTORIAL.read_text(), re.MULTILINE)
    for name, text in rows:
        docstring = " ".join(getattr(RuntimeConformance, name).__doc__.split())
        assert docstring[0].lower() + docstring[1:] == f"{text}.", name


def test_the_table_of_models_gives_every_field_in_order_with_its_default():
    import attrs

    import registry_core

    rows = re.findall(r"^\| `(\w+)`(?: \(received\))? \| (.*) \|$", TUTORIAL.read_text(), re.MULTILINE)
    models = {name: cells for name, cells in rows if attrs.has(getattr(registry_core, name, None) or object)}
    assert len(models) == 14
    for name, cells in models.items():
        # `field` or `field=default`; capitalised names (enum members mentioned in passing) are not fields.
        documented = [f for f in re.findall(r"`(\w+(?:=[^`]*)?)`", cells.split(" — ")[0]) if not f[0].isupper()]
        fields = attrs.fields(getattr(registry_core, name))
        assert [f.split("=")[0] for f in documented] == [field.name for field in fields], name
        for text, field in zip(documented, fields, strict=False):
            if "=" in text:
                default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
                assert eval(text.split("=", 1)[1], vars(registry_core)) == default, f"{name}.{field.name}"
            else:
                assert field.default is attrs.NOTHING, f"{name}.{field.name} has a default the table does not show"
