"""An engine's settings class (issue 22): options read into it at startup, typos with suggestions, listed by plugins --json."""

from __future__ import annotations

import types
from typing import Annotated

import attrs
import pytest
from annotated_types import Interval

from registry_core import TurnEngine, TurnResult, hookimpl
from registry_core.engines import read_engine_settings
from runtime_registry.host import ConfigError
from runtime_registry.host.plugin_loading import DiscoveredPlugin, load_plugins
from runtime_registry.testing import FakeTurn, engine_runtime


@attrs.frozen
class ShoutSettings:
    """How loud.

    :param volume: how many exclamation marks, 1-11.
    :param suffix: what ends every reply.
    """

    volume: Annotated[int, Interval(ge=1, le=11)] = 3
    suffix: str = ""


async def shout(turn):
    settings: ShoutSettings = turn.profile.engine_settings
    return TurnResult(turn.input.upper() + "!" * settings.volume + settings.suffix)


SHOUT = TurnEngine("kit-shout", shout, description="shouts", settings=ShoutSettings)


def shout_plugin() -> types.ModuleType:
    plugin = types.ModuleType("kit_shout")

    @hookimpl
    def register_turn_engines(register):
        register(SHOUT)

    plugin.register_turn_engines = register_turn_engines  # type: ignore[attr-defined]
    return plugin


async def test_the_engine_reads_its_settings_object_from_the_profiles_options():
    async with engine_runtime(shout_plugin(), profile={"options": {"volume": 5, "suffix": " ok"}}) as runtime:
        worker = await runtime.create_worker()
        turn = await runtime.run_turn(worker, "hi")
    assert turn.reply == "HI!!!!! ok"


async def test_no_options_give_the_settings_defaults():
    async with engine_runtime(shout_plugin()) as runtime:
        turn = await runtime.run_turn(await runtime.create_worker(), "hi")
    assert turn.reply == "HI!!!"


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({"volum": 5}, "profiles.test.options.volum: unknown field; did you mean 'volume'?"),
        ({"volume": 12}, "profiles.test.options.volume: must be at most 11"),
        ({"volume": "5"}, "profiles.test.options.volume: must be an integer"),
        ({"colour": "red"}, "profiles.test.options.colour: unknown field"),
    ],
)
async def test_options_the_settings_class_refuses_are_configuration_errors_at_their_key(options, line):
    with pytest.raises(ConfigError) as refused:
        async with engine_runtime(shout_plugin(), profile={"options": options}):
            pass
    assert [problem.split("settings.", 1)[1] for problem in refused.value.lines()] == [line]


def test_a_settings_class_must_be_an_attrs_class():
    with pytest.raises(TypeError, match="attrs class"):
        TurnEngine("kit-bad", shout, settings=dict)


def test_read_engine_settings_without_a_class_is_none_and_open_settings_leave_other_keys():
    assert read_engine_settings(TurnEngine("kit-plain", shout), {"anything": 1}) is None
    open_engine = TurnEngine("kit-open", shout, settings=ShoutSettings, settings_open=True)
    assert read_engine_settings(open_engine, {"volume": 2, "top_k": 5}) == ShoutSettings(volume=2)


async def test_fake_turn_takes_a_profile_with_a_settings_object():
    from registry_core import EngineProfile

    profile = EngineProfile("loud", "kit-shout", engine_settings=ShoutSettings(volume=1))
    assert (await shout(FakeTurn("a", profile=profile))).text == "A!"


def test_plugins_json_lists_the_engine_settings():
    plugin = shout_plugin()
    plugins = load_plugins((DiscoveredPlugin("kit-shout", "1", "", load=lambda: plugin),))
    (info,) = plugins.listing()
    settings = {s.name: s for s in info.engine_settings["kit-shout"]}
    assert (settings["volume"].type, settings["volume"].default, settings["volume"].doc) == (
        "int (>= 1, <= 11)",
        3,
        "how many exclamation marks, 1-11",
    )
