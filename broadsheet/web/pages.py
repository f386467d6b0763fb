"""The subscribers' pages: a token -> the subscriber (``api.find``) -> an api call -> a template.

No SQL and no rules here: what a choice means, what unsubscribing does and what an edition
holds are the application API's (``broadsheet.api``). A token that does not verify, or names
nobody, gets the same plain 404 page as a path that does not exist, so a page tells a visitor
nothing about links that are not theirs. The api's calls block (the store), so they run in
Starlette's thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import available_timezones

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from broadsheet import api
from broadsheet.app import App
from broadsheet.web import fields
from broadsheet.web.security import CSRF_FIELD, EDITION_POLICY, csrf_check, csrf_token
from broadsheet.web.views import render
from digests.digest import Digest
from digests.links import ARCHIVE, PREFERENCES, UNSUBSCRIBE, read_token, token
from digests.preferences import PreferenceError
from ingest.errors import BroadsheetError

T = TypeVar("T")
ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058's body: the mail provider's post
TIMEZONES = tuple(sorted(available_timezones() - {"localtime"}))
HEADLINES = 12  # of the next digest, on the preferences page
LARGEST_ID = 2**63 - 1
EXPIRED = "This page was open for a long time, so nothing was changed. Press the button again."


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking api call off the event loop."""
    return await run_in_threadpool(partial(function, *args, **kwargs))


async def form_fields(request: Request) -> list[tuple[str, str]]:
    """The posted form's fields in order (files are not accepted)."""
    form = await request.form(max_files=0, max_fields=500)
    posted = list(form.multi_items())
    if any(isinstance(value, UploadFile) for _, value in posted):
        raise HTTPException(400)
    return [(name, str(value)) for name, value in posted]


