"""The request body size limit: ``413 payload_too_large`` before the body is read whole.

A declared ``Content-Length`` over the limit is refused before a byte of the
body is read. A body without one (chunked) is counted as it streams in, and
reading stops with :class:`~runtime_registry.server.errors.PayloadTooLarge` the moment it
crosses the limit — the handler never holds more than the limit in memory.
A body with a ``Content-Length`` within the limit is not counted: the parser
frames it by that length, so it cannot be longer.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Message, Receive

from runtime_registry.server.errors import MalformedRequest, PayloadTooLarge
from runtime_registry.server.middleware.request_head import RequestHead
from runtime_registry.server.responses import error_response

__all__ = ["BodyLimit"]


class BodyLimit:
    """Refuse request bodies larger than ``max_body_bytes``."""

    def __init__(self, *, max_body_bytes: int) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self.max_body_bytes = max_body_bytes

    def refusal(self, head: RequestHead) -> Response | None:
        """The answer to a declared length that is not a number or is over the limit, else ``None``."""
        declared = head.content_length
        if declared is None:
            return None
        if not declared.isdigit():
            return error_response(MalformedRequest("the Content-Length header is not a number"))
        if int(declared) > self.max_body_bytes:
            return error_response(self._too_large())
        return None

    def counted(self, head: RequestHead, receive: Receive) -> Receive:
        """``receive``, counting a body whose length is not declared and stopping it past the limit."""
        if not head.chunked:
            return receive
        limit = self.max_body_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large()
            return message

        return receive_within_limit

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {self.max_body_bytes} bytes")
