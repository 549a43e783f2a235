"""serve answers health checks before importing llm, and still reports a bad llm profile (decision 0172)."""

from __future__ import annotations

import time

import httpx

from registry_core.engines import EngineProfile, ProfileProblem
from runtime_registry.engines import llm_engine

from ..support.server_process import running_server

RUNTIME = "/api/runtimes/backend-internal"


def config(tmp_path, model: str):
    path = tmp_path / "config.toml"
    path.write_text(
        '[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n[runtimes.settings.store]\nbackend = "memory"\n'
        f'[runtimes.settings.profiles.assistant]\nengine = "llm"\nmodel = "{model}"\n'
    )
    return path


def runtime_state(client: httpx.Client, *, until_not_running: bool) -> dict:
    deadline = time.monotonic() + 30
    while True:
        state = client.get(RUNTIME).json()
        if (state["status"] != "running") == until_not_running or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def test_a_bad_model_does_not_stop_serve_but_degrades_its_runtime_and_fails_its_turns(tmp_path):
    log = tmp_path / "server.log"
    with running_server(config(tmp_path, "no-such-model-xyz"), log=log) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            state = runtime_state(client, until_not_running=True)
            assert state["status"] == "degraded"
            (diagnostic,) = state["diagnostics"]
            assert diagnostic["code"] == "engine_profile_invalid" and diagnostic["severity"] == "error"
            assert "assistant" in diagnostic["message"] and "no-such-model-xyz" in diagnostic["message"]
            worker = client.post(f"{RUNTIME}/workers", json={"profile": "assistant"}).json()["worker_id"]
            accepted = client.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "hi"})
            assert accepted.status_code == 202
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                events = client.get(f"{RUNTIME}/workers/{worker}/events").json()["events"]
                failed = [e for e in events if e["type"] == "worker.turn_failed"]
                if failed:
                    break
                time.sleep(0.1)
            assert failed and failed[0]["data"]["code"] == "provider_error"
            assert "no-such-model-xyz" in failed[0]["data"]["message"]
    text = log.read_text()
    assert "profile 'assistant' cannot be used" in text and "Traceback" not in text


def test_a_good_model_keeps_the_runtime_running(tmp_path):
    with running_server(config(tmp_path, "gpt-4o-mini"), log=tmp_path / "server.log") as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            time.sleep(0.5)
            assert runtime_state(client, until_not_running=False)["status"] == "running"
            assert client.get(RUNTIME).json()["diagnostics"] == []


def profile(model: str, **changes) -> EngineProfile:
    return EngineProfile(name="p", engine="llm", model=model, **changes)


def test_deferring_checks_only_the_shape_then_the_deferred_check_finds_the_rest():
    bad, good = profile("no-such-model-abc"), profile("gpt-4o-mini")
    with llm_engine.deferring_checks():
        llm_engine.check(bad)
        llm_engine.check(good)
        assert llm_engine.check(profile("")) == [ProfileProblem("model", "the llm engine needs a model id")]
    assert llm_engine.profile_problem(bad) is None  # not checked yet: not known to be bad
    failed = llm_engine.run_deferred_checks()
    assert [name for name, _ in failed] == ["p"]
    assert "no-such-model-abc" in llm_engine.profile_problem(bad)
    assert llm_engine.profile_problem(good) is None
    assert llm_engine.run_deferred_checks() == []  # each profile is checked once


def test_a_turn_before_the_deferred_check_runs_it_first():
    bad = profile("no-such-model-def")
    with llm_engine.deferring_checks():
        llm_engine.check(bad)
    assert "no-such-model-def" in llm_engine.profile_problem(bad, verify=True)


def test_outside_serve_the_check_is_whole_at_once():
    [problem] = llm_engine.check(profile("no-such-model-ghi"))
    assert problem.key == "model" and "no-such-model-ghi" in problem.message


def test_the_deferred_diagnostic_and_turn_failure_name_no_endpoint_or_key(tmp_path):
    secret_base = "http://127.0.0.1:9/secret-path-5b7e/v1"
    path = tmp_path / "config.toml"
    path.write_text(
        '[[runtimes]]\nid = "backend-internal"\nkind = "embedded"\n[runtimes.settings.store]\nbackend = "memory"\n'
        '[runtimes.settings.profiles.assistant]\nengine = "llm"\nmodel = "local-model"\n'
        f'api_base = "{secret_base}"\nkey_env = "DEFERRED_TEST_KEY"\noptions = {{ no_such_option_q = 1 }}\n'
    )
    log = tmp_path / "server.log"
    with running_server(path, log=log, environ={"DEFERRED_TEST_KEY": "sk-secret-key-3c9d"}) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            state = runtime_state(client, until_not_running=True)
            assert [d["code"] for d in state["diagnostics"]] == ["engine_profile_invalid"]
            assert "no_such_option_q" in state["diagnostics"][0]["message"]
            worker = client.post(f"{RUNTIME}/workers", json={"profile": "assistant"}).json()["worker_id"]
            client.post(f"{RUNTIME}/workers/{worker}/input", json={"content": "hi"})
            time.sleep(1.0)
            seen = client.get(RUNTIME).text + client.get(f"{RUNTIME}/workers/{worker}/events").text
    for secret in (secret_base, "secret-path-5b7e", "sk-secret-key-3c9d"):
        assert secret not in seen and secret not in log.read_text()
