"""Settings from the operator's config, and the plugin hook as runtime-registry loads it."""

from __future__ import annotations

import pytest
import subprocess_runtime.plugin
from processes import UPPERCASE, python_command
from subprocess_runtime import SubprocessProvider, SubprocessSettings

from registry_core import InvalidRequest, PluginState, structure
from runtime_registry.host import assemble, load_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin


def problems(settings: dict) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRequest) as refused:
        structure(settings, SubprocessSettings, path="settings")
    return [(d["path"], d["message"]) for d in refused.value.details]


def test_a_command_is_all_a_runtime_needs():
    settings = structure({"command": ["tr", "a-z", "A-Z"]}, SubprocessSettings)
    assert settings.command == ("tr", "a-z", "A-Z")
    assert settings.timeout_seconds > 0 and settings.max_workers >= 1


def test_the_command_is_required():
    assert problems({}) == [("settings.command", "required field is missing")]


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ({"command": []}, "settings.command", "must not be empty"),
        ({"command": "tr a-z A-Z"}, "settings.command", "must be an array"),
        ({"command": ["tr", ""]}, "settings.command[1]", "must not be empty"),
        ({"command": ["cat"], "timeout_seconds": 0}, "settings.timeout_seconds", "must be greater than 0"),
        ({"command": ["cat"], "max_output_chars": 0}, "settings.max_output_chars", "must be at least 1"),
        ({"command": ["cat"], "event_page_max": 5000}, "settings.event_page_max", "must be at most 1000"),
        ({"command": ["cat"], "environment": {"A": 1}}, "settings.environment.A", "must be a string"),
        ({"command": ["cat"], "shell": True}, "settings.shell", "unknown field"),
    ],
)
def test_bad_settings_name_their_field(settings, path, message):
    assert problems(settings) == [(path, message)]


def test_a_nul_character_in_the_command_is_refused():
    assert problems({"command": ["cat", "a\0b"]})[0][1].startswith("command:")


def test_a_malformed_environment_name_is_refused():
    assert problems({"command": ["cat"], "environment": {"A=B": "x"}})[0][1].startswith("environment:")


def test_the_limits_follow_the_settings():
    provider = SubprocessProvider("r", SubprocessSettings(command=("cat",), max_workers=7, transcript_page_max=20))
    assert (provider.limits.max_workers, provider.limits.transcript_page_max) == (7, 20)


def the_plugin() -> DiscoveredPlugin:
    return DiscoveredPlugin(
        "subprocess", "0.1.0", "runtime-registry-subprocess", load=lambda: subprocess_runtime.plugin
    )


def test_the_plugin_registers_the_subprocess_kind():
    loaded = load_plugins([the_plugin()])
    (info,) = loaded.plugins
    assert (info.state, info.kinds) == (PluginState.LOADED, ("subprocess",))
    assert loaded.kind("subprocess").kind.settings_type is SubprocessSettings


async def test_an_operator_config_builds_a_running_subprocess_runtime():
    command = ", ".join(f'"{part}"' for part in python_command(UPPERCASE)).replace("\\", "\\\\")
    config = parse_config(
        f'[[runtimes]]\nid = "shouter"\nkind = "subprocess"\nsettings = {{ command = [{command}] }}\n'
    )
    registry = assemble(config, discovered=(the_plugin(),)).registry
    async with registry:
        summary = await registry.describe_runtime("shouter")
    assert (summary.kind, summary.plugin.name, summary.status.value) == ("subprocess", "subprocess", "running")
    assert all(getattr(summary.capabilities, name) for name in ("send_input", "cancel_worker", "stream_events"))
