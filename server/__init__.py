"""The HTTP side of runtime-registry: a Starlette app over the registry, and the ``runtime-registry`` CLI.

- :mod:`runtime_registry.server.app` — ``create_app(config | assembly)``, the lifespan;
- :mod:`runtime_registry.server.endpoints` — the routes of the contract;
- :mod:`runtime_registry.server.event_stream` — the live event stream (Server-Sent Events);
  :mod:`runtime_registry.server.live_fanout` (live events rendered once per runtime) and
  :mod:`runtime_registry.server.sse_frames` (events as SSE frames);
- :mod:`runtime_registry.server.errors`, :mod:`runtime_registry.server.error_handlers` — the one code-to-status table and the envelope;
- :mod:`runtime_registry.server.middleware` — the pure ASGI middleware (request ids, request heads, browser guard, auth, body limit);
- :mod:`runtime_registry.server.request_parsing`, :mod:`runtime_registry.server.serialization`, :mod:`runtime_registry.server.responses` — JSON in and out;
- :mod:`runtime_registry.server.openapi` — the OpenAPI 3.1 document;
- :mod:`runtime_registry.server.http_protocol` — the uvicorn HTTP protocol with its request-head timeout;
- :mod:`runtime_registry.server.cli` — the ``runtime-registry`` command, one module per command.

Nothing below this package knows about HTTP (docs/architecture.md).
"""
