"""Broadsheet's application API: what the CLI, the worker and the web pages call.

Every function takes the ``App`` (settings and store) first and ``now`` last (the clock when
None), and holds the rules: the handlers around it hold neither SQL nor business rules.

    from broadsheet.app import App
    from broadsheet import api

    app = App.open("config/broadsheet.toml")
    for person in api.subscribers(app):
        print(person.email, person.state, person.next_due)
    api.unsubscribe(app, "ann@example.org", via="command")
    report = api.deliver(app, force=True)

A subscriber is a person the config invites, with the choices they made on the web on top
(``digests/preferences.py``); ``SubscriberView`` is what the CLI and the pages show of them.
Store failures are ``StoreError``; an address nobody configured is ``UnknownSubscriber``; a
preferences form with bad values is ``PreferenceError`` (nothing stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from broadsheet.app import App
from digests.alert_deliver import AlertReport, Outbox, conditions
from digests.alert_deliver import run as run_alerts
from digests.alerts import Problem, problems
from digests.archive import restored
from digests.deliver import Log, deliver_due
from digests.deliver import preview as preview_digest
from digests.digest import Digest
from digests.links import Links
from digests.links import links as make_links
from digests.preferences import PreferenceError, Standing, effective, from_form
from digests.rank import Ranked, rank
from digests.render import fit, html_of, web_footer
from digests.report import DigestReport
from digests.schedule import next_run
from digests.settings import Subscriber
from ingest.errors import BroadsheetError
from ingest.poll import worker_name
from ingest.store import deliveries, editions
from ingest.store import subscribers as stored
from ingest.store.database import failures
from ingest.store.editions import EditionRow

__all__ = [
    "AlertReport",
    "EditionRow",
    "Explanation",
    "PreferenceError",
    "Problem",
    "SubscriberView",
    "UnknownSubscriber",
    "admin_tags",
    "alerts",
    "archive",
    "deliver",
    "edition",
    "effective_subscribers",
    "explain",
    "failing",
    "find",
    "links",
    "preview",
    "resubscribe",
    "set_preferences",
    "subscriber",
    "subscribers",
    "unsubscribe",
]

NOT_IN_CONFIG = "not in config"


class UnknownSubscriber(BroadsheetError):
    """No subscriber with this address in the config (nor, for some calls, in the store)."""


@dataclass(frozen=True)
class SubscriberView:
    """One subscriber as `broadsheet subscribers` and the pages show them."""

    email: str  # lower-cased: the ledger's name
    address: str  # as the config writes it
    name: str
    public_id: str
    state: str  # "active" | "paused" | "unsubscribed" | "not in config"
    hold: str  # why nothing is sent ('' when active)
    schedule: str
    timezone: str
    deliver: tuple[str, ...]  # () : made and kept in the web archive, not mailed
    tags: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    paused_until: datetime | None
    unsubscribed_at: datetime | None
    unsubscribed_via: str | None
    last_digest: datetime | None
    next_due: datetime | None  # the next scheduled digest (None when nothing will be sent)
    subscriber: Subscriber | None  # the effective one (None when not in the config)


def subscribers(app: App, now: datetime | None = None) -> list[SubscriberView]:
    """Everyone: the config's subscribers in its order, then those the config no longer lists."""
    moment = _now(now)
    with failures("reading the subscribers", "nothing was changed"):
        standings = {standing.email: standing for standing in stored.all(app.engine)}
        sent = deliveries.last_sent(app.engine, list(standings))
    views = [
        _view(person, standings.pop(person.key, None), sent.get(person.key), moment)
        for person in app.settings.subscribers
    ]
    views += [_view(None, s, sent.get(s.email), moment) for s in standings.values()]
    return views


def subscriber(app: App, email: str, now: datetime | None = None) -> SubscriberView:
    """One subscriber by address (any case); UnknownSubscriber when neither config nor store has them."""
    moment = _now(now)
    with failures("reading a subscriber", "nothing was changed"):
        standing = stored.get(app.engine, email)
    person = _configured(app).get(email.strip().lower())
    if standing is None and person is None:
        raise _unknown(app, email)
    return _with_ledger(app, person, standing, moment)


def find(app: App, public_id: str, now: datetime | None = None) -> SubscriberView | None:
    """The subscriber a link's ``public_id`` names, or None."""
    moment = _now(now)
    with failures("reading a subscriber", "nothing was changed"):
        standing = stored.by_public_id(app.engine, public_id)
    if standing is None:
        return None
    return _with_ledger(app, _configured(app).get(standing.email), standing, moment)


