"""Operating the server (issue 20): /metrics, /readyz, the access line, runtime status lines, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import textwrap

import pytest

from registry_core import Diagnostic, RuntimeState, RuntimeStatus
from runtime_registry.host import RegistryConfig, ServerSettings
from runtime_registry.server.app import create_app
from runtime_registry.server.observe import watch
from runtime_registry.server.observe.logs import JsonFormatter

from ..engines.openai_server import SECRET_BODY, openai_server
from ..support.asgi_client import serving
from .asgi_stream import streaming_get
from .conftest import OTHER, RUNTIME, create_worker, embedded_assembly, fake_assembly
from .fakes import SECRET, FailingStartProvider, ReadOnlyProvider

TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str, family: str) -> dict[str, float]:
    """``{label text: value}`` of one family's samples in a text exposition."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{family}(\{{.*\}})? (\S+)", line)
        if match:
            found[match[1] or ""] = float(match[2])
    return found


def value(text: str, family: str, **labels: str) -> float:
    """The sum of a family's samples whose labels include ``labels``."""
    wanted = [f'{name}="{label}"' for name, label in labels.items()]
    return sum(v for key, v in samples(text, family).items() if all(w in key for w in wanted))


async def scrape(client) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def turn(client, worker_id: str, runtime_id: str = RUNTIME, text: str = "hello") -> None:
    path = f"/api/runtimes/{runtime_id}/workers/{worker_id}"
    assert (await client.post(f"{path}/input", json={"content": text})).status_code == 202

    async def idle() -> bool:
        return (await client.get(path)).json()["status"] == "idle"

    await until(idle)


# -- /metrics ---------------------------------------------------------------------


