"""Config files: defaults, structure, errors that name file and field, environment overrides."""

from __future__ import annotations

import pytest

from runtime_registry.host import (
    ConfigError,
    apply_environment,
    assemble,
    discover_plugins,
    load_config,
    parse_config,
)
from runtime_registry.host.config import DEFAULT_RUNTIME_ID


def problems(text, **kwargs):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="ops.toml")
    return [(p.path, p.message) for p in caught.value.problems]


def test_no_file_means_one_embedded_runtime():
    config = load_config(None)
    assert [(r.id, r.kind) for r in config.runtimes] == [(DEFAULT_RUNTIME_ID, "embedded")]
    assert config.server.host == "127.0.0.1"


def test_full_file_is_structured():
    config = parse_config(
        """
        [server]
        port = 9000
        token = "s3cret"
        [plugins]
        disabled = ["local-compat"]
        [[runtimes]]
        id = "one"
        kind = "embedded"
        display_name = "One"
        settings = { max_workers = 5 }
        """
    )
    assert config.server.port == 9000 and config.server.token == "s3cret"
    assert config.plugins.disabled == ("local-compat",)
    assert config.runtimes[0].settings == {"max_workers": 5}
    assert "s3cret" not in repr(config)


def test_file_without_runtimes_gets_the_default_runtime():
    assert parse_config("[server]\nport = 1\n").runtimes[0].id == DEFAULT_RUNTIME_ID


def test_errors_name_each_field():
    found = problems('[server]\nport = "80"\nbogus = 1\n[[runtimes]]\nid = "bad id"\nkind = "embedded"\n')
    assert ("server.port", "must be an integer") in found
    assert ("server.bogus", "unknown field") in found
    assert ("runtimes[0].id", "must be 1-120 characters of ASCII letters, digits, '-', '_' or ':'") in found


def test_port_out_of_range():
    assert problems("[server]\nport = 70000\n") == [("server.port", "must be at most 65535")]


def test_duplicate_runtime_ids():
    text = '[[runtimes]]\nid = "a"\nkind = "embedded"\n[[runtimes]]\nid = "a"\nkind = "embedded"\n'
    assert problems(text) == [("runtimes[1].id", "runtime id 'a' is used more than once")]


def test_bad_toml_is_one_line_naming_the_file():
    with pytest.raises(ConfigError) as caught:
        parse_config("[server\n", source="ops.toml")
    assert str(caught.value).startswith("ops.toml: is not valid TOML")
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert str(caught.value) == f"{tmp_path / 'nope.toml'}: no such file"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_settings_errors_name_the_runtime_settings_field():
    config = parse_config('[[runtimes]]\nid = "a"\nkind = "embedded"\nsettings = { no_such_setting = 1 }\n')
    with pytest.raises(ConfigError) as caught:
        assemble(config, discovered=discover_plugins(), source="ops.toml")
    assert ("runtimes[0].settings.no_such_setting", "unknown field") in [
        (p.path, p.message) for p in caught.value.problems
    ]


def test_unknown_kind_is_an_error_when_strict_and_unavailable_otherwise():
    config = parse_config('[[runtimes]]\nid = "a"\nkind = "nonexistent"\n')
    with pytest.raises(ConfigError) as caught:
        assemble(config, discovered=(), strict=True)
    assert caught.value.problems[0].path == "runtimes[0].kind"
    assert assemble(config, discovered=()).registry.runtime_ids == ("a",)


def test_environment_overrides_token_and_plugin_selection():
    config = apply_environment(
        load_config(None),
        {
            "RUNTIME_REGISTRY_TOKEN": "t",
            "RUNTIME_REGISTRY_PLUGINS": "embedded, x",
            "RUNTIME_REGISTRY_DISABLE_PLUGINS": "x",
        },
    )
    assert config.server.token == "t"
    assert config.plugins.enabled == ("embedded", "x")
    assert config.plugins.disabled == ("x",)
