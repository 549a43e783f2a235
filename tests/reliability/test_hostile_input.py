"""Hostile requests on the wire: each gets its typed error, and the server keeps serving.

Raw bytes through the real server (what a fuzzer outside the schema, or an
attacker, sends): escapes that decode to lone surrogates, bodies nested
100,000 deep, numbers of 5,000 digits, ``NaN``, bodies that are not UTF-8,
bodies over the limit (declared and chunked), odd digits in query parameters,
NUL bytes in paths. After the whole table, the worker it used still answers
its transcript: nothing hostile was stored.
"""

from __future__ import annotations

import asyncio

import pytest

from .app_config import EMBEDDED, serving_embedded
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
JSON = {"Content-Type": "application/json"}
MAX_BODY = 8192


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request, tmp_path_factory):
    # Both parsers: they differ on malformed framing (decision 0083).
    directory = tmp_path_factory.mktemp(f"hostile-{request.param}")
    settings = f'max_body_bytes = {MAX_BODY}\nhttp_parser = "{request.param}"'
    with serving_embedded(directory, server_settings=settings) as served:
        yield served


@pytest.fixture(scope="module")
def worker_id(server):
    async def create():
        async with LoadClient(server.base_url, connections=1) as api:
            return (await api.post(f"{RUNTIME}/workers", {})).json()["worker_id"]

    return asyncio.run(create())


def body_requests(worker: str) -> list[tuple[str, str, bytes, dict, int, str]]:
    """(name, path, body, headers, expected status, expected code)."""
    input_path = f"{RUNTIME}/workers/{worker}/input"
    create_path = f"{RUNTIME}/workers"
    return [
        ("lone surrogate in content", input_path, b'{"content": "a\\ud800b"}', JSON, 422, "invalid_request"),
        ("lone low surrogate in label", create_path, b'{"label": "\\udfff"}', JSON, 422, "invalid_request"),
        (
            "lone surrogate as an unknown key",
            input_path,
            b'{"content": "x", "\\ud800": 1}',
            JSON,
            422,
            "invalid_request",
        ),
        ("surrogate pair is fine", input_path, b'{"content": "\\ud83d\\ude00"}', JSON, 202, ""),
        ("nested 100,000 deep", input_path, b"[" * 100_000, JSON, 413, "payload_too_large"),
        ("nested 2,000 deep", input_path, b"[" * 2000 + b"]" * 2000, JSON, 400, "malformed_request"),
        ("a number of 5,000 digits", input_path, b'{"content": ' + b"9" * 5000 + b"}", JSON, 400, "malformed_request"),
        ("NaN", input_path, b'{"content": NaN}', JSON, 400, "malformed_request"),
        ("Infinity", create_path, b'{"label": Infinity}', JSON, 400, "malformed_request"),
        ("not UTF-8", input_path, b'{"content": "\xff\xfe"}', JSON, 400, "malformed_request"),
        ("null", input_path, b"null", JSON, 400, "malformed_request"),
        ("a JSON string", input_path, b'"content"', JSON, 400, "malformed_request"),
        ("content of the wrong type", input_path, b'{"content": ["a"]}', JSON, 422, "invalid_request"),
        ("blank content", input_path, b'{"content": " \\t\\n "}', JSON, 422, "invalid_request"),
        ("unknown input kind", input_path, b'{"content": "a", "kind": "assistant"}', JSON, 422, "invalid_request"),
        (
            "declared body over the limit",
            input_path,
            b'{"content": "' + b"a" * MAX_BODY + b'"}',
            JSON,
            413,
            "payload_too_large",
        ),
        (
            "form body",
            input_path,
            b"content=a",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
    ]


async def test_every_hostile_body_gets_its_typed_error(server, worker_id):
    async with LoadClient(server.base_url, connections=1) as api:
        for name, path, body, headers, status, code in body_requests(worker_id):
            if status == 202:
                await api.post(f"{RUNTIME}/workers/{worker_id}/cancel")
            reply = await api.request("POST", path, body=body, headers=headers)
            assert (reply.status, reply.error_code or "") == (status, code), (name, reply.body[:300])


async def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(server, worker_id):
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))
    chunk = b"a" * 1024
    head = (
        f"POST {RUNTIME}/workers/{worker_id}/input HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    writer.write(head + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(12)) + b"0\r\n\r\n")
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"413"


@pytest.mark.parametrize(
    "path, status, code",
    [
        (f"{RUNTIME}/workers?limit=%EF%BC%91", 400, "malformed_request"),  # a fullwidth digit one
        (f"{RUNTIME}/workers?limit=+1", 400, "malformed_request"),
        (f"{RUNTIME}/workers?limit=1e3", 400, "malformed_request"),
        (f"{RUNTIME}/workers?limit=1_0", 400, "malformed_request"),
        (f"{RUNTIME}/workers?limit=" + "9" * 40, 400, "limit_too_large"),
        (f"{RUNTIME}/workers?cursor=%00", 400, "malformed_request"),
        (f"{RUNTIME}/events?cursor=-1", 400, "malformed_request"),
        (f"{RUNTIME}/events?cursor=999999999999999999", 410, "cursor_expired"),
        ("/api/runtimes/a%00b", 400, "invalid_identifier"),
        ("/api/runtimes/%C3%A9t%C3%A9", 400, "invalid_identifier"),
        (f"/api/runtimes/{'r' * 121}/workers", 400, "invalid_identifier"),
        (f"{RUNTIME}/workers/w%2F..%2F..", 400, "invalid_identifier"),
    ],
)
async def test_hostile_query_parameters_and_ids_get_their_typed_error(server, path, status, code):
    async with LoadClient(server.base_url, connections=1) as api:
        reply = await api.get(path)
    assert (reply.status, reply.error_code) == (status, code), reply.body[:300]


@pytest.mark.parametrize("last_event_id", ["-1", "abc", "1e9", "9" * 40, " 1 2 "])
async def test_a_malformed_last_event_id_is_400(server, last_event_id):
    async with LoadClient(server.base_url, connections=1) as api:
        reply = await api.get(f"{RUNTIME}/events/stream", headers={"Last-Event-ID": last_event_id})
    assert (reply.status, reply.error_code) == (400, "malformed_request")


async def test_after_the_hostile_table_the_worker_and_runtime_still_answer(server, worker_id):
    async with LoadClient(server.base_url, connections=1) as api:
        transcript = await api.get(f"{RUNTIME}/workers/{worker_id}/transcript")
        events = await api.get(f"{RUNTIME}/events")
        overview = await api.get("/api/workers")
    assert (transcript.status, events.status, overview.status) == (200, 200, 200)
    assert "Traceback" not in server.log_text()