async def test_http_requests_are_counted_by_route_template_method_and_status():
    async with serving(create_app(assembly=embedded_assembly())) as client:
        worker_id = await create_worker(client, profile="builtin:echo")
        await client.get(f"/api/runtimes/{RUNTIME}/workers/{worker_id}")
        await client.get(f"/api/runtimes/{RUNTIME}/workers/no-such-worker")
        await client.get("/no/such/route")
        text = await scrape(client)
    route = "/api/runtimes/{runtime_id}/workers/{worker_id}"
    assert value(text, "runtime_registry_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(text, "runtime_registry_http_requests_total", route=route, method="GET", status="404") == 1
    assert value(text, "runtime_registry_http_requests_total", route="unmatched", status="404") == 1
    assert value(text, "runtime_registry_http_request_duration_seconds_count", route=route, method="GET") == 2
    assert worker_id not in text and "no-such-worker" not in text and "/no/such/route" not in text


@pytest.fixture(scope="module")
def model_server():
    with openai_server() as running:
        yield running


def model_assembly(model_server):
    return embedded_assembly(
        textwrap.dedent(
            f"""
            [[runtimes]]
            id = "{RUNTIME}"
            kind = "embedded"
            [runtimes.settings.store]
            backend = "memory"
            [runtimes.settings.profiles.model]
            engine = "llm"
            model = "local-model"
            api_base = "{model_server.base_url}"
            key_env = "LOCAL_TEST_KEY"
            """
        )
    )


async def test_turns_and_tokens_are_counted_by_how_turns_end_with_durations(model_server, monkeypatch):
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")
    async with serving(create_app(assembly=model_assembly(model_server))) as client:
        worker_id = await create_worker(client, profile="model")
        for text in ("one two", "three"):
            await turn(client, worker_id, text=text)
        await turn(client, worker_id, text="status:500")

        async def counted():
            return value(await scrape(client), "runtime_registry_turns_ended_total") == 3

        await until(counted)
        text = await scrape(client)
    labels = {"runtime": RUNTIME, "profile": "model"}
    assert value(text, "runtime_registry_turns_started_total", **labels) == 3
    assert value(text, "runtime_registry_turns_ended_total", end="completed", code="", **labels) == 2
    assert value(text, "runtime_registry_turns_ended_total", end="failed", code="provider_error", **labels) == 1
    assert value(text, "runtime_registry_turn_duration_seconds_count", end="completed", **labels) == 2
    assert value(text, "runtime_registry_turn_duration_seconds_count", end="failed", **labels) == 1
    # The test server reports 3 and 2 output tokens (the words and "echo:"), and the messages as input tokens.
    assert value(text, "runtime_registry_tokens_total", direction="out", **labels) == 5
    assert value(text, "runtime_registry_tokens_total", direction="in", **labels) > 0
    assert SECRET_BODY not in text


async def test_cancelled_turns_are_counted_as_cancelled():
    async with serving(create_app(assembly=embedded_assembly())) as client:
        worker_id = await create_worker(client, profile="slow")
        path = f"/api/runtimes/{RUNTIME}/workers/{worker_id}"
        assert (await client.post(f"{path}/input", json={"content": "wait"})).status_code == 202
        assert (await client.post(f"{path}/cancel")).status_code == 200

        async def cancelled():
            return value(await scrape(client), "runtime_registry_turns_ended_total", end="cancelled") == 1

        await until(cancelled)


async def test_workers_are_counted_by_runtime_and_status(monkeypatch):
    monkeypatch.setattr("runtime_registry.server.observe.metrics.WORKER_CENSUS_SECONDS", 0.0)
    async with serving(create_app(assembly=embedded_assembly())) as client:
        first = await create_worker(client)
        await create_worker(client)
        text = await scrape(client)
        assert value(text, "runtime_registry_workers", runtime=RUNTIME, status="idle") == 2
        await client.post(f"/api/runtimes/{RUNTIME}/workers/{first}/stop")
        text = await scrape(client)
    assert value(text, "runtime_registry_workers", runtime=RUNTIME, status="idle") == 1
    assert value(text, "runtime_registry_workers", runtime=RUNTIME, status="stopped") == 1
    assert value(text, "runtime_registry_workers", runtime=OTHER) == 0
    assert value(text, "runtime_registry_runtime_up", runtime=RUNTIME, status="running") == 1
    assert value(text, "runtime_registry_plugin_load_failures") == 0
    assert value(text, "runtime_registry_plugins", state="loaded") >= 1


async def test_open_event_streams_are_counted_while_open():
    app = create_app(assembly=embedded_assembly())
    async with serving(app) as client:
        async with streaming_get(app, f"/api/runtimes/{RUNTIME}/events/stream") as call:
            await call.wait_until(lambda c: c.status is not None)
            assert call.status == 200
            assert value(await scrape(client), "runtime_registry_event_streams_open", runtime=RUNTIME) == 1
        text = await scrape(client)
    assert value(text, "runtime_registry_event_streams_open", runtime=RUNTIME) == 0


async def _true(result: bool) -> bool:
    return result


async def test_label_values_are_bounded_and_never_carry_ids_or_client_text(monkeypatch):
    """Hundreds of workers, odd profiles, odd paths, odd methods: the families stay small and say none of it."""
    monkeypatch.setattr("runtime_registry.server.observe.metrics.WORKER_CENSUS_SECONDS", 0.0)
    written = []
    async with serving(create_app(assembly=embedded_assembly())) as client:
        series_before = len((await scrape(client)).splitlines())
        for index in range(40):
            label = f"client-label-{index}"
            requested = f"client-profile-{index}"
            refused = await client.post(f"/api/runtimes/{RUNTIME}/workers", json={"label": label, "profile": requested})
            assert refused.json()["error"]["code"] == "unknown_profile"
            response = await client.post(f"/api/runtimes/{RUNTIME}/workers", json={"label": label})
            worker_id = response.json()["worker_id"]
            written += [label, requested, worker_id]
            await turn(client, worker_id, text=f"client-input-{index}")
            written.append(f"client-input-{index}")
            await client.get(f"/api/runtimes/{RUNTIME}/workers/{worker_id}/transcript?cursor=client-cursor-{index}")
            await client.get(f"/client-path-{index}")
            await client.request(f"CLIENTMETHOD{index}", "/healthz")
            written += [f"client-cursor-{index}", f"client-path-{index}", f"CLIENTMETHOD{index}"]
        text = await scrape(client)
    for secret in written:
        assert secret not in text
    # Every sample is one of a bounded set: new series came from the routes and statuses used, not from the 40 workers.
    assert len(text.splitlines()) - series_before < 200


def test_a_bounded_family_folds_values_past_its_limit_into_other():
    from runtime_registry.server.observe.labels import OTHER, BoundedValues

    bound = BoundedValues(limit=3)
    assert [bound(v) for v in ("a", "b", "c", "d", "a", "has space", None)] == ["a", "b", "c", OTHER, "a", OTHER, ""]


async def test_metrics_need_the_token_unless_public():
    config = RegistryConfig(server=ServerSettings(token=TOKEN), runtimes=())
    async with serving(create_app(assembly=fake_assembly(config=config))) as client:
        refused = await client.get("/metrics")
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        probe = await client.get("/readyz")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert allowed.status_code == 200
    assert probe.status_code == 200

    public = RegistryConfig(server=ServerSettings(token=TOKEN, metrics_public=True), runtimes=())
    async with serving(create_app(assembly=fake_assembly(config=public))) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/api/runtimes")).status_code == 401


# -- /readyz ----------------------------------------------------------------------


async def test_readyz_is_503_naming_an_unavailable_runtime_and_healthz_stays_200():
    assembly = fake_assembly(ReadOnlyProvider("fine"), FailingStartProvider("broken"))
    async with serving(create_app(assembly=assembly)) as client:
        ready = await client.get("/readyz", headers={"Host": "anything.example"})
        healthy = await client.get("/healthz")
    assert healthy.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unready"
    assert [(r["runtime_id"], r["status"]) for r in body["runtimes"]] == [("broken", "unavailable")]
    assert SECRET not in ready.text


async def test_readyz_ignores_runtimes_that_may_be_unavailable():
    config = RegistryConfig(server=ServerSettings(readiness_optional_runtimes=("broken",)), runtimes=())
    assembly = fake_assembly(ReadOnlyProvider("fine"), FailingStartProvider("broken"), config=config)
    async with serving(create_app(assembly=assembly)) as client:
        ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "runtimes": []})


