"""A ``key_env`` naming a variable that is not set (issue 17): said at start, in the status, by check-config
and in the turn's failure -- never by sending no key and blaming the provider."""

from __future__ import annotations

import logging
import textwrap

import pytest

from registry_core import RuntimeStatus
from registry_core.extensions import HostExtensions
from runtime_registry.engines.clock import CLOCK
from runtime_registry.engines.llm_engine import LLM
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import BUILTIN_ENGINES
from runtime_registry.runtimes.embedded.settings import StoreBackend, StoreSettings
from runtime_registry.server.cli import main

from ..embedded.test_engines import events_of, until_idle
from .openai_server import openai_server

UNSET = "RUNTIME_REGISTRY_TEST_UNSET_KEY"
SECRET_VALUE = "sk-should-never-be-shown-0123"


@pytest.fixture(autouse=True)
def unset(monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)


def settings(**profile: object) -> EmbeddedSettings:
    return EmbeddedSettings(
        profiles={"p": ProfileSettings(engine="llm", **profile)},  # type: ignore[arg-type]
        default_profile="p",
        store=StoreSettings(backend=StoreBackend.MEMORY),
    )


async def test_the_turn_fails_saying_the_variable_is_unset_and_nothing_is_sent():
    with openai_server() as server:
        rt = EmbeddedRuntime(
            settings(model="m", api_base=server.base_url, key_env=UNSET),
            event_start_id=1,
            engines={**BUILTIN_ENGINES, "llm": LLM},
            tools={"clock": CLOCK},
        )
        worker = (await rt.create_worker()).worker.worker_id
        await rt.send_input(worker, "hello")
        await until_idle(rt, worker)
        assert events_of(rt, worker)[-1] == (
            "worker.turn_failed",
            {
                "turn": 1,
                "code": "provider_auth",
                "message": "the environment variable the profile's key_env names is not set",
            },
        )
        assert server.observed.requests == []  # no "Bearer no-key" request


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
async def test_the_runtime_is_degraded_with_a_diagnostic_and_the_start_logs_it(monkeypatch, caplog, value):
    if value is not None:
        monkeypatch.setenv(UNSET, value)
    provider = EmbeddedProvider(
        "rt-keys",
        settings(model="m", api_base="http://127.0.0.1:9/v1", key_env=UNSET),
        extensions=HostExtensions(engines={**BUILTIN_ENGINES, "llm": LLM}),
    )
    with caplog.at_level(logging.WARNING):
        await provider.start()
    try:
        state = await provider.describe()
        assert state.status is RuntimeStatus.DEGRADED
        assert [(d.code, d.severity.value) for d in state.diagnostics] == [("profile_key_unset", "warning")]
        # Clients see the profile, not the variable (the leak scan treats its name as a secret).
        assert UNSET not in state.diagnostics[0].message and "'p'" in state.diagnostics[0].message
        # The operator's log names it.
        assert any(UNSET in r.getMessage() and "rt-keys" in r.getMessage() for r in caplog.records)
        # Set it, and the runtime is running again: the key is read at every turn.
        monkeypatch.setenv(UNSET, SECRET_VALUE)
        state = await provider.describe()
        assert (state.status, state.diagnostics) == (RuntimeStatus.RUNNING, ())
    finally:
        await provider.close()


def test_check_config_warns_of_an_unset_key_env_and_accepts_the_file(capsys, tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [[runtimes]]
            id = "rt"
            kind = "embedded"
            [runtimes.settings.store]
            backend = "memory"
            [runtimes.settings.profiles.assistant]
            engine = "llm"
            model = "m"
            api_base = "http://127.0.0.1:9/v1"
            key_env = "{UNSET}"
            """
        )
    )
    code = main(["check-config", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert len(err) == 1
    assert err[0] == (
        f"runtime-registry: warning: {path}: runtimes[0].settings.profiles.assistant.key_env: "
        f"{UNSET} is not set in this environment; the profile's turns fail with provider_auth until it is"
    )


def test_check_config_never_shows_the_keys_value(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(UNSET, SECRET_VALUE)
    path = tmp_path / "registry.toml"
    path.write_text(
        f'[[runtimes]]\nid = "rt"\nkind = "embedded"\n[runtimes.settings.store]\nbackend = "memory"\n'
        f'[runtimes.settings.profiles.a]\nengine = "llm"\nmodel = "m"\napi_base = "http://127.0.0.1:9/v1"\n'
        f'key_env = "{UNSET}"\n'
    )
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert SECRET_VALUE not in captured.out + captured.err
    assert captured.err == ""
