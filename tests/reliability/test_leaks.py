"""Nothing secret reaches a client: every route, success and error, bodies and headers, scanned.

The server runs (uvicorn, real HTTP) with a configuration full of secrets:

- a bearer token;
- a ``local-compat`` runtime over a copy of the shared example pod store plus
  our own pods, holding socket paths, callback addresses, session and segment
  ids, delegated scope targets, a symlinked pod and broken metadata;
- a plugin whose import fails with a message naming a file path;
- a plugin whose provider raises exceptions carrying a path and the token on
  every call, and a kind whose factory raises the same;
- a runtime whose kind no plugin provides;
- the embedded runtime's SQLite store in a secret data directory, holding a
  worker whose turn was in flight when the last run ended (so the events
  include ``worker.turn_interrupted``), and a second embedded runtime whose
  store file is damaged (``unavailable`` with ``store_unusable``).

Every response (each route with every runtime, known and unknown workers, bad
ids, bad query parameters, bad bodies, unknown routes and methods, no token,
a wrong token, and the event stream) is scanned for the token, every path,
socket, callback, session and segment value, ``Traceback``, and the values of
the environment; JSON bodies are also checked with ``find_path_like``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import attrs
import httpx
import pytest

from registry_core import CreateWorkerRequest, InputRequest, RuntimeContext, RuntimeKind, RuntimeProvider, hookimpl
from registry_core.models import BusyPolicy, ProfileSelector
from runtime_registry.host import assemble, discover_plugins, parse_config
from runtime_registry.host.plugin_loading import DiscoveredPlugin
from runtime_registry.plugins.embedded import EmbeddedProvider
from runtime_registry.runtimes.embedded import EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.server.app import create_app
from runtime_registry.testing.conformance import find_path_like

from .app_config import EMBEDDED, SLOW_PROFILE, embedded_toml
from .in_process_server import serving_in_a_thread
from .routes import METHODS, ROUTES, UNKNOWN_API_PATHS

TOKEN = "leak-token-93bd1e7c0a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: A copy of the shared format examples (formats/examples/data): the repository must not need /work/shared.
EXAMPLE_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "pod_store_examples"
WORKSPACE = "/srv/workspaces/alpha"
PLUGIN_SECRET_PATH = "/opt/secret-plugins/broken_plugin/settings.yaml"
PROVIDER_SECRET_PATH = "/var/lib/leaky-runtime/state.db"
LOCAL = "local-worker-runtime"
DAMAGED = "damaged-store-runtime"
RUNTIMES = (EMBEDDED, LOCAL, DAMAGED, "orphan-runtime", "leaky-runtime", "unbuildable-runtime", "no-such-runtime")
#: Metadata keys whose values must never be shown.
SECRET_KEYS = {"session_id", "segment_id", "socket_path", "callback_address", "target", "workspace_root", "api_key_env"}


#: A profile whose settings are secret: the profiles route shows its name, engine, description and tools only.
PROFILE_SECRETS = (
    "http://10.61.62.63:7001/secret-upstream/v1",
    "10.61.62.63",
    "LEAK_PROFILE_KEY_VARIABLE",
    "secret system prompt a41f",
    "0.31337",
    "secret-upstream-model",
)
SECRET_PROFILE = (
    "[runtimes.settings.profiles.secretive]\n"
    f'engine = "llm"\nmodel = "{PROFILE_SECRETS[5]}"\napi_base = "{PROFILE_SECRETS[0]}"\n'
    f'key_env = "{PROFILE_SECRETS[2]}"\nsystem_prompt = "{PROFILE_SECRETS[3]}"\n'
    f'options = {{ temperature = {PROFILE_SECRETS[4]} }}\ntools = ["clock"]\ndescription = "has secrets"\n'
)


class LeakyProvider(RuntimeProvider):
    """Every operation fails with an exception whose text holds a path and the token."""

    kind = "leaky"

    async def _fail(self, *args, **kwargs):
        raise OSError(f"{PROVIDER_SECRET_PATH} is corrupt (token={TOKEN})")

    describe = list_workers = get_worker = create_worker = send_input = _fail  # type: ignore[assignment]
    cancel_worker = stop_worker = read_transcript = read_events = wait_for_events = _fail  # type: ignore[assignment]


def unbuildable(runtime_id, settings):
    raise OSError(f"cannot open {PROVIDER_SECRET_PATH}")


class LeakyPlugin:
    @hookimpl
    def register_runtime_kinds(self, register):
        register(
            RuntimeKind(
                "leaky", "raises with secrets in its messages", lambda runtime_id, _settings: LeakyProvider(runtime_id)
            )
        )
        register(RuntimeKind("unbuildable", "its factory raises", unbuildable))


def broken_import():
    raise ImportError(f"No module named 'broken_plugin' (looked in {PLUGIN_SECRET_PATH})")


IN_PROCESS_PLUGINS = (
    DiscoveredPlugin("broken", "9.9.9", "broken-dist", broken_import),
    DiscoveredPlugin("leaky", "0.0.1", "leaky-dist", LeakyPlugin),
)


def write_pods(data_dir: Path, outside: Path) -> None:
    """Our own pods, next to the shared examples: secrets in every hidden field, and odd entries."""
    pods = data_dir / "pods"

    def pod(name: str, metadata) -> None:
        (pods / name).mkdir()
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        (pods / name / "metadata.json").write_text(text)

    child = {
        "worker_name": "child",
        "socket_path": str(data_dir / "run" / "child-7f3a.sock"),
        "scope_delegated": [{"target": "/home/alice/private-repo", "permission": "write", "recursive": True}],
        "callback_address": "tcp://10.20.30.40:47111/callback",
    }
    pod(
        "mine-active",
        {
            "worker_name": "mine-active",
            "active": {"session_id": str(uuid.uuid4()), "segment_id": str(uuid.uuid4())},
            "workspace_root": WORKSPACE,
            "spawned_children": [
                child,
                {
                    **child,
                    "socket_path": "/run/user/1000/yoi/other-9c2e.sock",
                    "callback_address": "unix:/run/yoi/callback-5d1e.sock",
                },
            ],
            "reclaimed_children": [{"worker_name": "old", "scope_delegated": [{"target": "/etc/yoi/secret-scope"}]}],
            "resolved_manifest_snapshot": {
                "role": "coder",
                "profile_selector": "builtin:coder",
                "env": {"API_TOKEN": "manifest-secret-6b1f"},
            },
        },
    )
    pod(
        "mine-pending",
        {"worker_name": "mine-pending", "active": {"session_id": str(uuid.uuid4())}, "workspace_root": WORKSPACE + "/"},
    )
    pod(
        "odd \u202e name\twith ..\\ bits",
        {"worker_name": "odd \u202e name\twith ..\\ bits", "workspace_root": WORKSPACE},
    )
    pod("not-json", "{ this is not json " + str(data_dir))
    (pods / "stray-file").write_text(str(data_dir))
    (outside / "metadata.json").write_text(
        json.dumps(
            {
                "worker_name": "through-a-symlink",
                "workspace_root": WORKSPACE,
                "active": {"session_id": str(uuid.uuid4()), "segment_id": str(uuid.uuid4())},
            }
        )
    )
    (pods / "linked").symlink_to(outside)


def secret_values(data_dir: Path) -> set[str]:
    """Every hidden metadata value of every pod, found by walking the files."""
    found: set[str] = set()

    def walk(value, key=None):
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and key in SECRET_KEYS:
            found.add(value.rstrip("/"))

    for path in list(data_dir.glob("pods/*/metadata.json")):
        try:
            walk(json.loads(path.read_text()))
        except ValueError:
            continue
    found.add("manifest-secret-6b1f")
    return found


async def leave_a_turn_in_flight(store_dir: Path) -> None:
    """A previous run of the embedded runtime that culled a worker (stopped as idle, deleted as expired)
    and ended with another worker in a turn."""
    settings = EmbeddedSettings(
        profiles={"hold": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=600.0)},
        idle_stop_seconds=0.3,
        stopped_delete_seconds=0.3,
    )
    provider = EmbeddedProvider(EMBEDDED, settings, context=RuntimeContext(store_dir))
    await provider.start()
    await provider.create_worker(CreateWorkerRequest(label="culled"))
    async with asyncio.timeout(30):
        while len(provider.runtime):  # stopped as idle, then deleted as expired
            await asyncio.sleep(0.05)
    worker = await provider.create_worker(CreateWorkerRequest(profile=ProfileSelector("hold"), label="interrupted"))
    await provider.send_input(worker.worker_id, InputRequest("in flight at the end of the last run"))  # type: ignore[arg-type]
    # Queued behind it: the next run drops them, each with worker.input_dropped (reason restart).
    for n in range(2):
        await provider.send_input(worker.worker_id, InputRequest(f"queued {n}", if_busy=BusyPolicy.ENQUEUE))  # type: ignore[arg-type]
    await provider.close()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    store_dir = root / "secret-embedded-store-dir"
    asyncio.run(leave_a_turn_in_flight(store_dir))
    damaged = root / "secret-damaged-store.db"
    damaged.write_bytes(b"not a database: " + str(damaged).encode() * 50)
    data_dir = root / "yoi-data"
    shutil.copytree(EXAMPLE_DATA, data_dir)
    outside = root / "outside-the-store"
    outside.mkdir()
    write_pods(data_dir, outside)
    config = parse_config(
        embedded_toml(token=TOKEN, max_workers=50, extra=SECRET_PROFILE)
        + f'[[runtimes]]\nid = "{LOCAL}"\nkind = "local-compat"\n'
        + f'settings = {{ data_dir = "{data_dir}", workspace_root = "{WORKSPACE}" }}\n\n'
        + '[[runtimes]]\nid = "orphan-runtime"\nkind = "broken-kind"\n\n'
        + '[[runtimes]]\nid = "leaky-runtime"\nkind = "leaky"\n\n'
        + '[[runtimes]]\nid = "unbuildable-runtime"\nkind = "unbuildable"\n\n'
        + f'[[runtimes]]\nid = "{DAMAGED}"\nkind = "embedded"\n'
        + f'settings = {{ store = {{ path = "{damaged}" }} }}\n'
    )
    config = attrs.evolve(config, server=attrs.evolve(config.server, max_body_bytes=4096, data_dir=str(store_dir)))
    assembly = assemble(config, discovered=(*discover_plugins(), *IN_PROCESS_PLUGINS))
    forbidden = {
        TOKEN,
        str(root),
        str(data_dir),
        str(outside),
        WORKSPACE,
        PLUGIN_SECRET_PATH,
        PROVIDER_SECRET_PATH,
        str(store_dir),
        "secret-embedded-store-dir",
        "secret-damaged-store",
        "backend-internal.db",
        "/srv/workspaces",
        "Traceback",
        *PROFILE_SECRETS,
        *secret_values(data_dir),
    }
    forbidden |= {value for value in os.environ.values() if len(value) >= 8}
    with serving_in_a_thread(create_app(assembly=assembly)) as base_url:
        # Queued, refused and interrupted input, whichever test runs first: the scans read their events.
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
            control_turns(api, forbidden)
        yield base_url, forbidden


def scan(response: httpx.Response, forbidden: set[str], request: str) -> None:
    """Fail if ``response`` shows any forbidden string, or (JSON) anything path-like."""
    text = "\n".join(f"{name}: {value}" for name, value in response.headers.items()) + "\n" + response.text
    shown = sorted(secret for secret in forbidden if secret in text)
    assert not shown, f"{request} -> {response.status_code} shows {shown}:\n{text[:2000]}"
    assert response.status_code < 500 or response.status_code in (503, 504), f"{request} -> {response.status_code}"
    content_type = response.headers.get("content-type", "")
    documents = []
    if content_type.startswith("application/json") and response.content:
        documents.append(response.json())
    elif content_type.startswith("text/event-stream"):
        documents += [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    for document in documents:
        # The API's own routes (in /openapi.json) are URLs, not file paths.
        path_like = [text for text in find_path_like(document) if not text.startswith("/api/")]
        assert path_like == [], f"{request} -> path-like text: {path_like}"


def exercise(api: httpx.Client, forbidden: set[str], method: str, path: str, **kwargs) -> httpx.Response:
    response = api.request(method, path, **kwargs)
    scan(response, forbidden, f"{method} {path} {kwargs}")
    return response


def control_turns(api: httpx.Client, forbidden: set[str]) -> None:
    """Every if_busy answer and event (decision 0190): queued, queue_full, interrupt, cancel keeping and dropping."""
    worker = api.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": SLOW_PROFILE}).json()["worker_id"]
    path = f"/api/runtimes/{EMBEDDED}/workers/{worker}"
    exercise(api, forbidden, "POST", f"{path}/input", json={"content": "busy"})
    answers = [
        exercise(api, forbidden, "POST", f"{path}/input", json={"content": f"q{n}", "if_busy": "enqueue"})
        for n in range(9)
    ]
    assert [a.status_code for a in answers] == [202] * 8 + [409]
    assert answers[-1].json()["error"]["code"] == "queue_full"
    exercise(api, forbidden, "POST", f"{path}/input", json={"content": "now", "if_busy": "interrupt"})
    exercise(api, forbidden, "POST", f"{path}/input", json={"content": "x", "if_busy": "sometime"})
    exercise(api, forbidden, "POST", f"{path}/cancel", params={"queued": "keep"})
    exercise(api, forbidden, "POST", f"{path}/cancel", params={"queued": "/etc/passwd"})
    exercise(api, forbidden, "POST", f"{path}/cancel")


def worker_ids(api: httpx.Client) -> dict[str, list[str]]:
    """Per runtime: a real worker id where there is one, and one that does not exist."""
    created = api.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": "echo", "label": "leak scan"}).json()
    api.post(f"/api/runtimes/{EMBEDDED}/workers/{created['worker_id']}/input", json={"content": "hello"})
    listed = api.get(f"/api/runtimes/{LOCAL}/workers").json()["items"]
    assert len(listed) >= 4, "the local-compat runtime lists the example and own pods"
    return {
        EMBEDDED: [created["worker_id"], "w-0000000000000000"],
        LOCAL: [w["worker_id"] for w in listed] + ["coder-7-0000000000000000"],
    }


def test_no_response_of_any_route_shows_a_secret(deployment):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
        ids = worker_ids(api)
        seen = 0
        for runtime_id in RUNTIMES:
            for worker_id in ids.get(runtime_id, ["w-x"]):
                for route in ROUTES:
                    if route.template.endswith("/stream"):
                        continue
                    exercise(api, forbidden, route.method, route.path(runtime_id, worker_id), json=route.body)
                    seen += 1
        assert seen > 100


def test_no_filtered_list_shows_a_secret(deployment):
    """Every runtime's list and the overview under each status, profile and label its workers have (decision 0200)."""
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
        overview = exercise(api, forbidden, "GET", "/api/workers", params={"limit": 500}).json()["items"]
        filters = [("status", w["status"]) for w in overview] + [("profile", w["profile"]) for w in overview]
        filters += [("label", w["label"]) for w in overview if w["label"]]
        assert {name for name, _ in filters} == {"status", "profile", "label"}
        for name, value in dict.fromkeys(filters):
            if value is None:
                continue
            exercise(api, forbidden, "GET", "/api/workers", params={name: value, "limit": 2})
            for runtime_id in RUNTIMES:
                exercise(api, forbidden, "GET", f"/api/runtimes/{runtime_id}/workers", params={name: value})


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/api/runtimes/bad%20id/workers", {}),
        ("GET", "/api/runtimes/a%2Fb/workers", {}),
        ("GET", f"/api/runtimes/{'x' * 121}", {}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers/..%2F..%2Fetc%2Fpasswd", {}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"limit": "0"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"limit": "abc"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"limit": "999999"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"cursor": "/etc/passwd"}}),
        ("GET", f"/api/runtimes/{LOCAL}/workers", {"params": {"cursor": "garbage"}}),
        ("GET", "/api/workers", {"params": {"cursor": "eyJ4Ijp9"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"label": "/etc/passwd\u0007"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"profile": "/var/lib/secret"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/workers", {"params": {"status": "../../etc/shadow"}}),
        ("GET", f"/api/runtimes/{LOCAL}/workers", {"params": {"label": ["x"] * 21}}),
        ("GET", "/api/workers", {"params": {"label": "", "status": "idle"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/events", {"params": {"cursor": "99999999"}}),
        ("GET", f"/api/runtimes/{EMBEDDED}/events", {"params": {"cursor": "-1"}}),
        (
            "POST",
            f"/api/runtimes/{EMBEDDED}/workers",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
        ),
        ("POST", f"/api/runtimes/{EMBEDDED}/workers", {"json": [1, 2]}),
        ("POST", f"/api/runtimes/{EMBEDDED}/workers", {"json": {"capabilities": ["shell"], "label": 5, "x": 1}}),
        ("POST", f"/api/runtimes/{EMBEDDED}/workers", {"json": {"profile": "/etc/passwd"}}),
        (
            "POST",
            f"/api/runtimes/{EMBEDDED}/workers",
            {"content": b"label=x", "headers": {"content-type": "text/plain"}},
        ),
        ("POST", f"/api/runtimes/{EMBEDDED}/workers", {"json": {"label": "x" * 5000}}),
        ("POST", f"/api/runtimes/{LOCAL}/workers", {"json": {}}),
        ("PUT", f"/api/runtimes/{EMBEDDED}/workers", {}),
        ("DELETE", "/api/runtimes", {}),
        ("GET", "/api/nope", {}),
        ("GET", "/nope", {}),
        ("GET", "/api/runtimes", {"headers": {"Authorization": "Bearer wrong"}}),
        ("GET", "/api/runtimes", {"headers": {"Authorization": ""}}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/metrics", {"headers": {"Authorization": "Bearer wrong"}}),
        ("GET", "/openapi.json", {}),
    ],
)
def test_no_error_answer_shows_a_secret(deployment, method, path, kwargs):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
        response = exercise(api, forbidden, method, path, **kwargs)
    assert response.status_code != 500


def test_unauthenticated_requests_show_no_secret(deployment):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, timeout=10) as api:
        for path in [route.path(LOCAL, "coder-7-x") for route in ROUTES] + list(UNKNOWN_API_PATHS):
            for method in METHODS:
                response = exercise(api, forbidden, method, path.format(runtime_id=LOCAL, worker_id="w"))
                assert response.status_code == 401


def read_stream_briefly(api: httpx.Client, path: str, **kwargs) -> httpx.Response:
    """The stream's first half second: enough for the retained events, then the client hangs up."""
    with api.stream("GET", path, timeout=httpx.Timeout(10, read=0.5), **kwargs) as response:
        chunks = []
        try:
            for chunk in response.iter_text():
                chunks.append(chunk)
        except httpx.ReadTimeout:
            pass
    return httpx.Response(response.status_code, headers=response.headers, text="".join(chunks))


@pytest.mark.parametrize(
    "runtime_id, kwargs",
    [
        (EMBEDDED, {}),
        (EMBEDDED, {"headers": {"Last-Event-ID": "999999999"}}),
        (EMBEDDED, {"params": {"cursor": "0"}}),
        (LOCAL, {}),
        ("leaky-runtime", {}),
        ("orphan-runtime", {}),
    ],
)
def test_no_event_stream_shows_a_secret(deployment, runtime_id, kwargs):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH) as api:
        path = f"/api/runtimes/{runtime_id}/events/stream"
        response = read_stream_briefly(api, path, **kwargs)
        scan(response, forbidden, f"GET {path} {kwargs}")


def test_the_console_files_show_no_secret(deployment):
    """The console is open (no token): its files must hold nothing of this deployment."""
    from runtime_registry.server.console import load_console_files

    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, timeout=10) as anonymous:
        for path in ["/", "/console", "/console/", *(f"/console/{name}" for name in load_console_files())]:
            response = exercise(anonymous, forbidden, "GET", path)
            assert response.status_code in (200, 307, 308), path


def test_the_profiles_route_shows_a_profile_with_secret_settings_and_none_of_them(deployment):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
        response = exercise(api, forbidden, "GET", f"/api/runtimes/{EMBEDDED}/profiles")
    secretive = [item for item in response.json()["items"] if item["name"] == "secretive"]
    assert secretive == [
        {"name": "secretive", "engine": "llm", "description": "has secrets", "tools": ["clock"], "default": False}
    ]


def test_an_unknown_profile_answer_names_the_closest_profile_and_none_of_its_settings(deployment):
    base_url, forbidden = deployment
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as api:
        for selector in ("secretiv", "secretive-model", "x" * 120):
            response = exercise(api, forbidden, "POST", f"/api/runtimes/{EMBEDDED}/workers", json={"profile": selector})
            error = response.json()["error"]
            assert (response.status_code, error["code"]) == (422, "unknown_profile"), selector
            if selector.startswith("secret"):
                assert "did you mean 'secretive'" in error["message"], error


def test_the_scan_covers_a_provider_that_raises_and_one_that_could_not_be_built(deployment):
    """Guard the fixture: the leaky provider is running (and raising), the other one failed to build."""
    base_url, _ = deployment
    runtimes = {r["runtime_id"]: r for r in httpx.get(f"{base_url}/api/runtimes", headers=AUTH).json()["items"]}
    assert [d["code"] for d in runtimes["leaky-runtime"]["diagnostics"]] == ["runtime_unavailable"]
    assert [d["code"] for d in runtimes["unbuildable-runtime"]["diagnostics"]] == ["runtime_failed"]
    plugins = {p["name"]: p for p in httpx.get(f"{base_url}/api/plugins", headers=AUTH).json()["items"]}
    assert (plugins["broken"]["state"], plugins["leaky"]["state"]) == ("failed", "loaded")


def test_the_scan_covers_a_damaged_store_an_interrupted_turn_and_culling(deployment):
    """Guard the fixture: the damaged store's runtime is unavailable, the restored one says a turn was
    interrupted and a worker was culled (the scan reads those events)."""
    base_url, _ = deployment
    runtimes = {r["runtime_id"]: r for r in httpx.get(f"{base_url}/api/runtimes", headers=AUTH).json()["items"]}
    assert runtimes[DAMAGED]["status"] == "unavailable"
    assert [d["code"] for d in runtimes[DAMAGED]["diagnostics"]] == ["store_unusable"]
    events = httpx.get(
        f"{base_url}/api/runtimes/{EMBEDDED}/events", headers=AUTH, params={"cursor": 0, "limit": 1000}
    ).json()["events"]
    types = [event["type"] for event in events]
    assert "worker.turn_interrupted" in types
    # Inputs queued in the last run were dropped on restart; the scan's own turns queued and interrupted.
    dropped = [event["data"]["reason"] for event in events if event["type"] == "worker.input_dropped"]
    assert "restart" in dropped and "cancel" in dropped
    assert "worker.input_queued" in types
    cancelled = [event["data"]["reason"] for event in events if event["type"] == "worker.turn_cancelled"]
    assert "interrupt" in cancelled
    reasons = {(event["type"], event["data"].get("reason")) for event in events}
    assert {("worker.stopped", "idle"), ("worker.deleted", "expired")} <= reasons


# -- turns through the llm engine: deltas, tool calls, failures ---------------------------------

LLM_KEY = "sk-leak-test-7c1d0e9f3a"


def test_no_turn_event_transcript_or_log_line_shows_the_key_endpoint_or_upstream_body(tmp_path):
    """A real server with an ``llm`` profile on a loopback OpenAI-compatible server, a secret key and
    an upstream that puts a secret in its error bodies: every answer, every stored and live event
    (``output_delta``, ``tool_call_*``, ``turn_failed``) and the server's log above debug stay clean."""
    from ..engines.openai_server import SECRET_BODY, openai_server
    from ..support.server_process import running_server
    from .app_config import write_config

    with openai_server() as upstream:
        endpoint = upstream.base_url.removeprefix("http://").removesuffix("/v1")
        extra = (
            "[runtimes.settings.profiles.assistant]\n"
            f'engine = "llm"\nmodel = "local-model"\napi_base = "{upstream.base_url}"\n'
            'key_env = "LEAK_TEST_LLM_KEY"\ntools = ["clock"]\nmax_turn_seconds = 5\n'
        )
        config = write_config(tmp_path, embedded_toml(heartbeat_seconds=0.2, extra=extra))
        forbidden = {LLM_KEY, endpoint, upstream.base_url, SECRET_BODY, "Traceback"}
        environ = {"LEAK_TEST_LLM_KEY": LLM_KEY}
        with (
            running_server(config, log=tmp_path / "server.log", environ=environ) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as api,
        ):
            runtime = f"/api/runtimes/{EMBEDDED}"
            with api.stream("GET", f"{runtime}/events/stream") as stream:
                worker = exercise(
                    api,
                    forbidden,
                    "POST",
                    f"{runtime}/workers",
                    json={"profile": "assistant", "capabilities": ["tool:clock"]},
                ).json()["worker_id"]
                for text in ("hello there", "tool:clock", "status:401", "status:500", "slow"):
                    exercise(api, forbidden, "POST", f"{runtime}/workers/{worker}/input", json={"content": text})
                    if text == "slow":
                        time.sleep(0.5)
                        exercise(api, forbidden, "POST", f"{runtime}/workers/{worker}/cancel")
                    deadline = time.monotonic() + 10
                    while (
                        api.get(f"{runtime}/workers/{worker}").json()["status"] != "idle"
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.02)
                seen = []
                for line in stream.iter_lines():
                    seen.append(line)
                    if '"worker.turn_cancelled"' in line:
                        break
            streamed = "\n".join(seen)
            assert "worker.output_delta" in streamed and "worker.tool_call_finished" in streamed
            assert [secret for secret in forbidden if secret in streamed] == []
            events = exercise(api, forbidden, "GET", f"{runtime}/events", params={"limit": 1000}).json()["events"]
            codes = [e["data"].get("code") for e in events if e["type"] == "worker.turn_failed"]
            assert codes == ["provider_auth", "provider_error"]
            assert find_path_like(events) == []
            exercise(api, forbidden, "GET", f"{runtime}/workers/{worker}/transcript")
            exercise(api, forbidden, "GET", f"{runtime}/workers/{worker}")
            exercise(api, forbidden, "GET", "/api/runtimes")
        log_text = (tmp_path / "server.log").read_text()
        assert [secret for secret in forbidden - {"Traceback"} if secret in log_text] == []
