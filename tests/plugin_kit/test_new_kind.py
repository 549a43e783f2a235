"""``runtime-registry new-kind``: the package it writes installs, passes its own tests and is listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from runtime_registry.server.cli import main
from runtime_registry.server.cli.new_kind import names_for

from .installed_plugin import create_plugin_environment, run_cli


def test_names_follow_the_kind_name():
    assert names_for("my-notes") | {"requirement": ""} == {
        "kind": "my-notes",
        "module": "my_notes_runtime",
        "Class": "MyNotes",
        "dist": "runtime-registry-my-notes",
        "requirement": "",
    }


@pytest.mark.parametrize("name", ["Notes", "9lives", "a_b", "", "x" * 65])
def test_a_bad_kind_name_is_refused_with_one_line(name, tmp_path, capsys):
    assert main(["new-kind", name, str(tmp_path / "out")]) == 2
    assert "is not a kind name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_directory_with_files_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-kind", "notes", str(tmp_path)]) == 2
    assert "exists and is not an empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_default_directory_is_named_after_the_distribution(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-kind", "notes"]) == 0
    project = tomllib.loads((tmp_path / "runtime-registry-notes" / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["runtime_registry"] == {"notes": "notes_runtime.plugin"}
    assert project["name"] == "runtime-registry-notes"
    assert "next: cd runtime-registry-notes" in capsys.readouterr().out


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("new-kind") / "pkg"
    assert main(["new-kind", "field-notes", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def installed_python(generated, tmp_path_factory) -> Path:
    """A fresh venv (bridged to this environment's runtime-registry) with the generated package pip-installed."""
    return create_plugin_environment(tmp_path_factory.mktemp("new-kind-venv"), package=generated)


def test_the_generated_packages_tests_pass_as_generated(generated, installed_python):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    result = subprocess.run(
        [installed_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=generated,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_once_installed_runtime_registry_plugins_lists_it_with_its_settings(installed_python, tmp_path):
    listed = run_cli(installed_python, "plugins", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugin = {p["name"]: p for p in json.loads(listed.stdout)["items"]}["field-notes"]
    assert (plugin["version"], plugin["kinds"], plugin["state"]) == ("0.1.0", ["field-notes"], "loaded")
    settings = {s["name"]: s for s in plugin["settings"]["field-notes"]}
    assert settings["max_workers"]["doc"] == "the most workers the runtime holds"


def test_once_installed_check_config_accepts_a_runtime_of_the_kind(installed_python, tmp_path):
    config = tmp_path / "ops.toml"
    config.write_text('[[runtimes]]\nid = "notes"\nkind = "field-notes"\nsettings = { max_workers = 3 }\n')
    checked = run_cli(installed_python, "check-config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "notes (field-notes)" in checked.stdout


def test_new_kind_turns_writes_a_slow_kind_whose_busy_and_cancel_checks_run(tmp_path):
    root = tmp_path / "slow"
    assert main(["new-kind", "slow-notes", str(root), "--turns"]) == 0
    provider = (root / "src" / "slow_notes_runtime" / "provider.py").read_text()
    assert "WorkerLifecycle" in provider and len(provider.splitlines()) < 120
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["PYTHONPATH"] = str(root / "src")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    # Nothing skips: the slow turn runs the busy and cancel checks (only a kind with every capability
    # true would skip the false-capability check; a kind that claims reject only skips the checks of
    # the other busy policies).
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("every capability is true" in line or "does not claim the busy policy" in line for line in skipped), (
        skipped
    )
    assert "slow_turn_request" not in result.stdout


def test_new_kind_without_turns_writes_no_file_of_the_turns_overlay(tmp_path):
    assert main(["new-kind", "notes", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "turns").exists()
    assert "WorkerLifecycle" not in (tmp_path / "plain" / "src" / "notes_runtime" / "provider.py").read_text()
