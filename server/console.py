"""The web console's routes: its static files under ``/console/``, with headers that keep a page of them safe.

The console is plain files shipped in the wheel (package
``runtime_registry.console``: HTML, ES modules, CSS; no build step, nothing
fetched from elsewhere; decision 0140). It reads and drives the runtimes
through ``/api`` like any other client, so these routes serve files and
nothing else: no data, no token, no configuration. They are open (the token
is asked for by the page and sent only to ``/api``), pass the Host check like
every route, and are turned off with ``[server] console = false``.

Every answer carries a strict Content-Security-Policy (scripts, styles and
connections from this origin only, no inline script, no framing), plus
``X-Frame-Options: DENY``, ``nosniff`` and ``no-referrer``. The files are read
once, when the app is built: a request never touches the file system, and a
name that is not one of them is the envelope's ``404 not_found``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources

import attrs
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from runtime_registry.server.errors import RouteNotFound
from runtime_registry.server.responses import error_response

__all__ = ["CONSOLE_PATH", "SECURITY_HEADERS", "console_routes", "load_console_files"]

#: Where the console is served.
CONSOLE_PATH = "/console"

#: The package holding the console's files.
_PACKAGE = "runtime_registry.console"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

#: The policy of every console answer: nothing but this origin's own files and API, nothing inline, never framed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Files change with the installed version: revalidate (the ETag makes that a 304).
    "Cache-Control": "no-cache",
}


@attrs.frozen
class ConsoleFile:
    """One file of the console, as it is served."""

    body: bytes
    media_type: str
    etag: str


def load_console_files() -> dict[str, ConsoleFile]:
    """Every servable file of the console package, by name (``index.html``, ``app.js``, ...).

    Python files and folders are not served; neither is anything whose suffix
    has no media type here, so nothing else in the package can leak.
    """
    files: dict[str, ConsoleFile] = {}
    for entry in resources.files(_PACKAGE).iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not entry.is_file() or suffix not in _MEDIA_TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[name] = ConsoleFile(body, _MEDIA_TYPES[suffix], etag)
    if "index.html" not in files:
        raise LookupError(f"the console package {_PACKAGE} has no index.html")
    return files


def console_routes(files: Mapping[str, ConsoleFile] | None = None) -> list[Route]:
    """``/`` and ``/console`` (redirects to ``/console/``), ``/console/`` (the page) and ``/console/{name}`` (its files).

    ``/`` sends a browser to the console, so a newcomer who opens the server's
    address finds a page; it is a temporary redirect (307), since the root may
    mean something else in a later release.
    """
    served = dict(load_console_files() if files is None else files)
    not_found = RouteNotFound("no such route")

    def to_the_page(status_code: int) -> Callable[[Request], Awaitable[Response]]:
        async def redirect(request: Request) -> Response:
            # Relative URLs in the page resolve against /console/, so the slash matters.
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}{CONSOLE_PATH}/", status_code=status_code, headers=dict(SECURITY_HEADERS))

        return redirect

    def answer(request: Request, name: str) -> Response:
        file = served.get(name)
        if file is None:
            return error_response(not_found)
        headers = {**SECURITY_HEADERS, "ETag": file.etag}
        if request.headers.get("if-none-match") == file.etag:
            return Response(status_code=304, headers=headers)
        return Response(file.body, media_type=file.media_type, headers=headers)

    async def index(request: Request) -> Response:
        return answer(request, "index.html")

    async def asset(request: Request) -> Response:
        return answer(request, request.path_params["name"])

    return [
        Route("/", to_the_page(307), methods=["GET", "HEAD"]),
        Route(CONSOLE_PATH, to_the_page(308), methods=["GET", "HEAD"]),
        Route(CONSOLE_PATH + "/", index, methods=["GET", "HEAD"]),
        Route(CONSOLE_PATH + "/{name}", asset, methods=["GET", "HEAD"]),
    ]
