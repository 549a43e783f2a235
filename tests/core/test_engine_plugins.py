"""Turn engines and worker tools from plugins: discovered through entry points, checked, isolated, used."""

from __future__ import annotations

import asyncio

import pytest

from registry_core import CreateWorkerRequest, InputRequest, PluginState
from registry_core.models import InputContent, ProfileSelector
from runtime_registry.host import ConfigError, assemble, discover_plugins, load_plugins, parse_config

from .distributions import make_distribution

SHOUT_ENGINE = """
from registry_core import TurnEngine, TurnResult, WorkerTool, hookimpl

async def shout(turn):
    for word in turn.input.split():
        turn.emit(word.upper() + " ")
    return TurnResult(turn.input.upper() + " (after " + str(len(turn.history)) + " entries)")

async def dice():
    return "4"

@hookimpl
def register_turn_engines(register):
    register(TurnEngine("{engine}", shout, description="shouts"))

@hookimpl
def register_worker_tools(register):
    register(WorkerTool("{tool}", "rolls a die", {{"type": "object"}}, dice))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def states(plugin_set):
    return {p.name: (p.state, p.reason) for p in plugin_set.plugins}


async def test_a_third_party_engine_installed_as_a_package_runs_a_workers_turns(site):
    make_distribution(
        site, dist="shout-engine", version="1.2.0", plugins={"shout": SHOUT_ENGINE.format(engine="shout", tool="dice")}
    )
    config = parse_config(
        '[[runtimes]]\nid = "inside"\nkind = "embedded"\n[runtimes.settings.profiles.loud]\nengine = "shout"\n'
    )
    assembly = assemble(
        config, discovered=tuple(p for p in discover_plugins() if p.name in ("embedded", "shout")), strict=True
    )
    assert assembly.plugins.engines["shout"].plugin.version == "1.2.0"
    assert assembly.plugins.tools["dice"].plugin.name == "shout"
    async with assembly.registry as registry:
        worker = (
            await registry.create_worker("inside", CreateWorkerRequest(profile=ProfileSelector("loud")))
        ).worker_id
        for text in ("hello there", "again"):
            await registry.send_input("inside", worker, InputRequest(InputContent(text)))
            async with asyncio.timeout(2):
                while (await registry.get_worker("inside", worker)).status != "idle":
                    await asyncio.sleep(0.001)
        page = await registry.read_transcript("inside", worker)
    assert [(e.role, e.content) for e in page.items][-1] == ("assistant", "AGAIN (after 2 entries)")


def test_the_builtin_plugin_registers_record_echo_llm_and_clock_without_importing_llm():
    loaded = load_plugins([p for p in discover_plugins() if p.name == "embedded"])
    assert set(loaded.engines) == {"record", "echo", "llm"}
    assert set(loaded.tools) == {"clock"}


@pytest.mark.parametrize(
    ("what", "engine", "tool"), [("turn engine", "echo", "spare"), ("worker tool", "spare2", "clock")]
)
def test_a_plugin_registering_a_taken_name_fails_as_a_whole_and_others_load(site, what, engine, tool):
    dist = f"dup-{engine}-{tool}"
    make_distribution(site, dist=dist, version="1.0", plugins={dist: SHOUT_ENGINE.format(engine=engine, tool=tool)})
    loaded = load_plugins([p for p in discover_plugins() if p.name in ("embedded", dist)])
    state, reason = states(loaded)[dist]
    taken = engine if what == "turn engine" else tool
    assert (state, reason) == (PluginState.FAILED, f"{what} {taken!r} is already registered by plugin 'embedded'")
    assert states(loaded)["embedded"][0] is PluginState.LOADED
    assert loaded.engines["echo"].plugin.name == "embedded"


def test_registering_something_else_than_an_engine_fails_the_plugin(site):
    source = "from registry_core import hookimpl\n@hookimpl\ndef register_turn_engines(register):\n    register('not an engine')\n"
    make_distribution(site, dist="wrong-engine", version="1.0", plugins={"wrong-engine": source})
    loaded = load_plugins([p for p in discover_plugins() if p.name == "wrong-engine"])
    assert states(loaded)["wrong-engine"] == (PluginState.FAILED, "register_turn_engines raised (TypeError)")


def check(profile_toml: str) -> list[tuple[str, str]]:
    config = parse_config(
        '[[runtimes]]\nid = "inside"\nkind = "embedded"\n[runtimes.settings.profiles.p]\n' + profile_toml
    )
    with pytest.raises(ConfigError) as caught:
        assemble(config, discovered=tuple(p for p in discover_plugins() if p.name == "embedded"), strict=True)
    return [(problem.path, problem.message) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("profile", "path"),
    [
        ('engine = "warp"', "runtimes[0].settings.profiles.p.engine"),
        ('engine = "Bad Name"', "runtimes[0].settings.profiles.p"),
        ('engine = "llm"', "runtimes[0].settings.profiles.p.model"),
        ('engine = "llm"\nmodel = "no-such-model-xyz"', "runtimes[0].settings.profiles.p.model"),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\noptions = { warp = 1 }', "runtimes[0].settings.profiles.p.options"),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\noptions = { temperature = [1] }', "runtimes[0].settings.profiles.p"),
        ('engine = "llm"\nmodel = "m"\napi_base = "ftp://x"', "runtimes[0].settings.profiles.p"),
        (
            'engine = "llm"\nmodel = "m"\napi_base = "http://127.0.0.1:1/v1"\nkey_env = "NOT A NAME"',
            "runtimes[0].settings.profiles.p",
        ),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\ntools = ["teleport"]', "runtimes[0].settings.profiles.p.tools[0]"),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\ntools = ["clock", "clock"]', "runtimes[0].settings.profiles.p"),
        (
            'engine = "llm"\nmodel = "gpt-4o-mini"\nmax_turn_seconds = 0',
            "runtimes[0].settings.profiles.p.max_turn_seconds",
        ),
        (
            'engine = "llm"\nmodel = "gpt-4o-mini"\nmax_turn_seconds = 4000',
            "runtimes[0].settings.profiles.p.max_turn_seconds",
        ),
        (
            'engine = "llm"\nmodel = "gpt-4o-mini"\nmax_tool_rounds = 0',
            "runtimes[0].settings.profiles.p.max_tool_rounds",
        ),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\nsystem_prompt = 3', "runtimes[0].settings.profiles.p.system_prompt"),
        (
            'engine = "llm"\nmodel = "gpt-4o-mini"\nreply_delay_seconds = 1',
            "runtimes[0].settings.profiles.p.reply_delay_seconds",
        ),
        ('engine = "echo"\nmodel = "gpt-4o-mini"', "runtimes[0].settings.profiles.p.model"),
        ('engine = "echo"\nbase = "builtin:echo"', "runtimes[0].settings.profiles.p"),
        ('engine = "llm"\nmodel = "gpt-4o-mini"\nwarp_factor = 9', "runtimes[0].settings.profiles.p.warp_factor"),
    ],
)
def test_every_new_profile_key_has_a_config_error_at_its_path(profile, path):
    problems = check(profile)
    assert [p for p, _ in problems] == [path], problems


def test_a_valid_llm_profile_for_a_hosted_model_and_one_for_a_local_server_pass():
    config = parse_config(
        '[[runtimes]]\nid = "inside"\nkind = "embedded"\n'
        '[runtimes.settings.profiles.hosted]\nengine = "llm"\nmodel = "gpt-4o-mini"\nkey_env = "OPENAI_API_KEY"\n'
        'options = { temperature = 0.2 }\ntools = ["clock"]\nsystem_prompt = "You are careful."\n'
        '[runtimes.settings.profiles.local]\nengine = "llm"\nmodel = "llama3.2"\napi_base = "http://127.0.0.1:11434/v1"\n'
    )
    assemble(config, discovered=tuple(p for p in discover_plugins() if p.name == "embedded"), strict=True)
