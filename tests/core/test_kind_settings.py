"""A kind's settings, listed from its settings class; typo suggestions; disabled plugins named in check-config."""

from __future__ import annotations

import json
from typing import Annotated

import attrs
import pytest
from annotated_types import Ge, Interval, MaxLen

from registry_core import PluginState, SettingInfo
from runtime_registry.host import ConfigError, assemble, discover_plugins, parse_config
from runtime_registry.host.kind_settings import closest_key, describe_settings
from runtime_registry.server.app import create_app
from runtime_registry.server.cli import main
from tests.support.asgi_client import serving


@attrs.frozen
class ColourSettings:
    """The settings of a test kind.

    :param colour: the colour workers use. Any CSS name
        works.
    :ivar size: how big (in points; at least 1).
    :param mode: one of two modes
    """

    colour: Annotated[str, MaxLen(20)]
    size: Annotated[int, Ge(1)] = 12
    ratio: Annotated[float, Interval(gt=0, le=1)] | None = None
    tags: tuple[str, ...] = ("a", "b")
    extra: dict[str, int] = attrs.Factory(dict)


def test_each_field_is_listed_with_type_default_and_one_line_doc():
    assert describe_settings(ColourSettings) == (
        SettingInfo("colour", "str (length <= 20)", True, None, "the colour workers use"),
        SettingInfo("size", "int (>= 1)", False, 12, "how big (in points; at least 1)"),
        SettingInfo("ratio", "float (> 0, <= 1) | None", False, None, None),
        SettingInfo("tags", "tuple[str, ...]", False, ["a", "b"], None),
        SettingInfo("extra", "dict[str, int]", False, {}, None),
    )


def test_a_settings_type_that_is_not_attrs_lists_nothing():
    assert describe_settings(dict) == ()


def test_the_closest_key_is_suggested_and_nothing_far_off():
    assert closest_key("max_worker", ["max_workers", "event_retention"]) == "max_workers"
    assert closest_key("zzz", ["max_workers", "event_retention"]) is None


def config_problems(text: str, *, strict: bool = True) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        assemble(parse_config(text, source="ops.toml"), discovered=discover_plugins(), strict=strict, source="ops.toml")
    return [(p.path, p.message) for p in caught.value.problems]


def test_a_mistyped_settings_key_gets_the_closest_key():
    found = config_problems('[[runtimes]]\nid = "a"\nkind = "embedded"\nsettings = { max_worker = 3 }\n')
    assert found == [("runtimes[0].settings.max_worker", "unknown field; did you mean 'max_workers'?")]


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        ("[server]\nprot = 1\n", "server.prot", "port"),
        ("[plugin]\n", "plugin", "plugins"),
        ('[[runtimes]]\nid = "a"\nknd = "embedded"\n', "runtimes[0].knd", "kind"),
    ],
)
def test_a_mistyped_config_key_gets_the_closest_key(text, path, suggestion):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert (path, f"unknown field; did you mean {suggestion!r}?") in [
        (p.path, p.message) for p in caught.value.problems
    ]


def test_a_kind_of_a_disabled_plugin_says_so_and_how_to_enable_it():
    text = '[plugins]\ndisabled = ["local-compat"]\n[[runtimes]]\nid = "a"\nkind = "local-compat"\n'
    [(path, message)] = config_problems(text)
    assert path == "runtimes[0].kind"
    assert "plugin 'local-compat', which provides it, is disabled" in message
    assert "remove it from [plugins] disabled" in message


def test_a_kind_of_a_plugin_left_out_of_enabled_says_to_add_it():
    text = '[plugins]\nenabled = ["embedded"]\n[[runtimes]]\nid = "a"\nkind = "local-compat"\n'
    [(_, message)] = config_problems(text)
    assert "add it to [plugins] enabled" in message


def test_check_config_prints_the_suggestion(tmp_path, capsys):
    path = tmp_path / "ops.toml"
    path.write_text('[[runtimes]]\nid = "a"\nkind = "embedded"\nsettings = { max_worker = 3 }\n')
    assert main(["check-config", str(path)]) == 2
    assert "ops.toml:4: runtime 'a': settings.max_worker: unknown field; did you mean 'max_workers'?" in (
        capsys.readouterr().err
    )


def test_plugins_json_lists_each_loaded_kinds_settings(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {item["name"]: item for item in json.loads(capsys.readouterr().out)["items"]}
    embedded = {setting["name"]: setting for setting in plugins["embedded"]["settings"]["embedded"]}
    assert embedded["max_workers"] == {
        "name": "max_workers",
        "type": "int (>= 1)",
        "required": False,
        "default": 1000,
        "doc": "workers held, stopped ones included (they stay readable)",
    }
    local = {setting["name"]: setting for setting in plugins["local-compat"]["settings"]["local-compat"]}
    assert local["data_dir"]["required"] is True and local["data_dir"]["default"] is None


async def test_api_plugins_lists_the_settings_and_disabled_plugins_list_none():
    config = parse_config('[plugins]\ndisabled = ["local-compat"]\n')
    app = create_app(assembly=assemble(config))
    async with serving(app) as client:
        items = {item["name"]: item for item in (await client.get("/api/plugins")).json()["items"]}
    assert [s["name"] for s in items["embedded"]["settings"]["embedded"]][:2] == [
        "max_workers",
        "max_transcript_entries",
    ]
    assert (items["local-compat"]["state"], items["local-compat"]["settings"]) == (PluginState.DISABLED.value, {})
