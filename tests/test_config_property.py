"""`check` is the gate: a config it accepts must run.

Hypothesis writes configs that mix valid values with hostile ones (wrong types, control
characters and line breaks, huge numbers and durations, hosts missing from URLs, regexes that
need backtracking) for every key. Each config is written as TOML and loaded as `broadsheet
check` loads it: either that refuses it with ConfigError, or a dry run of the digests, the
preview renderings and the building of every subscriber's email (serialised to bytes, as SMTP
would send it) all succeed over a store with entries in it, raising nothing but our own errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys import OPENSSL, private_key
from sqlalchemy import Engine

from broadsheet import config
from digests import mail
from digests.alert_deliver import conditions
from digests.alert_render import render
from digests.alerts import due
from digests.deliver import Delivery, compose, deliver_due, due_windows, message_id
from digests.render import render_html, render_markdown, render_text, subject
from ingest.errors import ConfigError, DeliveryError
from ingest.models import Entry, FeedSpec
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import open_store

NOW = datetime(2025, 6, 2, 6, 30, tzinfo=UTC)
FEEDS = [
    FeedSpec("https://wire.example/feed", "Northwind Wire", ("world",)),
    FeedSpec("https://harbor.example/atom", "Harbor\u2028Times\r\n", ("local", "world")),
]
TITLES = [
    "Calm news about the harbour",
    "a" * 40,
    "Line\r\nbreak\u2028and \x00 control",
    "Ünïcödé — “quotes” and ’apostrophes’ 日本語",
    "x" * 3000,
    "",
]

# Characters that break headers or files: controls, line and paragraph separators, others.
BREAKING = st.sampled_from(
    ["\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\t", "\ufeff"]
)
ODD_TEXT = st.text(max_size=30)  # any Unicode, controls included
HUGE_NUMBERS = st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63), 10**30]) | st.floats()
HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "99999999999999999999d",
        "3651d",
        "1e400s",
        "-5m",
        "0s",
        "99999999999999999999GB",
        "http://",
        "http://:80/x",
        "https://exa mple.org/",
        "http://h:99999/",
        "/(a+)+$/",
        "/(?<!x)y/",
        "/(a)\\1/",
        "/[/",
        "a,b@example.org",
        "jörg@example.de",
        "<a@example.org>",
        "Ann, Bob <a@example.org>",
        '"Ann" <a@example.org',
        "a" * 5000,
        "../../etc/passwd",
        "Mars/Olympus",
        "* * * * *",
        "61 25 * * *",
    ]
)


def hostile() -> st.SearchStrategy[Any]:
    """A value no key should have, or one that only looks right."""
    return st.one_of(
        HOSTILE_STRINGS,
        ODD_TEXT,
        HUGE_NUMBERS,
        st.booleans(),
        st.lists(ODD_TEXT | HOSTILE_STRINGS, max_size=3),
        st.dictionaries(st.sampled_from(["a", "url"]), st.integers(), max_size=2),
    )


def spoiled(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid string with a breaking character put somewhere in it."""
    return st.builds(
        lambda text, bad, at: text[:at] + bad + text[at:], valid, BREAKING, st.integers(0, 40)
    )


def key(valid: st.SearchStrategy[Any], *, text: bool = False) -> st.SearchStrategy[Any]:
    """Mostly a valid value; one time in twenty something hostile, one in twenty spoiled text.

    Hostile values are rare per key so that, with some forty keys, a good share of configs
    passes `check` and goes on to the digests.
    """
    odd = spoiled(valid) if text else hostile()
    return st.sampled_from(["valid"] * 18 + ["hostile", "odd"]).flatmap(
        lambda roll: {"valid": valid, "hostile": hostile(), "odd": odd}[roll]
    )


def text_key(*values: str) -> st.SearchStrategy[Any]:
    """A key whose valid values are ``values``."""
    return key(st.sampled_from(values), text=True)


DKIM_VARIABLE = "TEST_PROPERTY_DKIM_KEY"  # holds a key made by openssl (the ``dkim_key`` fixture)
DURATION = text_key("20s", "30m", "1h", "1d", "2w", "3650d", "0.5s", "1ms")
SIZE = text_key("512KB", "10MB", "1GiB", "2048")
ADDRESS = text_key(
    "The Desk <desk@example.org>",
    "desk@example.org",
    "Ünïcode Désk <desk@example.org>",
    '"Quoted, Name" <desk@example.org>',
)
EMAIL = key(
    st.sampled_from(["ann@example.org", "Bob.Smith+news@example.co.uk"])
    | st.integers(0, 10**6).map(lambda n: f"reader{n}@example.org"),
    text=True,
)