# -- logs -------------------------------------------------------------------------


async def test_the_access_line_has_latency_and_the_request_id(caplog):
    async with serving(create_app(assembly=embedded_assembly())) as client:
        with caplog.at_level(logging.INFO, logger="runtime_registry.access"):
            response = await client.get("/api/runtimes?access_token=s3cr3t&limit=5")
    request_id = response.headers["x-request-id"]
    lines = [r for r in caplog.records if r.name == "runtime_registry.access"]
    assert len(lines) == 1
    record = lines[0]
    assert re.search(rf'"GET /api/runtimes\?\S+ HTTP/1.1" 400 \d+\.\dms id={request_id}$', record.getMessage())
    assert record.request_id == request_id and record.status == 400 and record.latency_ms >= 0


async def test_a_runtime_that_becomes_degraded_is_a_warning_and_its_recovery_info(monkeypatch, caplog):
    monkeypatch.setattr(watch, "STATUS_SECONDS", 0.02)

    class Switching(ReadOnlyProvider):
        state = RuntimeState()

        async def describe(self) -> RuntimeState:
            return self.state

    provider = Switching("switching")
    async with serving(create_app(assembly=fake_assembly(provider))):
        with caplog.at_level(logging.INFO, logger="runtime_registry.runtimes"):
            provider.state = RuntimeState(
                RuntimeStatus.DEGRADED, (Diagnostic.warning("store_slow", f"slow store at {SECRET}"),)
            )
            await until(lambda: _true(any("degraded" in r.getMessage() for r in caplog.records)))
            provider.state = RuntimeState()
            await until(lambda: _true(any("-> running" in r.getMessage() for r in caplog.records)))
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "runtime_registry.runtimes"]
    assert lines == [
        ("WARNING", "runtime switching (kind read-only): running -> degraded (codes store_slow)"),
        ("INFO", "runtime switching (kind read-only): degraded -> running"),
    ]


async def test_a_runtime_that_starts_unavailable_is_a_warning_line(caplog):
    with caplog.at_level(logging.INFO, logger="server"):
        async with serving(create_app(assembly=fake_assembly(FailingStartProvider("broken")))):
            pass
    lines = [r for r in caplog.records if "runtime broken" in r.getMessage()]
    assert [r.levelname for r in lines] == ["WARNING"]
    assert "unavailable" in lines[0].getMessage() and SECRET not in lines[0].getMessage()


def test_a_json_log_line_is_one_object_with_the_fields_and_redacted():
    record = logging.LogRecord("runtime_registry.access", logging.INFO, __file__, 1, "GET %s", ("/x?token=abc",), None)
    record.request_id, record.status, record.latency_ms, record.path = "r1", 200, 1.5, "/x?api_key=def"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "runtime_registry.access"
    assert entry["message"] == "GET /x?token=[redacted]"
    assert entry["path"] == "/x?api_key=[redacted]"
    assert (entry["request_id"], entry["status"], entry["latency_ms"]) == ("r1", 200, 1.5)
    assert "abc" not in line and "def" not in line


