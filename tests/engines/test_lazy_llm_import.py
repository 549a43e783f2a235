"""A server whose configuration has no llm profile imports neither llm nor openai (they take ~1 s)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

ASSEMBLE = textwrap.dedent(
    """
    import json, sys
    from runtime_registry.host import assemble, parse_config
    from runtime_registry.server.app import create_app
    config = parse_config({config!r})
    create_app(assembly=assemble(config, strict=True))
    print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
    """
)


def top_level_modules_after_assembling(config: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", ASSEMBLE.format(config=config)], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def test_the_default_configuration_imports_neither_llm_nor_openai():
    assert top_level_modules_after_assembling("") & {"llm", "openai"} == set()


def test_echo_and_record_profiles_import_neither():
    config = '[[runtimes]]\nid = "a"\nkind = "embedded"\n[runtimes.settings.profiles.e]\nengine = "echo"\n'
    assert top_level_modules_after_assembling(config) & {"llm", "openai"} == set()


def test_an_llm_profile_imports_them_at_startup_to_check_it():
    config = '[[runtimes]]\nid = "a"\nkind = "embedded"\n[runtimes.settings.profiles.l]\nengine = "llm"\nmodel = "gpt-4o-mini"\n'
    assert {"llm", "openai"} <= top_level_modules_after_assembling(config)
