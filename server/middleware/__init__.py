"""The server's request checks, run by one pure ASGI middleware, :mod:`.front_door`, in this order:

- :mod:`.request_ids` — every response carries a request id;
- :mod:`.request_head` — the head read once; a head that repeats Host, Origin or Authorization is refused;
- :mod:`.browser_guard` — Host and Origin checks, CORS (over :mod:`.host_policy` and :mod:`.origin_policy`);
- :mod:`.auth` — the bearer token;
- :mod:`.body_limit` — the request body's size bound.
"""