def _email(item: Any) -> str:
    return str(item.get("email", "")).strip().lower() if isinstance(item, dict) else repr(item)


def _url(item: Any) -> str:
    return str(item.get("url", "")).strip() if isinstance(item, dict) else repr(item)


def table(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A table where each key is present or absent."""
    return st.fixed_dictionaries({}, optional=keys)


POLL = table(
    interval=DURATION,
    concurrency=key(st.integers(1, 64)),
    per_host=key(st.integers(1, 8)),
    connect_timeout=DURATION,
    read_timeout=DURATION,
    timeout=DURATION,
    max_bytes=SIZE,
    max_article_bytes=SIZE,
    article_timeout=DURATION,
    max_redirects=key(st.integers(0, 20)),
    user_agent=text_key("Broadsheet/1.0 (+https://example.org)"),
    max_backoff=DURATION,
    max_cache_interval=DURATION,
    workers=key(st.integers(0, 4)),
    lease=DURATION,
)
FEED = st.fixed_dictionaries(
    {"url": text_key(*(f.url for f in FEEDS), "https://example.org/rss?page=2")},
    optional={
        "title": text_key("Wire", "Ünïcode title"),
        "tags": key(st.lists(text_key("world", "local", "Tech"), max_size=3)),
        "interval": DURATION,
        "enabled": key(st.booleans()),
        "weight": key(st.floats(0, 10, exclude_min=True) | st.integers(1, 10)),
        "full_text": key(st.booleans()),
    },
)
SMTP_KEYS = {
    "host": text_key("127.0.0.1", "mail.example.org"),
    "port": key(st.integers(1, 65535)),
    "security": text_key("starttls", "ssl", "none"),
    "username": text_key("ann", ""),
    "password_env": text_key("BROADSHEET_SMTP_PASSWORD"),
    "from": ADDRESS,
    "reply_to": ADDRESS,
    "timeout": DURATION,
}
DKIM_KEYS = {
    "dkim_domain": text_key("example.org", "news.example.org"),
    "dkim_selector": text_key("2026", "mail"),
    "dkim_key_env": text_key(DKIM_VARIABLE),
}
# Half the [smtp] tables sign with DKIM (all three keys), the others have any of its keys.
SMTP = table(**SMTP_KEYS, **DKIM_KEYS) | st.fixed_dictionaries(DKIM_KEYS, optional=SMTP_KEYS)
DIGESTS = table(
    title=text_key("The Broadsheet", "Ünïcode — “Morning” News", "x" * 300),
    output_dir=text_key("out", "digests/out"),
    send_empty=key(st.booleans()),
    templates=text_key("templates", "."),
    excerpt_length=key(st.integers(0, 10**6)),
    list_id=text_key("news.example.org", "digest.broadsheet.invalid", "a-b_c.d"),
    unsubscribe=ADDRESS,
    retry_base=DURATION,
    retry_max=DURATION,
)
RULES = st.lists(
    text_key("harbour", "/(a+)+$/", "/calm|news/", "/\\pL+/", "rival’s", "/^$/", "/.*/"),
    max_size=3,
)
SUBSCRIBER = st.fixed_dictionaries(
    {"email": EMAIL},
    optional={
        "name": text_key("Ann Example", "Ünïcode Näme", 'O\'Brien, "Bob"', "x" * 200),
        "tags": key(st.lists(text_key("world", "LOCAL", "none"), max_size=2)),
        "feeds": key(st.lists(text_key(*(f.url for f in FEEDS)), max_size=2)),
        "schedule": text_key("daily 07:00", "weekly mon 06:00", "0 */4 * * *", "* * * * *"),
        "timezone": text_key("UTC", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12"),
        "deliver": key(st.lists(text_key("email", "markdown"), min_size=1, max_size=2)),
        "max_per_feed": key(st.integers(1, 10**9)),
        "max_items": key(st.integers(1, 10**9)),
        "include": key(RULES),
        "exclude": key(RULES),
        "budget": text_key("15m", "1m", "24h", "90s"),
        "boost": key(RULES),
        "order": text_key("ranked", "by_tag"),
        "full_text": key(st.booleans()),
    },
)
ALERTS = table(
    email=key(st.lists(EMAIL, max_size=3)) | EMAIL,
    after=DURATION,
    quiet=DURATION,
)
CONFIG = st.fixed_dictionaries(
    {"subscribers": key(st.lists(key(SUBSCRIBER), min_size=1, max_size=3, unique_by=_email))},
    optional={
        "poll": key(POLL),
        "feeds": key(st.lists(key(FEED), max_size=3, unique_by=_url)),
        "smtp": key(SMTP),
        "alerts": key(ALERTS),
        "digests": key(DIGESTS),
        "worker": key(
            table(
                poll_every=DURATION,
                shutdown_timeout=DURATION,
                log_format=text_key("text", "json"),
                healthy_within=DURATION,
            )
        ),
    },
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A store with entries from two feeds, first seen in the hour before NOW."""
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'broadsheet.db'}")
    stored_feeds.sync(engine, FEEDS, NOW - timedelta(days=1))
    for number, title in enumerate(TITLES):
        spec = FEEDS[number % len(FEEDS)]
        feed = stored_feeds.get(engine, spec.url)
        assert feed is not None
        seen = NOW - timedelta(minutes=5 + number)
        entry = Entry(
            identity=f"id-{number}",
            title=title,
            link=f"https://site.example/{number}?utm_source=x",
            authors=("Mara Velden", "\u2028"),
            published=seen - timedelta(minutes=5),
            excerpt=f"The lead of {title}.",
            content_hash=f"h{number}",
            summary_html="<p>Summary</p>",
        )
        with engine.begin() as conn:
            stored_entries.upsert(conn, feed.id, [entry], seen)
    return engine


