"""``runtime-registry workers | events | send``: look at workers and drive them from a shell, through the Python client.

The server's address and token come from ``--url`` and ``--token`` or the
environment (``RUNTIME_REGISTRY_URL``, default ``http://127.0.0.1:8000``;
``RUNTIME_REGISTRY_TOKEN``, the variable the server reads its own token
from). Neither is ever printed: an error says what failed, not where.

- ``workers [RUNTIME]``: a table of one runtime's workers, or of every runtime's;
- ``events RUNTIME [--cursor N] [--follow]``: one line per event (id, type,
  worker, data as JSON); ``--follow`` goes on with new events, resuming by
  itself after a dropped connection, until Ctrl-C;
- ``send RUNTIME WORKER TEXT``: sends the input and prints the reply as it
  streams. Its exit status says how the turn ended: 0 completed, 1 failed
  (its code on stderr), 3 cancelled, 4 interrupted; 2 when the input was
  refused (busy, stopped, unknown worker...), 5 when the server could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx

from registry_core.converter import structure, unstructure
from registry_core.errors import RegistryError
from registry_core.models import Event
from runtime_registry.client import ConnectionFailed, RegistryClient, RequestTimedOut
from runtime_registry.client.sse import read_messages
from runtime_registry.server.cli.common import DEFAULT_URL, EXIT_OK, EXIT_USAGE, TOKEN_ENV, URL_ENV, error

__all__ = ["workers", "events", "send", "SEND_EXIT"]

EXIT_UNREACHABLE = 5
#: ``send``'s exit status by the event that ended the turn.
SEND_EXIT = {
    "worker.turn_completed": 0,
    "worker.turn_failed": 1,
    "worker.turn_cancelled": 3,
    "worker.turn_interrupted": 4,
}


def _client(args: argparse.Namespace) -> RegistryClient:
    url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    token = args.token or os.environ.get(TOKEN_ENV) or None
    return RegistryClient(url, token=token)


def _run(args: argparse.Namespace, body: Callable[[RegistryClient], Coroutine[Any, Any, int]]) -> int:
    """Run ``body`` with a client; errors are one line (never the URL or token), Ctrl-C ends quietly."""

    async def main() -> int:
        async with _client(args) as client:
            return await body(client)

    try:
        return asyncio.run(main())
    except (ConnectionFailed, RequestTimedOut) as exc:
        error(f"{exc.message} (check --url or ${URL_ENV})")
        return EXIT_UNREACHABLE
    except RegistryError as exc:
        error(f"{exc.code}: {exc.message}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


# -- workers -------------------------------------------------------------------


def workers(args: argparse.Namespace) -> int:
    """The ``workers`` command."""

    async def body(client: RegistryClient) -> int:
        listing = client.iter_workers(args.runtime) if args.runtime else client.iter_all_workers()
        rows = [("RUNTIME", "WORKER", "STATUS", "PROFILE", "CREATED", "LABEL")]
        rows += [
            (
                w.runtime_id,
                w.worker_id,
                w.status,
                w.profile or "-",
                w.created_at.isoformat(timespec="seconds") if w.created_at else "-",
                _one_line(w.label or ""),
            )
            async for w in listing
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            print(
                (
                    "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[5]
                ).rstrip()
            )
        return EXIT_OK

    return _run(args, body)


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")[:60]


# -- events --------------------------------------------------------------------


def events(args: argparse.Namespace) -> int:
    """The ``events`` command."""

    async def body(client: RegistryClient) -> int:
        if args.follow:
            async with client.subscribe(args.runtime, cursor=args.cursor) as subscription:
                async for event in subscription:
                    _print_event(event)
        else:
            async for event in client.iter_events(args.runtime, cursor=args.cursor):
                _print_event(event)
        return EXIT_OK

    return _run(args, body)


def _print_event(event: Event) -> None:
    data = json.dumps(unstructure(event.data), ensure_ascii=False, separators=(",", ":"))
    print(f"{event.id} {event.type} {event.worker_id or '-'} {data}", flush=True)


# -- send ----------------------------------------------------------------------


def send(args: argparse.Namespace) -> int:
    """The ``send`` command."""

    async def body(client: RegistryClient) -> int:
        # Where the runtime's feed ends now: the stream is opened there before the
        # input is sent, so every piece of the reply streamed after it is seen.
        cursor = None
        async for event in client.iter_events(args.runtime):
            cursor = event.id
        url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
        token = args.token or os.environ.get(TOKEN_ENV) or None
        headers = {"Accept": "text/event-stream"} | ({"Authorization": f"Bearer {token}"} if token else {})
        params = {} if cursor is None else {"cursor": str(cursor)}
        path = f"/api/runtimes/{args.runtime}/events/stream"
        async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, trust_env=False) as http:
            try:
                async with http.stream("GET", path, params=params, timeout=httpx.Timeout(10, read=None)) as stream:
                    if stream.status_code != 200:
                        # The same request as JSON says why, in the API's own error.
                        await client.read_events(args.runtime, cursor=cursor, limit=1)
                        raise ConnectionFailed("the event stream could not be opened")
                    accepted = await client.send_input(args.runtime, args.worker, args.text)
                    return await _print_reply(_events_of(stream.aiter_lines()), args.worker, accepted.event_id)
            except httpx.HTTPError:
                raise ConnectionFailed("the event stream broke") from None

    return _run(args, body)


async def _events_of(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    async for message in read_messages(lines):
        if message.comment is not None:
            continue
        if message.event in ("cursor_expired", "error"):
            raise ConnectionFailed("the event stream ended with an error")
        yield structure(json.loads(message.data), Event)


async def _print_reply(stream: AsyncIterator[Event], worker_id: str, input_event_id: int) -> int:
    """Print the reply of the turn that followed the input; the exit status by how it ended."""
    printed = ""
    async for event in stream:
        if event.worker_id != worker_id or event.id < input_event_id:
            continue
        if event.type == "worker.output_delta":
            text = str(event.data.get("text", ""))
            printed += text
            print(text, end="", flush=True)
        elif event.type == "worker.output":
            content = str(event.data.get("content", ""))
            # Pieces streamed before the stream was open are not repeated: the full reply fills them in.
            rest = content[len(printed) :] if content.startswith(printed) else ("\n" + content if printed else content)
            print(rest, end="", flush=True)
            printed = content
        elif event.type in SEND_EXIT:
            if printed:
                print(flush=True)
            if event.type == "worker.turn_failed":
                error(f"the turn failed: {event.data.get('code') or 'no code'}")
            elif event.type != "worker.turn_completed":
                error(f"the turn was {event.type.removeprefix('worker.turn_')}")
            return SEND_EXIT[event.type]
    raise ConnectionFailed("the event stream ended before the turn did")
