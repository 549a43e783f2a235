"""The Python client of runtime-registry's HTTP API: typed, async, over httpx.

Example::

    from runtime_registry.client import RegistryClient

    async with RegistryClient("http://127.0.0.1:8000", token=TOKEN) as client:
        worker = await client.create_worker("backend-internal")
        await client.send_input("backend-internal", worker.worker_id, "hello")
        async with client.subscribe("backend-internal") as events:
            async for event in events:
                print(event.id, event.type)

Every method returns the models of :mod:`registry_core.models` and raises the
typed errors of :mod:`registry_core.errors` (a ``409 worker_busy`` is a
``WorkerBusy``) or of :mod:`runtime_registry.client.errors` (codes only HTTP
has, and ``ConnectionFailed``/``RequestTimedOut``/``MalformedResponse``).
There is no synchronous wrapper: run it with ``asyncio.run``.
"""

from runtime_registry.client.client import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_SECONDS, RegistryClient
from runtime_registry.client.errors import (
    ClientError,
    ConnectionFailed,
    ForbiddenOrigin,
    InternalServerError,
    MalformedRequest,
    MalformedResponse,
    MethodNotAllowed,
    MisdirectedRequest,
    PayloadTooLarge,
    RequestTimedOut,
    RouteNotFound,
    ServerBusy,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from runtime_registry.client.subscription import EventSubscription

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT_SECONDS",
    "ClientError",
    "ConnectionFailed",
    "EventSubscription",
    "ForbiddenOrigin",
    "InternalServerError",
    "MalformedRequest",
    "MalformedResponse",
    "MethodNotAllowed",
    "MisdirectedRequest",
    "PayloadTooLarge",
    "RegistryClient",
    "RequestTimedOut",
    "RouteNotFound",
    "ServerBusy",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]
