"""The runtime-registry command: check-config, plugins, and serve's refusals, in-process; one real serve in a subprocess."""

from __future__ import annotations

import json
import socket
import textwrap
from importlib.metadata import version

import pytest

from runtime_registry.server.cli import main

GOOD = textwrap.dedent(
    """
    [server]
    port = 8123

    [[runtimes]]
    id = "backend-internal"
    kind = "embedded"
    settings = { max_workers = 10 }
    """
)


@pytest.fixture
def config_file(tmp_path):
    def write(text: str):
        path = tmp_path / "registry.toml"
        path.write_text(text)
        return path

    return write


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


# -- check-config ------------------------------------------------------------------


def test_check_config_accepts_a_good_file_and_exits_0(capsys, config_file):
    code, out, err = run(capsys, "check-config", str(config_file(GOOD)))
    assert (code, err) == (0, [])
    assert out == [f"{config_file(GOOD)}: ok: backend-internal (embedded)"]


def test_check_config_names_each_bad_field_and_exits_2(capsys, config_file):
    path = config_file(
        GOOD.replace("max_workers = 10", "max_workers = 0") + '\n[[runtimes]]\nid = "x"\nkind = "acme"\n'
    )
    code, _out, err = run(capsys, "check-config", str(path))
    assert code == 2
    assert err == [
        f"runtime-registry: {path}:8: runtime 'backend-internal': settings.max_workers: must be at least 1",
        f"runtime-registry: {path}:12: runtime 'x': kind: no loaded plugin provides runtime kind 'acme'",
    ]


SEVEN_MISTAKES = """\
colour = "red"

[server]
port = 99999
hots = "127.0.0.1"

[runtimes]
id = "notes"
kind = "embeded"
settings = { max_worker = 3 }
"""


def test_check_config_reports_every_mistake_of_a_file_in_one_run(capsys, config_file):
    path = config_file(SEVEN_MISTAKES)
    code, _out, err = run(capsys, "check-config", str(path))
    assert code == 2
    assert err == [
        f"runtime-registry: {path}:1: colour: unknown field",
        f"runtime-registry: {path}:4: server.port: must be at most 65535",
        f"runtime-registry: {path}:5: server.hots: unknown field; did you mean 'host'?",
        f"runtime-registry: {path}:7: runtimes: written as [runtimes], one table; runtimes are an array of tables: "
        "write [[runtimes]] (two brackets) before each runtime",
        f"runtime-registry: {path}:9: runtime 'notes': kind: no loaded plugin provides runtime kind 'embeded'; "
        "did you mean 'embedded'?",
    ]


def test_check_config_suggests_the_closest_engine_and_tool(capsys, config_file):
    path = config_file(
        '[[runtimes]]\nid = "a"\nkind = "embedded"\n\n[runtimes.settings.profiles.p]\n'
        'engine = "lm"\nmodel = "m"\n\n[runtimes.settings.profiles.q]\nengine = "llm"\nmodel = "m"\ntools = ["clok"]\n'
    )
    code, _out, err = run(capsys, "check-config", str(path))
    assert code == 2
    assert any(":6: runtime 'a': settings.profiles.p.engine:" in line and "did you mean 'llm'?" in line for line in err)
    assert any("settings.profiles.q.tools[0]:" in line and "did you mean 'clock'?" in line for line in err), err


def test_check_config_of_bad_toml_is_one_line_and_exit_2(capsys, config_file):
    code, _, err = run(capsys, "check-config", str(config_file("[server\n")))
    assert (code, len(err)) == (2, 1)
    assert "is not valid TOML" in err[0]


def test_check_config_of_a_missing_file_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "check-config", str(tmp_path / "nope.toml"))
    assert (code, err) == (2, [f"runtime-registry: {tmp_path / 'nope.toml'}: no such file"])


def test_check_config_warns_of_a_public_host_without_a_token_but_accepts_it(capsys, config_file, monkeypatch):
    monkeypatch.delenv("RUNTIME_REGISTRY_TOKEN", raising=False)
    code, _, err = run(capsys, "check-config", str(config_file(GOOD.replace("port = 8123", 'host = "0.0.0.0"'))))
    assert code == 0
    assert len(err) == 1 and "warning" in err[0] and "server.host" in err[0]