class Pages:
    """The handlers, bound to one application (settings and store)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.secret = app.settings.web.secret
        self.title = app.settings.digests.title

    async def find(self, request: Request, purpose: str) -> api.SubscriberView:
        """The subscriber the path's token names, for ``purpose``; 404 when none."""
        public_id = read_token(self.secret, request.path_params["token"], purpose)
        view = await call(api.find, self.app, public_id) if public_id else None
        if view is None:
            raise HTTPException(404)
        return view

    def csrf(self, fields: Sequence[tuple[str, str]], view: api.SubscriberView, form: str) -> str:
        """The CSRF verdict on a posted form: ok, expired or invalid."""
        value = next((v for name, v in fields if name == CSRF_FIELD), "")
        return csrf_check(self.secret, value, view.public_id, form)

    # /u/TOKEN

    async def unsubscribe_page(self, request: Request) -> Response:
        """GET: one button (a GET changes nothing); when unsubscribed, one button back."""
        return self._unsubscribe(request, await self.find(request, UNSUBSCRIBE))

    async def unsubscribe(self, request: Request) -> Response:
        """POST: the mail provider's one-click, or the page's own button (with its CSRF field)."""
        view = await self.find(request, UNSUBSCRIBE)
        posted = await form_fields(request)
        if ONE_CLICK in posted:
            via = "one-click"
        else:
            verdict = self.csrf(posted, view, "unsubscribe")
            if verdict == "expired":
                return self._unsubscribe(request, view, [EXPIRED], problem=True, status=400)
            if verdict != "ok":
                return self.not_understood(request)
            via = "web"
        # Someone the config no longer lists is recorded too, should they be added back.
        return self._unsubscribe(
            request, await call(api.unsubscribe, self.app, view.email, via=via)
        )

    async def resubscribe(self, request: Request) -> Response:
        """POST /u/TOKEN/undo: back on the list, by the person's own hand (CSRF field)."""
        view = await self.find(request, UNSUBSCRIBE)
        verdict = self.csrf(await form_fields(request), view, "resubscribe")
        if verdict == "expired":
            return self._unsubscribe(request, view, [EXPIRED], problem=True, status=400)
        if verdict != "ok" or view.state == "not in config":
            return self.not_understood(request)
        view = await call(api.resubscribe, self.app, view.email)
        return self._unsubscribe(request, view, ["You are subscribed again. Welcome back."])

    def _unsubscribe(
        self,
        request: Request,
        view: api.SubscriberView,
        notes: Sequence[str] = (),
        *,
        problem: bool = False,
        status: int = 200,
    ) -> Response:
        gone = view.state == "unsubscribed"
        return render(
            request,
            "unsubscribe.html",
            self.title,
            status=status,
            heading="You are unsubscribed" if gone else "Unsubscribe",
            view=view,
            token=request.path_params["token"],
            csrf=csrf_token(self.secret, view.public_id, "resubscribe" if gone else "unsubscribe"),
            notes=notes,
            problem=problem,
        )

    # /p/TOKEN

    async def preferences_page(self, request: Request) -> Response:
        """GET: the form with the subscriber's current choices, and their next digest."""
        view = await self.find(request, PREFERENCES)
        return await self._preferences(request, view, None)

    async def preferences(self, request: Request) -> Response:
        """POST: save the choices (nothing is saved when one is wrong: the form says which)."""
        view = await self.find(request, PREFERENCES)
        posted = await form_fields(request)
        verdict = self.csrf(posted, view, "preferences")
        if verdict != "ok":
            if verdict == "expired":
                return await self._preferences(request, view, posted, [EXPIRED], status=400)
            return self.not_understood(request)
        if view.state == "not in config":
            return self.not_understood(request)
        chosen = [(name, value) for name, value in posted if name != CSRF_FIELD]
        try:
            view = await call(api.set_preferences, self.app, view.email, chosen)
        except PreferenceError as exc:
            return await self._preferences(request, view, posted, problems=exc.problems)
        return await self._preferences(request, view, None, ["Your choices are saved."])

    async def _preferences(
        self,
        request: Request,
        view: api.SubscriberView,
        posted: Sequence[tuple[str, str]] | None,
        notes: Sequence[str] = (),
        *,
        problems: dict[str, str] | None = None,
        status: int | None = None,
    ) -> Response:
        tags, preview = await call(self._choices, view)
        form = fields.submitted(posted) if posted is not None else _initial(view)
        return render(
            request,
            "preferences.html",
            self.title,
            status=status or (400 if problems else 200),
            heading="Your preferences",
            view=view,
            token=request.path_params["token"],
            unsubscribe_token=token(self.secret, view.public_id, UNSUBSCRIBE),
            archive_token=token(self.secret, view.public_id, ARCHIVE),
            csrf=csrf_token(self.secret, view.public_id, "preferences"),
            form=form,
            problems=problems or {},
            notes=notes,
            problem=status == 400,
            admin_tags=tags,
            weekdays=fields.WEEKDAYS,
            timezones=TIMEZONES if form.timezone in TIMEZONES else (form.timezone, *TIMEZONES),
            preview=preview,
            shown=HEADLINES,
            now=datetime.now(UTC),
        )

    def _choices(self, view: api.SubscriberView) -> tuple[tuple[str, ...], Digest | None]:
        """The tags one may choose among, and the next digest (None when nothing is sent)."""
        tags = api.admin_tags(self.app)
        if view.subscriber is None or view.state == "unsubscribed":
            return tags, None
        try:
            return tags, api.preview(self.app, view.email)
        except BroadsheetError:
            return tags, None  # the form matters more than the preview; the admin sees why

    # /a/TOKEN

    async def archive(self, request: Request) -> Response:
        """GET: the digests sent to this subscriber, newest first."""
        view = await self.find(request, ARCHIVE)
        editions = await call(api.archive, self.app, view.email)
        return render(
            request,
            "archive.html",
            self.title,
            heading="Past editions",
            view=view,
            token=request.path_params["token"],
            editions=editions,
            now=datetime.now(UTC),
        )

    async def edition(self, request: Request) -> Response:
        """GET /a/TOKEN/ID: one digest, the HTML as it was sent."""
        view = await self.find(request, ARCHIVE)
        delivery = request.path_params["delivery"]
        html = None
        if delivery <= LARGEST_ID:
            html = await call(api.edition, self.app, view.email, delivery)
        if html is None:
            raise HTTPException(404)
        return HTMLResponse(html, headers={"Content-Security-Policy": EDITION_POLICY})

    # Plain pages

    def not_found(self, request: Request) -> Response:
        """The one 404 page: for a path that does not exist and a link that is not valid."""
        lines = (
            "This link does not open anything here. It may have been cut short or changed on "
            "its way, for example when it was copied.",
            "Open it again from the foot of one of your digests.",
        )
        return self.message(request, "Page not found", lines, 404)

    def not_understood(self, request: Request) -> Response:
        """A post this page did not send: nothing was changed."""
        lines = ("Nothing was changed. Go back to the page, reload it and press its button again.",)
        return self.message(request, "This request was not understood", lines, 400)

    def unavailable(self, request: Request) -> Response:
        """The store did not answer: nothing was changed; try later."""
        lines = (
            "These pages cannot reach their records at the moment, so nothing was changed.",
            "Please try again in a few minutes.",
        )
        return self.message(request, "Not available right now", lines, 503)

    def message(
        self, request: Request, heading: str, lines: Sequence[str], status: int
    ) -> Response:
        """A plain page with a heading and a few lines."""
        return render(
            request, "message.html", self.title, status=status, heading=heading, lines=lines
        )


def _initial(view: api.SubscriberView) -> fields.Form:
    return fields.initial(
        view.schedule,
        view.timezone,
        view.tags,
        view.include,
        view.exclude,
        view.deliver,
        view.paused_until,
    )