async def test_a_failed_turn_is_one_warning_line_with_runtime_worker_turn_and_code(model_server, monkeypatch, caplog):
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")
    async with serving(create_app(assembly=model_assembly(model_server))) as client:
        worker_id = await create_worker(client, profile="model")
        with caplog.at_level(logging.INFO):
            await turn(client, worker_id, text="status:500")

            async def counted():
                return value(await scrape(client), "runtime_registry_turns_ended_total", end="failed") == 1

            await until(counted)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    line = warnings[0].getMessage()
    assert f"runtime={RUNTIME}" in line and f"worker={worker_id}" in line
    assert "turn=1" in line and "code=provider_error" in line
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET_BODY not in everything and "sk-local-test" not in everything
    assert model_server.base_url not in everything


async def test_store_commits_and_queue_depth_are_reported_for_a_sqlite_store_only(model_server):
    async with serving(create_app(assembly=embedded_assembly())) as client:
        text = await scrape(client)
        before = value(text, "runtime_registry_store_commit_seconds_count", runtime=RUNTIME)
        for _ in range(3):
            await create_worker(client)
        text = await scrape(client)
    assert value(text, "runtime_registry_store_commit_seconds_count", runtime=RUNTIME) >= before + 1
    assert value(text, "runtime_registry_store_commit_seconds_sum", runtime=RUNTIME) > 0
    assert f'runtime_registry_store_queue_depth{{runtime="{RUNTIME}"}}' in text
    async with serving(create_app(assembly=model_assembly(model_server))) as client:  # a memory store
        assert "runtime_registry_store_queue_depth{" not in await scrape(client)


async def test_a_memory_store_reports_its_bytes_against_max_store_bytes(model_server, monkeypatch):
    monkeypatch.setenv("LOCAL_TEST_KEY", "sk-local-test")
    async with serving(create_app(assembly=model_assembly(model_server))) as client:  # a memory store
        text = await scrape(client)
        runtime = next(iter(samples(text, "runtime_registry_store_bytes_limit")))
        limit = samples(text, "runtime_registry_store_bytes_limit")[runtime]
        before = samples(text, "runtime_registry_store_bytes")[runtime]
        assert limit == 128 * 1024 * 1024
        response = await client.post(f"/api/runtimes/{runtime[10:-2]}/workers", json={"label": "x" * 200})
        assert response.status_code == 201, response.text
        after = samples(await scrape(client), "runtime_registry_store_bytes")[runtime]
    assert after >= before + 200  # the label is charged
    assert "runtime_registry_store_commit_seconds_count" not in text  # a memory store does not commit


async def test_a_store_stats_that_raises_leaves_the_scrape_whole(monkeypatch, caplog):
    from runtime_registry.plugins.embedded import EmbeddedProvider

    def broken(self):
        raise RuntimeError("a broken store_stats")

    monkeypatch.setattr(EmbeddedProvider, "store_stats", broken)
    async with serving(create_app(assembly=embedded_assembly())) as client:
        with caplog.at_level(logging.ERROR):
            text = await scrape(client)
    assert "runtime_registry_http_requests_total" in text or "runtime_registry_workers" in text
    assert f'runtime_registry_store_queue_depth{{runtime="{RUNTIME}"}}' not in text
    assert any("store_stats()" in record.getMessage() for record in caplog.records)


async def test_workers_culled_are_counted_by_reason():
    config = (
        '[[runtimes]]\nid = "culled"\nkind = "embedded"\n'
        "[runtimes.settings]\nidle_stop_seconds = 0.3\nstopped_delete_seconds = 0.3\n"
        '[runtimes.settings.store]\nbackend = "memory"\n'
    )
    async with serving(create_app(assembly=embedded_assembly(config))) as client:
        await create_worker(client, runtime_id="culled")
        stopped_by_client = await create_worker(client, runtime_id="culled")
        assert (await client.post(f"/api/runtimes/culled/workers/{stopped_by_client}/stop")).status_code == 200

        async def counted():
            text = await scrape(client)
            idle = value(text, "runtime_registry_workers_culled_total", runtime="culled", reason="idle")
            expired = value(text, "runtime_registry_workers_culled_total", runtime="culled", reason="expired")
            return idle == 1 and expired == 2

        await until(counted, timeout=20)
    # A client's own stop is not culling: one idle stop, two expiries (the idle one and the client's).