def unsubscribe(app: App, email: str, *, via: str, now: datetime | None = None) -> SubscriberView:
    """Stop every digest to ``email`` (``via``: one-click, web or command); harmless when repeated."""
    moment = _now(now)
    _known(app, email)
    with failures("unsubscribing a subscriber", "nothing was changed"):
        stored.unsubscribe(app.engine, email, via, moment)
    return subscriber(app, email, moment)


def resubscribe(app: App, email: str, now: datetime | None = None) -> SubscriberView:
    """Send digests to ``email`` again (only at the person's own request); harmless when repeated."""
    moment = _now(now)
    _known(app, email)
    with failures("subscribing a subscriber again", "nothing was changed"):
        stored.resubscribe(app.engine, email, moment)
    return subscriber(app, email, moment)


def set_preferences(
    app: App, email: str, fields: Sequence[tuple[str, str]], now: datetime | None = None
) -> SubscriberView:
    """Store the choices of a submitted preferences form; PreferenceError stores nothing."""
    moment = _now(now)
    person = _configured(app).get(email.strip().lower())
    if person is None:
        raise _unknown(app, email)
    standing = _known(app, email)
    chosen = from_form(fields, person, admin_tags(app), moment, current=standing.preferences)
    with failures("saving a subscriber's preferences", "nothing was changed"):
        stored.choose(app.engine, email, chosen, moment)
    return subscriber(app, email, moment)


def admin_tags(app: App) -> tuple[str, ...]:
    """The tags the config gives its feeds (each once, alphabetically): what people may choose."""
    seen: dict[str, str] = {}
    for feed in app.settings.feeds:
        for tag in feed.tags:
            seen.setdefault(tag.casefold(), tag)
    return tuple(sorted(seen.values(), key=str.casefold))


def preview(app: App, email: str, now: datetime | None = None) -> Digest:
    """What the subscriber's next digest would hold, up to now, with their choices; records nothing."""
    view = subscriber(app, email, now)
    if view.subscriber is None:
        raise _unknown(app, email)
    return preview_digest(app.engine, app.delivery, view.subscriber, _now(now))


@dataclass(frozen=True)
class Explanation:
    """A preview with the reasons for its order: every story best first, how it is shown, why."""

    digest: Digest  # as the e-mail shows it (the reading budget, then the size budget)
    stories: tuple[
        tuple[Ranked, str], ...
    ]  # best first; the form: FULL, HEADLINE, COUNTED, LEFT_OUT


FULL, HEADLINE, COUNTED, LEFT_OUT = "in full", "headline", "past the reading time", "left out"


def explain(app: App, email: str, now: datetime | None = None) -> Explanation:
    """The subscriber's next digest (as ``preview``) with each story's score and reasons."""
    built = preview(app, email, now)
    shown = fit(built, app.settings.digests)
    ranked = rank(built.stories, built.subscriber, built.window, app.delivery.weights)
    forms = {
        id(item): form
        for items, form in (
            (shown.items, FULL),
            (shown.brief, HEADLINE),
            (shown.counted, COUNTED),
            (shown.unlisted, LEFT_OUT),
        )
        for item in items
    }
    return Explanation(shown, tuple((r, forms.get(id(r.item), LEFT_OUT)) for r in ranked))


def archive(app: App, email: str) -> list[EditionRow]:
    """The subscriber's past editions (digests made for them), newest first."""
    with failures("reading the archive", "nothing was changed"):
        return editions.editions(app.engine, email.strip().lower())


def edition(app: App, email: str, delivery_id: int) -> str | None:
    """One past edition as HTML, with exactly the stories it was sent with; None if not theirs."""
    view = subscriber(app, email)
    person = view.subscriber or Subscriber(view.address, "daily 07:00", "0 7 * * *")
    with failures("reading an edition", "nothing was changed"):
        digest = restored(app.engine, app.settings.digests, person, delivery_id)
    # Rendered as it stands: the record is of the digest after the e-mail's size fitting, and
    # fitting it again could show as full a story that went out as a headline.
    footer = web_footer(links(app, email), delivery_id)
    return None if digest is None else html_of(digest, app.settings.digests, footer)


def effective_subscribers(app: App, now: datetime | None = None) -> tuple[Subscriber, ...]:
    """The config's subscribers with their choices applied and ``hold`` set: what delivery uses."""
    moment = _now(now)
    with failures("reading the subscribers", "nothing was changed"):
        standings = {standing.email: standing for standing in stored.all(app.engine)}
    return tuple(
        effective(person, standings.get(person.key), moment) for person in app.settings.subscribers
    )


