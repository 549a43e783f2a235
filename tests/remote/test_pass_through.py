"""Worker rows through a front, byte for byte, from a real back and from a back that answers what it likes.

The front reads a remote's worker rows from the bytes of its answers
without the converter, and does not decode a worker's body again while
those bytes do not change (decision 0202). What a client of the front gets
must still be exactly the documented answer (docs/api.md): the back's row
with the front's ``runtime_id`` and ``kind``, rendered by the front. A back
that answers anything else — not JSON, the wrong shape, lone surrogates,
extra keys carrying markup, an unknown enum — makes the call ``503
runtime_unavailable``: never a 500, never its body passed on, never the
back's address shown.

The scripted back is a real HTTP/1.1 server on loopback (``http.server``,
in a thread of the test process): it answers the runtime summary a real
back would, and for each worker id the body the test chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from registry_core.models import Capabilities, PluginRef, RuntimeLimits, RuntimeStatus, RuntimeSummary
from runtime_registry.server.serialization import encode_json, render_json

from ..support.remote_servers import back_config, front_config
from ..support.server_process import ServerProcess, running_server

BACK_RUNTIME = "back-a"

#: A valid row of the back, in the rendered shape (keys in the documented order).
ROW = {
    "runtime_id": BACK_RUNTIME,
    "worker_id": "w-good",
    "kind": "embedded",
    "label": 'a label, ünïcödé and "quotes"',
    "status": "idle",
    "profile": "default",
    "intent": {"kind": "task", "purpose": "find out", "objective": None, "role": None},
    "created_at": "2026-12-07T06:58:38.123Z",
    "transcript_length": 3,
    "diagnostics": [{"code": "note", "severity": "info", "message": "a note"}],
    "totals": {"turns": 1, "input_tokens": 2, "output_tokens": 3},
}


def front_row(row: dict) -> dict:
    """What the front shows of a valid back row: the same, with the front's runtime id and kind."""
    return {**row, "runtime_id": "gpu", "kind": "remote"}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def row_with(**changes: object) -> dict:
    return {**ROW, **changes}


#: Valid rows in shapes the fast reader does not take: the converter reads them, the front renders them canonically.
VALID_OTHER_SHAPES = {
    "w-reordered": dict(reversed(list(row_with(worker_id="w-reordered").items()))),
    "w-older": {key: value for key, value in row_with(worker_id="w-older").items() if key != "totals"},
    "w-offset-time": row_with(worker_id="w-offset-time", created_at="2026-12-07T07:58:38.5+01:00"),
    "w-big": row_with(worker_id="w-big", label="x" * 20_000),
}

#: Bodies that are not a worker row, by worker id.
HOSTILE = {
    "w-not-json": b"<html>a web page</html>",
    "w-array": body([ROW]),
    "w-string-length": body(row_with(transcript_length="3")),
    "w-bool-length": body(row_with(transcript_length=True)),
    "w-extra-key": body({**ROW, "script": "<script>alert(1)</script>"}),
    "w-surrogate": json.dumps(row_with(label="\ud800")).encode(),  # a lone surrogate escape: "\\ud800"
    "w-unknown-intent": body(row_with(intent={"kind": "overlord", "purpose": None, "objective": None, "role": None})),
    "w-bad-time": body(row_with(created_at="yesterday")),
    "w-bad-severity": body(row_with(diagnostics=[{"code": "x", "severity": "fatal", "message": "y"}])),
    "w-nested-garbage": body(row_with(totals={"turns": [1], "input_tokens": 0, "output_tokens": 0})),
    "w-truncated": body(ROW)[:-7],
}


def summary_body() -> bytes:
    capabilities = Capabilities(True, True, True, True, True, True, True, True, True, True, True)
    summary = RuntimeSummary(
        BACK_RUNTIME,
        "Back A",
        "embedded",
        PluginRef("embedded", "1.0"),
        RuntimeStatus.RUNNING,
        capabilities,
        RuntimeLimits(),
    )
    return render_json(summary).encode()


