"""The app factory: a configuration (or an already built :class:`~registry_core.Assembly`) in, a Starlette app out.

Example (what ``runtime-registry serve`` does, minus the binding)::

    from runtime_registry.host import load_config, apply_environment
    from runtime_registry.server.app import create_app

    app = create_app(apply_environment(load_config("ops.toml")))

The app's lifespan starts every runtime (one that fails is ``unavailable``, the
others serve), logs one line per plugin and runtime, and on shutdown closes
the runtimes: in-flight turns are cancelled and stream waiters woken.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from registry_core import __version__
from registry_core.models import RuntimeStatus, RuntimeSummary
from runtime_registry.host.assembly import Assembly, assemble
from runtime_registry.host.config import RegistryConfig, apply_environment
from runtime_registry.server.console import console_routes
from runtime_registry.server.contract import METRICS_PATH
from runtime_registry.server.endpoints import build_routes
from runtime_registry.server.error_handlers import exception_handlers
from runtime_registry.server.middleware.auth import BearerAuth, short_token_warning
from runtime_registry.server.middleware.body_limit import BodyLimit
from runtime_registry.server.middleware.browser_guard import BrowserGuard
from runtime_registry.server.middleware.front_door import FrontDoor, FrontDoorApp
from runtime_registry.server.middleware.host_policy import HostPolicy
from runtime_registry.server.middleware.origin_policy import OriginPolicy
from runtime_registry.server.middleware.token_guesses import TokenGuessPacer
from runtime_registry.server.observe.http import RequestObserver
from runtime_registry.server.observe.metrics import Metrics, metrics_endpoint
from runtime_registry.server.observe.readiness import readiness_endpoint
from runtime_registry.server.observe.watch import RuntimeWatch
from runtime_registry.server.openapi import openapi_bytes

__all__ = ["create_app"]

log = logging.getLogger("runtime_registry.server")


def create_app(
    config: RegistryConfig | None = None, *, assembly: Assembly | None = None, access_log: bool = True
) -> Starlette:
    """Build the app.

    :param config: the configuration, used as given (the CLI has already applied
        the environment). ``None`` (and no ``assembly``) means the default
        configuration with the environment applied: one embedded runtime.
    :param assembly: an already assembled registry and plugin set (tests, or a
        host that built its own); its ``config`` supplies the server settings.
    :param access_log: write one line per request (logger ``runtime_registry.access``, INFO).
    """
    if assembly is None:
        assembly = assemble(config if config is not None else apply_environment(RegistryConfig()))
    settings = assembly.config.server
    registry = assembly.registry
    token = settings.token or None

    metrics = Metrics(registry, assembly.plugins)
    watch = RuntimeWatch(registry, metrics)
    routes = build_routes(
        registry,
        assembly.plugins,
        openapi_document=openapi_bytes(version=__version__, bearer_auth=token is not None),
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        service_handlers={
            "readyz": readiness_endpoint(registry, optional=settings.readiness_optional_runtimes),
            "metrics": metrics_endpoint(metrics),
        },
    )
    if settings.console:
        routes += console_routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await registry.start()
        await watch.start(await _log_startup(assembly))
        log.info("%s", browser_safety_summary(settings.allowed_hosts, settings.cors_allowed_origins, token=token))
        weak_token = short_token_warning(token)
        if weak_token is not None:
            log.warning("%s", weak_token)
        try:
            yield
        finally:
            await watch.stop()
            await registry.close()
            log.info("runtimes closed")

    auth = None
    if token is not None:
        also_protected = frozenset() if settings.metrics_public else frozenset({METRICS_PATH})
        pacer = TokenGuessPacer(burst=settings.failed_token_burst, rate_per_second=settings.failed_tokens_per_second)
        auth = BearerAuth(token=token, pacer=pacer, also_protected=also_protected)
    front_door = Middleware(
        FrontDoor,
        observer=RequestObserver(metrics=metrics, access_log_enabled=access_log),
        browser_guard=BrowserGuard(
            host_policy=_host_policy(settings.allowed_hosts, token=token),
            origin_policy=OriginPolicy(settings.cors_allowed_origins),
        ),
        auth=auth,
        body_limit=BodyLimit(max_body_bytes=settings.max_body_bytes),
    )

    app = FrontDoorApp(
        routes=routes,
        middleware=[front_door],
        exception_handlers=exception_handlers(routes),
        lifespan=lifespan,
    )
    # "/api/runtimes/" is not "/api/runtimes": a 404 in the envelope, not a redirect.
    app.router.redirect_slashes = False
    app.state.assembly = assembly
    app.state.metrics = metrics
    return app


def _host_policy(allowed_hosts: tuple[str, ...], *, token: str | None) -> HostPolicy | None:
    """The Host check, or ``None`` when it is off: a token protects the API and no names are listed.

    Without a token, a DNS-rebinding page could read and drive the API, so the
    check is always on; with one, the page cannot authenticate, and the check
    runs only if the operator lists names (decision 0060).
    """
    if token is not None and not allowed_hosts:
        return None
    return HostPolicy(allowed_hosts)


def browser_safety_summary(
    allowed_hosts: tuple[str, ...], cors_allowed_origins: tuple[str, ...], *, token: str | None
) -> str:
    """One log line saying which Hosts and Origins the server answers (decision 0060); never the token."""
    if _host_policy(allowed_hosts, token=token) is None:
        hosts = "any Host (a token is configured and server.allowed_hosts is empty)"
    elif "*" in allowed_hosts:
        hosts = "any Host (server.allowed_hosts has '*')"
    else:
        hosts = "Host localhost or an address" + (f" or {', '.join(allowed_hosts)}" if allowed_hosts else "")
    origins = ", ".join(cors_allowed_origins) if cors_allowed_origins else "none"
    return f"browser safety: answering {hosts}; state-changing requests from other origins refused; CORS origins: {origins}"


async def _log_startup(assembly: Assembly) -> tuple[RuntimeSummary, ...]:
    """One line per plugin and per runtime; names, versions and states only (never settings).

    A runtime that starts ``degraded`` or ``unavailable`` is a WARNING line with its diagnostic codes.
    Returns the runtimes as read.
    """
    for plugin in assembly.plugins.plugins:
        kinds = ", ".join(plugin.kinds) or "no kinds"
        reason = f" ({plugin.reason})" if plugin.reason else ""
        log.info("plugin %s %s: %s, %s%s", plugin.name, plugin.version, plugin.state.value, kinds, reason)
    runtimes = await assembly.registry.list_runtimes()
    for runtime in runtimes.items:
        problems = "; ".join(d.message for d in runtime.diagnostics if d.severity.value == "error")
        codes = sorted({d.code for d in runtime.diagnostics if d.severity.value in ("warning", "error")})
        log.log(
            logging.INFO if runtime.status is RuntimeStatus.RUNNING else logging.WARNING,
            "runtime %s (kind %s, plugin %s %s): %s%s%s",
            runtime.runtime_id,
            runtime.kind,
            runtime.plugin.name,
            runtime.plugin.version,
            runtime.status.value,
            f" (codes {', '.join(codes)})" if codes and runtime.status is not RuntimeStatus.RUNNING else "",
            f" ({problems})" if problems else "",
        )
    if not runtimes.items:
        log.warning("no runtimes are configured")
    return runtimes.items
