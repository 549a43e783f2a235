"""The send-input route's own shortcuts (decision 0244) give what the general paths give.

- ``JSONResponse`` builds its headers directly for the plain case: status,
  body and raw headers equal what ``Response.__init__`` makes of the same
  content, for every status class; with headers, a media type or a
  background task it is ``Response.__init__``.
- The body is read from ``receive`` without Starlette's stream: in one
  message or many, empty, and a client that leaves is ``ClientDisconnect``.
- A body that is exactly an object is scanned directly; whatever the body,
  the answer (the object, ``{}``, or the typed error) is the general
  decoder's.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from registry_core.models import InputAccepted
from runtime_registry.server.errors import MalformedRequest, UnsupportedMediaType
from runtime_registry.server.request_parsing import read_json_object
from runtime_registry.server.responses import JSON_MEDIA_TYPE, JSONResponse

ACCEPTED = InputAccepted("rt", "w-1", 3, 1_700_000_000_000_001, "busy")


def _general(content, status_code=200, headers=None, media_type=None, background=None) -> JSONResponse:
    made = JSONResponse.__new__(JSONResponse)
    Response.__init__(made, content, status_code, headers, media_type, background)
    return made


def _same(fast: Response, general: Response) -> None:
    assert fast.status_code == general.status_code
    assert fast.body == general.body
    assert fast.raw_headers == general.raw_headers
    assert fast.background is general.background


@pytest.mark.parametrize("status", [100, 199, 200, 201, 202, 204, 304, 400, 409, 500, 503])
@pytest.mark.parametrize("content", [ACCEPTED, {"error": {"code": "x", "message": 'ü " \\n'}}, None, [1, 2]])
def test_a_plain_json_response_is_what_response_init_makes(status, content):
    _same(JSONResponse(content, status_code=status), _general(content, status))


def test_a_json_response_with_headers_a_media_type_or_a_task_is_response_init():
    task = BackgroundTask(print)
    _same(JSONResponse(ACCEPTED, 201, headers={"Location": "/x"}), _general(ACCEPTED, 201, {"Location": "/x"}))
    _same(
        JSONResponse(ACCEPTED, 202, headers={"Content-Length": "1", "content-type": "a/b"}),
        _general(ACCEPTED, 202, {"Content-Length": "1", "content-type": "a/b"}),
    )
    _same(JSONResponse(ACCEPTED, media_type="application/x+json"), _general(ACCEPTED, media_type="application/x+json"))
    _same(JSONResponse(ACCEPTED, background=task), _general(ACCEPTED, background=task))


def test_each_plain_response_has_its_own_header_list():
    first, second = JSONResponse(ACCEPTED), JSONResponse(ACCEPTED)
    first.headers["x-added"] = "1"
    assert second.raw_headers == [
        (b"content-length", str(len(second.body)).encode()),
        (b"content-type", JSON_MEDIA_TYPE.encode()),
    ]


def _request(messages: list[dict], content_type: bytes | None = b"application/json") -> Request:
    headers = [(b"host", b"x")]
    if content_type is not None:
        headers += [(b"content-type", content_type), (b"content-type", b"text/plain")]
    queue = list(messages)

    async def receive() -> dict:
        return queue.pop(0)

    return Request({"type": "http", "method": "POST", "headers": headers, "path": "/", "query_string": b""}, receive)


def _chunks(body: bytes, sizes: list[int]) -> list[dict]:
    messages, start = [], 0
    for size in sizes:
        messages.append({"type": "http.request", "body": body[start : start + size], "more_body": True})
        start += size
    messages.append({"type": "http.request", "body": body[start:], "more_body": False})
    return messages


@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5) | st.none(), max_size=4),
    st.lists(st.integers(0, 6), max_size=4),
    st.sampled_from(["", " ", "\n", "\t "]),
)
@hypothesis_settings(max_examples=150)
async def test_a_body_in_any_number_of_messages_reads_as_the_decoder_reads_it(data, sizes, around):
    body = (around + json.dumps(data, ensure_ascii=False) + around).encode()
    assert await read_json_object(_request(_chunks(body, sizes))) == data


@pytest.mark.parametrize(
    "text",
    [
        '{"a":NaN}',
        '{"a":Infinity}',
        "{}{}",
        '{"a":1}}',
        "{",
        '{"a":1,}',
        "[1]",
        '"{}"',
        "{} x",
        "\ufeff{}",
        '{"a":-Infinity}',
    ],
)
async def test_a_body_that_is_not_one_json_object_is_malformed(text):
    with pytest.raises(MalformedRequest):
        await read_json_object(_request(_chunks(text.encode(), [])))


async def test_an_empty_or_blank_body_is_an_empty_object_whatever_its_type():
    assert await read_json_object(_request(_chunks(b"", []), content_type=None)) == {}
    assert await read_json_object(_request(_chunks(b" \n", [1]), content_type=b"text/plain")) == {}
    assert await read_json_object(_request([{"type": "http.request"}])) == {}


async def test_the_first_content_type_decides():
    with pytest.raises(UnsupportedMediaType):
        await read_json_object(_request(_chunks(b"{}", []), content_type=b"text/plain"))
    for json_type in (b"application/json", b"Application/JSON; charset=UTF-8", b"application/problem+json"):
        assert await read_json_object(_request(_chunks(b'{"a":1}', []), content_type=json_type)) == {"a": 1}


async def test_a_client_that_leaves_while_sending_is_a_client_disconnect():
    messages = [{"type": "http.request", "body": b'{"a"', "more_body": True}, {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        await read_json_object(_request(messages))
    with pytest.raises(ClientDisconnect):
        await read_json_object(_request([{"type": "http.disconnect"}]))
