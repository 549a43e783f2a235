"""The request body size limit (pure ASGI): ``413 payload_too_large`` before the body is read whole.

A declared ``Content-Length`` over the limit is refused before a byte of the
body is read. A body without one (chunked) is counted as it streams in, and
reading stops with :class:`~runtime_registry.server.errors.PayloadTooLarge` the moment it
crosses the limit — the handler never holds more than the limit in memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.errors import MalformedRequest, PayloadTooLarge
from runtime_registry.server.responses import error_response

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await error_response(MalformedRequest("the Content-Length header is not a number"))(
                        scope, receive, send
                    )
                    return
                if int(value) > limit:
                    await error_response(self._too_large())(scope, receive, send)
                    return
                break
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large()
            return message

        await self.app(scope, receive_within_limit, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {self.max_body_bytes} bytes")
