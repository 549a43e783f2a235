"""Server-Sent Events framing: lines in, messages out (the parts of the WHATWG rules the server uses).

A message is the ``event:``, ``data:`` and ``id:`` fields up to a blank line;
``data:`` lines join with ``\\n``; a line starting with ``:`` is a comment (the
server's heartbeat), reported on its own so a reader knows the stream is alive.
``retry:`` and unknown fields are ignored, as the spec says.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import attrs

__all__ = ["MAX_MESSAGE_CHARS", "ServerSentMessage", "read_messages"]

#: A message larger than this is not the server's (an event is bounded by the
#: runtime's input limit): the reader stops with ``ValueError`` rather than grow without end.
MAX_MESSAGE_CHARS = 8 * 1024 * 1024


@attrs.frozen
class ServerSentMessage:
    """One dispatched message; ``comment`` is set (and the rest empty) for a comment line."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    comment: str | None = None


async def read_messages(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentMessage]:
    """The messages of an event stream, given its lines without line ends."""
    event, event_id, size = "", None, 0
    data: list[str] = []
    async for line in lines:
        if not line:
            if data or event:
                yield ServerSentMessage(event or "message", "\n".join(data), event_id)
            event, data, event_id, size = "", [], None, 0
            continue
        if line.startswith(":"):
            yield ServerSentMessage(comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        size += len(value)
        if size > MAX_MESSAGE_CHARS:
            raise ValueError("an event stream message is larger than any the server sends")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
