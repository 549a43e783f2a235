"""The server's pure ASGI middleware, outermost first as :func:`runtime_registry.server.app.create_app` stacks it.

- :mod:`.request_ids` — every response carries a request id;
- :mod:`.request_head` — a head that repeats Host, Origin or Authorization is refused;
- :mod:`.browser_guard` — Host and Origin checks, CORS (over :mod:`.host_policy` and :mod:`.origin_policy`);
- :mod:`.auth` — the bearer token;
- :mod:`.body_limit` — the request body's size bound.
"""
