"""The web application (Starlette) and its server (uvicorn).

Nothing is kept in the process between requests: every page reads the store, so any number of
``broadsheet web`` processes can serve one PostgreSQL store side by side.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadsheet.app import App
from broadsheet.web.pages import Pages, call
from broadsheet.web.security import HEADERS, Guard
from broadsheet.web.views import stylesheet
from ingest.errors import StoreError
from ingest.store.database import answers

log = logging.getLogger("broadsheet.web")
_TOKEN = re.compile(r"^(/[upa])/[^/]+")  # a path's token is a key: never logged


def create_app(app: App) -> Starlette:
    """The subscribers' pages for ``app`` (its settings, its store)."""
    pages = Pages(app)
    css = stylesheet()

    async def healthz(request: Request) -> Response:
        healthy = await call(answers, app.engine)
        return PlainTextResponse(
            "ok" if healthy else "the store does not answer", 200 if healthy else 503
        )

    async def styles(request: Request) -> Response:
        return Response(css, media_type="text/css")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return pages.not_found(request)
        if status == 400:
            return pages.not_understood(request)
        return PlainTextResponse(f"{status}", status, headers=getattr(exc, "headers", None))

    async def store_failed(request: Request, exc: Exception) -> Response:
        log.error("web %s %s: %s", request.method, masked(request.url.path), exc)
        return pages.unavailable(request)

    async def crashed(request: Request, exc: Exception) -> Response:
        response = pages.message(
            request, "Something went wrong", ("Nothing was changed. Please try again later.",), 500
        )
        response.headers.update(HEADERS)  # this response bypasses the middleware
        return response

    routes = [
        Route("/u/{token}", pages.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", pages.unsubscribe, methods=["POST"]),
        Route("/u/{token}/undo", pages.resubscribe, methods=["POST"]),
        Route("/p/{token}", pages.preferences_page, methods=["GET"]),
        Route("/p/{token}", pages.preferences, methods=["POST"]),
        Route("/a/{token}", pages.archive, methods=["GET"]),
        Route("/a/{token}/{delivery:int}", pages.edition, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/static/web.css", styles, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog), Middleware(Guard)],
        exception_handlers={
            HTTPException: http_error,
            StoreError: store_failed,
            Exception: crashed,
        },
    )


def serve(app: App, host: str, port: int) -> None:
    """Serve the pages until stopped (SIGINT or SIGTERM): one process, many connections."""
    uvicorn.run(
        create_app(app),
        host=host,
        port=port,
        root_path=urlsplit(app.settings.web.base_url).path.rstrip("/"),
        log_config=None,  # Broadsheet's own log format
        access_log=False,  # AccessLog writes the lines, with the paths' tokens masked
        server_header=False,
        proxy_headers=True,  # X-Forwarded-For/-Proto from a reverse proxy on this machine
        timeout_graceful_shutdown=10,
    )


def masked(path: str) -> str:
    """A request path with its token replaced: "/u/…", "/a/…/12"."""
    return _TOKEN.sub(r"\1/…", path)


class AccessLog:
    """ASGI middleware: one log line per request (method, path without its token, status, time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            path, root = scope["path"], scope.get("root_path", "")
            path = path[len(root) :] if root and path.startswith(root) else path
            log.info("web %s %s %d %.1f ms", scope["method"], masked(path), status, elapsed)