@pytest.fixture(scope="module", autouse=True)
def dkim_key() -> Iterator[None]:
    """A DKIM key in the environment, for configs that name it: they sign what they send.

    Without openssl there is no key, and configs naming the variable are refused instead.
    """
    if OPENSSL:
        os.environ[DKIM_VARIABLE] = private_key("rsa")
    yield
    os.environ.pop(DKIM_VARIABLE, None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config")
    (path / "templates").mkdir()
    (path / "templates" / "digest.txt").write_text("{{ digest.title }} {{ nothing.here }}\n")
    return path


def accepted(raw: dict[str, Any], folder: Path) -> config.Settings | None:
    """The settings `check` would accept from ``raw`` written as TOML, or None when refused."""
    path = folder / "broadsheet.toml"
    path.write_text(tomlkit.dumps(raw), encoding="utf-8")
    try:
        return config.load(path)
    except ConfigError:
        return None


def run_digests(settings: config.Settings, engine: Engine) -> None:
    """The dry run, the previews and the email of every subscriber, as the commands do them;
    then the alerts, as if every feed had failed for a year."""
    weights = {feed.url: feed.weight for feed in settings.feeds}
    delivery = Delivery(settings.smtp, settings.digests, weights=weights)
    deliver_due(
        engine,
        delivery,
        settings.subscribers,
        lambda: NOW,
        owner="hypothesis",
        force=True,
        dry_run=True,
    )
    for subscriber in settings.subscribers:
        ((_, window),) = due_windows(engine, [subscriber], NOW, force=True)
        try:
            digest = compose(engine, delivery, subscriber, window)
            html = render_html(digest, settings.digests)
            text = render_text(digest, settings.digests)
            render_markdown(digest, settings.digests)
        except DeliveryError:
            continue  # reported to the admin as a failed delivery (a broken custom template)
        letter = mail.Letter(
            to_email=subscriber.email,
            to_name=subscriber.name,
            subject=subject(digest),
            text=text,
            html=html,
            message_id=message_id(subscriber.key, window.start, delivery.domain),
            date=NOW,
            list_id=settings.digests.list_id,
            unsubscribe=(delivery.unsubscribe,),
        )
        message = mail.build(letter, settings.smtp)
        assert b"\r\n\r\n" in mail.wire(message, settings.smtp)  # signed when DKIM is on
        for name in ("From", "To", "Subject", "List-Id", "List-Unsubscribe", "Reply-To"):
            for value in message.get_all(name, []):
                assert "\n" not in str(value) and "\r" not in str(value), (name, value)
    feeds = [
        replace(feed, failing_since=NOW - timedelta(days=365), error="HTTP 500")
        for feed in conditions(engine)
    ]
    for alerts in due(feeds, [], settings.alerts, NOW).values():
        try:
            render(alerts, NOW, settings.digests)
        except DeliveryError:
            continue  # a broken custom template: the run reports it, the alerts wait


@pytest.mark.timeout(600)
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=CONFIG)
def test_a_config_check_accepts_always_runs(
    raw: dict[str, Any], store: Engine, folder: Path
) -> None:
    settings_ = accepted(raw, folder)
    if settings_ is not None:
        run_digests(settings_, store)
