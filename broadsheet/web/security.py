"""What every response carries, what a request may send, and the CSRF field every form posts.

The pages hold no script and load nothing from elsewhere, so the Content-Security-Policy
allows only this server's stylesheet. The copy of a digest as it was sent (``/a/TOKEN/ID``)
is the one exception: mail needs its styles inline and its images come from the feeds, so it
gets its own policy, sandboxed (no script, no form, an origin of its own).

A form on a page posts a CSRF field: the subscriber's ``public_id`` signed with the server's
key, salted with the form's name and stamped with the time, so it is good for that form, that
subscriber and ``CSRF_MAX_AGE`` only. The one-click unsubscribe (RFC 8058) is the one post
without it: a mail provider sends it, and the signed link it posts to is the proof.
"""

from __future__ import annotations

from typing import Literal

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
EDITION_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a page's URL holds its token: never pass it on
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages show a person's address and choices
}
STATIC_CACHE = "public, max-age=3600"
MAX_BODY = 64 * 1024  # bytes: the preferences form is well under 10 KB

CSRF_FIELD = "csrf"
CSRF_MAX_AGE = 2 * 24 * 3600  # seconds a page may stay open before its form must be reloaded
Verdict = Literal["ok", "expired", "invalid"]


def csrf_token(secret: str, public_id: str, form: str) -> str:
    """The CSRF field for ``form`` on a page of the subscriber ``public_id``."""
    return str(_csrf(secret, form).dumps(public_id))


def csrf_check(
    secret: str, value: str, public_id: str, form: str, max_age: int = CSRF_MAX_AGE
) -> Verdict:
    """Whether ``value`` is this form's field for this subscriber: ok, expired or invalid."""
    serializer = _csrf(secret, form)
    try:
        found = serializer.loads(value, max_age=max_age)
    except SignatureExpired as exc:  # genuine, but old: the payload can be trusted
        if not isinstance(exc.payload, bytes):
            return "invalid"
        try:
            found = serializer.load_payload(exc.payload)
        except BadData:
            return "invalid"
        return "expired" if found == public_id else "invalid"
    except (BadData, UnicodeError, ValueError):
        return "invalid"
    return "ok" if found == public_id else "invalid"


def _csrf(secret: str, form: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"broadsheet.csrf.{form}")


class BodyTooLarge(Exception):
    """A request body went past ``MAX_BODY``."""


class Guard:
    """ASGI middleware: the security headers on every response; bodies over ``limit`` refused (413).

    A route that sets a header itself keeps its own value (the edition's policy); the static
    stylesheet may be cached.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        started = False
        static = scope["path"].startswith(f"{scope.get('root_path', '')}/static/")

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if static and message["status"] == 200:
                    headers["Cache-Control"] = STATIC_CACHE
            await send(message)

        try:
            await self.app(scope, self._bounded(receive), sending)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, sending)

    def _bounded(self, receive: Receive) -> Receive:
        """``receive`` that raises once the body (sent in chunks, undeclared) passes the limit."""
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        return bounded

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = PlainTextResponse(
            "Request body too large.", status_code=413, headers=HEADERS | {"Connection": "close"}
        )
        await response(scope, receive, send)