def deliver(
    app: App,
    *,
    subscribers: Sequence[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    log: Log | None = None,
    now: datetime | None = None,
    owner: str | None = None,
) -> DigestReport:
    """Deliver every digest due (only these addresses' with ``subscribers``; all now with ``force``).

    Held subscribers (unsubscribed, paused) get nothing: their due windows are recorded as
    skipped with the reason. ``owner`` names this process in the ledger's claims.
    """
    chosen = effective_subscribers(app, now)
    if subscribers is not None:
        for email in subscribers:
            if email.strip().lower() not in {person.key for person in chosen}:
                raise _unknown(app, email)
        wanted = {email.strip().lower() for email in subscribers}
        chosen = tuple(person for person in chosen if person.key in wanted)
    return deliver_due(
        app.engine,
        app.delivery,
        chosen,
        (lambda: now) if now is not None else (lambda: datetime.now(UTC)),
        owner=owner or worker_name(),
        force=force,
        dry_run=dry_run,
        log=log,
    )


def alerts(
    app: App, *, dry_run: bool = False, now: datetime | None = None, owner: str | None = None
) -> AlertReport:
    """Mail [alerts] email the alerts due about failing and quiet feeds (``dry_run``: only say which).

    Each alert goes to each address once; a failed send is retried by the next run. Without
    [alerts] email nothing is decided or sent.
    """
    settings = app.settings
    outbox = Outbox(settings.alerts, settings.smtp, settings.digests)
    return run_alerts(
        app.engine, outbox, owner=owner or worker_name(), now=_now(now), dry_run=dry_run
    )


def failing(app: App, now: datetime | None = None) -> list[Problem]:
    """The feeds failing for longer than [alerts] after, and those quiet for longer than quiet."""
    return problems(conditions(app.engine), app.settings.alerts, _now(now))


def links(app: App, email: str) -> Links | None:
    """The subscriber's signed web links; None without a [web] base_url."""
    web = app.settings.web
    if not web.enabled:
        return None
    standing = _known(app, email)
    return make_links(web.base_url, web.secret, standing.public_id)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _configured(app: App) -> dict[str, Subscriber]:
    return {person.key: person for person in app.settings.subscribers}


def _known(app: App, email: str) -> Standing:
    with failures("reading a subscriber", "nothing was changed"):
        standing = stored.get(app.engine, email)
    if standing is None:
        raise _unknown(app, email)
    return standing


def _unknown(app: App, email: str) -> UnknownSubscriber:
    known = ", ".join(person.email for person in app.settings.subscribers) or "none"
    return UnknownSubscriber(f"no subscriber {email} in {app.settings.path} (configured: {known})")


def _with_ledger(
    app: App, person: Subscriber | None, standing: Standing | None, now: datetime
) -> SubscriberView:
    key = person.key if person is not None else standing.email if standing else ""
    with failures("reading the ledger", "nothing was changed"):
        sent = deliveries.last_sent(app.engine, [key]).get(key)
    return _view(person, standing, sent, now)


def _view(
    person: Subscriber | None, standing: Standing | None, sent: datetime | None, now: datetime
) -> SubscriberView:
    """What is shown of one subscriber: the effective settings, state and next digest."""
    if person is None:
        assert standing is not None, "a subscriber is in the config, the store or both"
        return _removed(standing, sent)
    found = effective(person, standing, now)
    unsubscribed = standing is not None and standing.state != "active"
    paused = standing.preferences.paused_until if standing is not None else None
    paused = paused if paused is not None and paused > now and not unsubscribed else None
    state = "unsubscribed" if unsubscribed else "paused" if found.hold else "active"
    due = None
    if not unsubscribed:
        due = next_run(found.cron, found.timezone, paused - timedelta(seconds=1) if paused else now)
    return SubscriberView(
        email=found.key,
        address=found.email,
        name=found.name,
        public_id=found.public_id,
        state=state,
        hold=found.hold,
        schedule=found.schedule,
        timezone=found.timezone,
        deliver=found.deliver,
        tags=found.tags,
        include=found.include,
        exclude=found.exclude,
        paused_until=paused,
        unsubscribed_at=standing.unsubscribed_at if standing is not None else None,
        unsubscribed_via=standing.unsubscribed_via if standing is not None else None,
        last_digest=sent,
        next_due=due,
        subscriber=found,
    )


def _removed(standing: Standing, sent: datetime | None) -> SubscriberView:
    """Someone the config no longer lists: their row and history are kept; nothing is sent."""
    chosen = standing.preferences
    return SubscriberView(
        email=standing.email,
        address=standing.address,
        name="",
        public_id=standing.public_id,
        state=NOT_IN_CONFIG,
        hold="not in the config any more",
        schedule=chosen.schedule or "",
        timezone=chosen.timezone or "",
        deliver=(),
        tags=chosen.tags or (),
        include=chosen.include or (),
        exclude=chosen.exclude or (),
        paused_until=None,
        unsubscribed_at=standing.unsubscribed_at,
        unsubscribed_via=standing.unsubscribed_via,
        last_digest=sent,
        next_due=None,
        subscriber=None,
    )