class ScriptedBack(ThreadingHTTPServer):
    """Answers ``GET /api/runtimes/back-a`` with a summary and ``.../workers/{id}`` with ``self.workers[id]``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.workers: dict[str, bytes] = {}
        self.pages: dict[str, bytes] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedBack

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        prefix = f"/api/runtimes/{BACK_RUNTIME}"
        answer: bytes | None = None
        if path == prefix:
            answer = summary_body()
        elif path == prefix + "/workers":
            answer = self.server.pages.get(parse_qs(query).get("label", [""])[0])
        elif path.startswith(prefix + "/workers/"):
            answer = self.server.workers.get(path.rsplit("/", 1)[1])
        if answer is None:
            answer = body({"error": {"code": "unknown_worker", "message": "no such worker"}})
            self.send_response(404)
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedBack, ServerProcess]]:
    back = ScriptedBack()
    back.workers = {"w-good": body(ROW), **{k: body(v) for k, v in VALID_OTHER_SHAPES.items()}, **HOSTILE}
    thread = threading.Thread(target=back.serve_forever, daemon=True)
    thread.start()
    folder = tmp_path_factory.mktemp("scripted-back")
    try:
        config = front_config(folder, [("gpu", back.base_url, BACK_RUNTIME)], refresh_seconds=3600)
        with running_server(config, log=folder / "front.log") as front:
            yield back, front
    finally:
        back.shutdown()
        back.server_close()


def assert_hides_the_back(text: str, back: ScriptedBack) -> None:
    port = str(back.server_address[1])
    for secret in (back.base_url, f"127.0.0.1:{port}", f":{port}"):
        assert secret not in text, f"{secret!r} leaked"


async def test_a_valid_row_is_the_backs_row_with_the_fronts_identity_byte_for_byte(scripted):
    _, front = scripted
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        for _ in range(3):  # the first read decodes; the next ones are the same bytes again
            answer = await raw.get("/api/runtimes/gpu/workers/w-good")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json; charset=utf-8"
            assert answer.content == encode_json(front_row(ROW)).encode()


@pytest.mark.parametrize("worker_id", sorted(VALID_OTHER_SHAPES))
async def test_a_valid_row_in_another_shape_is_rendered_as_documented(scripted, worker_id):
    _, front = scripted
    expected = {key: ROW[key] for key in ROW} | {
        key: value for key, value in VALID_OTHER_SHAPES[worker_id].items() if key in ROW
    }
    if worker_id == "w-older":
        expected["totals"] = None
    if worker_id == "w-offset-time":
        expected["created_at"] = "2026-12-07T06:58:38.500Z"
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        answer = await raw.get(f"/api/runtimes/gpu/workers/{worker_id}")
    assert answer.status_code == 200, answer.text
    assert answer.content == encode_json(front_row(expected)).encode()


@pytest.mark.parametrize("worker_id", sorted(HOSTILE))
async def test_a_body_that_is_not_a_worker_is_503_and_never_passed_on(scripted, worker_id):
    back, front = scripted
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        answer = await raw.get(f"/api/runtimes/gpu/workers/{worker_id}")
        error = answer.json()["error"]
        assert (answer.status_code, error["code"]) == (503, "runtime_unavailable")
        assert error["runtime_id"] == "gpu" and error["worker_id"] == worker_id
        for fragment in (b"<script>", b"<html>", b"overlord", b"yesterday", b"fatal", b'"runtime_id":"back-a"'):
            assert fragment not in answer.content
        # (The runtime's summary, read anew, is the remote's again: the remote answers it well.)
        state = (await raw.get("/api/runtimes/gpu")).json()
        assert_hides_the_back(answer.text + json.dumps(state) + front.log_text(), back)
        # The runtime recovers with the next good answer: a bad row is not remembered.
        assert (await raw.get("/api/runtimes/gpu/workers/w-good")).status_code == 200


async def test_a_page_with_one_hostile_row_is_503_and_a_good_page_is_the_backs(scripted):
    back, front = scripted
    rows = [row_with(worker_id=f"w-{i}") for i in range(3)]
    good = {"runtime_id": BACK_RUNTIME, "items": rows, "next_cursor": "opaque-cursor", "diagnostics": []}
    back.pages = {
        "": body(good),
        "hostile": body({**good, "items": [*rows, {**ROW, "script": "<script>x</script>"}]}),
    }
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        answer = await raw.get("/api/runtimes/gpu/workers")
        assert answer.status_code == 200, answer.text
        expected = {"runtime_id": "gpu", "items": [front_row(r) for r in rows], "next_cursor": "opaque-cursor"}
        assert answer.content == encode_json({**expected, "diagnostics": []}).encode()
        hostile = await raw.get("/api/runtimes/gpu/workers", params={"label": "hostile"})
        assert (hostile.status_code, hostile.json()["error"]["code"]) == (503, "runtime_unavailable")
        assert b"<script>" not in hostile.content
        assert_hides_the_back(hostile.text, back)


async def test_concurrent_reads_of_changing_rows_each_see_their_own_bytes(scripted):
    """The cache is keyed by the back's bytes: a changed row is never answered from an older one."""
    back, front = scripted
    async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as raw:
        for length in range(1, 30):
            back.workers["w-changing"] = body(row_with(worker_id="w-changing", transcript_length=length))
            answers = await asyncio.gather(*(raw.get("/api/runtimes/gpu/workers/w-changing") for _ in range(4)))
            assert {a.json()["transcript_length"] for a in answers} == {length}


@contextlib.contextmanager
def _pair(folder: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with running_server(back_config(folder), log=folder / "back.log") as back:
        config = front_config(folder, [("gpu", back.base_url, BACK_RUNTIME)])
        with running_server(config, log=folder / "front.log") as front:
            yield back, front


async def test_a_real_backs_rows_are_passed_on_byte_for_byte_as_they_change(tmp_path):
    with _pair(tmp_path) as (back, front):
        async with (
            httpx.AsyncClient(base_url=back.base_url, timeout=30) as direct,
            httpx.AsyncClient(base_url=front.base_url, timeout=30) as through,
        ):
            created = await through.post("/api/runtimes/gpu/workers", json={"label": "through", "profile": "default"})
            assert created.status_code == 201
            worker_id = created.json()["worker_id"]

            async def same() -> None:
                mine = await through.get(f"/api/runtimes/gpu/workers/{worker_id}")
                theirs = await direct.get(f"/api/runtimes/{BACK_RUNTIME}/workers/{worker_id}")
                assert mine.content == encode_json(front_row(theirs.json())).encode()
                page = await through.get("/api/runtimes/gpu/workers")
                their_page = (await direct.get(f"/api/runtimes/{BACK_RUNTIME}/workers")).json()
                assert (
                    page.content
                    == encode_json(
                        {**their_page, "runtime_id": "gpu", "items": [front_row(r) for r in their_page["items"]]}
                    ).encode()
                )

            await same()
            assert (await through.get(f"/api/runtimes/gpu/workers/{worker_id}")).json()["transcript_length"] == 0
            sent = await through.post(f"/api/runtimes/gpu/workers/{worker_id}/input", json={"content": "hello"})
            assert sent.status_code == 202
            for _ in range(100):
                if (await direct.get(f"/api/runtimes/{BACK_RUNTIME}/workers/{worker_id}")).json()["status"] == "idle":
                    break
                await asyncio.sleep(0.05)
            await same()
            assert (await through.get(f"/api/runtimes/gpu/workers/{worker_id}")).json()["transcript_length"] >= 1