# -- plugins -----------------------------------------------------------------------


def test_plugins_json_lists_every_plugin_with_version_kinds_and_state(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    plugins = {p["name"]: p for p in json.loads("\n".join(out))["items"]}
    assert code == 0
    embedded = plugins["embedded"]
    settings = embedded.pop("settings")
    engine_settings = embedded.pop("engine_settings")
    llm = {setting["name"]: setting for setting in engine_settings["llm"]}
    assert list(engine_settings) == ["llm"]  # record, echo: no options
    assert llm["temperature"]["type"] == "float (>= 0, <= 2) | None" and llm["temperature"]["default"] is None
    assert embedded == {
        "name": "embedded",
        "version": version("runtime-registry"),
        "kinds": ["embedded"],
        "state": "loaded",
        "reason": None,
        "engines": ["record", "echo", "llm"],
        "tools": ["clock"],
    }
    assert list(settings) == ["embedded"] and "max_workers" in [setting["name"] for setting in settings["embedded"]]


def test_plugins_json_stays_json_when_a_plugin_prints_while_it_is_imported(capsys, monkeypatch):
    from runtime_registry.host.plugin_loading import DiscoveredPlugin

    def chatty_plugin() -> object:
        print("hello from a chatty plugin")
        return object()

    chatty = DiscoveredPlugin(name="chatty", version="1.0", distribution="chatty", load=chatty_plugin)
    monkeypatch.setattr("runtime_registry.server.cli.plugins.discover_plugins", lambda: (chatty,))
    code, out, err = run(capsys, "plugins", "--json")
    assert code == 0
    assert [p["name"] for p in json.loads("\n".join(out))["items"]] == ["chatty"]
    assert "hello from a chatty plugin" in "\n".join(err)


def test_plugins_shows_a_disabled_plugin_with_its_reason(capsys, config_file):
    path = config_file('runtimes = []\n[plugins]\ndisabled = ["local-compat"]\n')
    code, out, _ = run(capsys, "plugins", "--config", str(path))
    line = next(line for line in out if line.startswith("local-compat"))
    assert code == 0 and "disabled" in line and "disabled by configuration" in line


def test_plugins_prints_a_table_with_a_header(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and out[0].split() == ["NAME", "VERSION", "KINDS", "ENGINES", "TOOLS", "STATE", "REASON"]
    embedded = next(line for line in out if line.startswith("embedded"))
    assert "record,echo,llm" in embedded and "clock" in embedded


# -- serve's refusals ----------------------------------------------------------------


def test_serve_refuses_a_public_host_without_a_token_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("RUNTIME_REGISTRY_TOKEN", raising=False)
    code, out, err = run(capsys, "serve", "--host", "0.0.0.0", "--port", "1")
    assert (code, out, len(err)) == (2, [], 1)
    assert "refusing to listen on 0.0.0.0 without a token" in err[0] and "--allow-insecure-bind" in err[0]


def test_serve_of_a_missing_config_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "serve", "--config", str(tmp_path / "nope.toml"))
    assert (code, err) == (2, [f"runtime-registry: {tmp_path / 'nope.toml'}: no such file"])


def test_serve_of_a_bad_config_is_one_line_per_problem(capsys, config_file):
    path = config_file("[server]\nport = 99999\n")
    code, _, err = run(capsys, "serve", "--config", str(path))
    assert (code, err) == (2, [f"runtime-registry: {path}: server.port: must be at most 65535"])


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == 1
    assert err == [f"runtime-registry: cannot listen on 127.0.0.1:{port}: address already in use"]


def test_a_port_that_is_not_a_number_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", "eighty"])
    assert exited.value.code == 2


def test_serve_of_bad_runtime_settings_is_one_line_per_problem_and_exit_2(capsys, config_file):
    path = config_file(GOOD.replace("port = 8123", "port = 0").replace("max_workers = 10", "max_workers = 0"))
    code, _, err = run(capsys, "serve", "--config", str(path))
    assert (code, err) == (2, [f"runtime-registry: {path}: runtimes[0].settings.max_workers: must be at least 1"])
