"""The HTTP side of runtime-registry: a Starlette app over the registry, and the ``runtime-registry`` CLI.

- :mod:`server.app` — ``create_app(config | assembly)``, the lifespan;
- :mod:`server.endpoints` — the routes of the contract;
- :mod:`server.event_stream` — the live event stream (Server-Sent Events);
- :mod:`server.errors`, :mod:`server.error_handlers` — the one code-to-status table and the envelope;
- :mod:`server.request_ids`, :mod:`server.auth`, :mod:`server.body_limit` — pure ASGI middleware;
- :mod:`server.request_parsing`, :mod:`server.serialization`, :mod:`server.responses` — JSON in and out;
- :mod:`server.openapi` — the OpenAPI 3.1 document;
- :mod:`server.cli`, :mod:`server.binding` — ``serve``, ``plugins``, ``check-config``.

Nothing below this package knows about HTTP (docs/architecture.md).
"""
