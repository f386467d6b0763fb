"""The web archive: each sent digest kept as it went out, shown with exactly its stories.

A digest too big for the e-mail's size budget goes out with its first stories in full, the next
ones as headlines and the rest counted (``render.fit``); the archive's copy shows the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from processes import cli, daily_schedule, write_config
from smtp import SmtpServer
from sqlalchemy import delete

from broadsheet import api
from broadsheet.app import App
from digests.edition import entry_ids, record, restore
from digests.models import Window
from digests.settings import DigestSettings
from ingest.models import Entry
from ingest.store import editions
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.schema import delivery_entries, entries

FEEDS = [f"https://feed{n}.example/rss" for n in range(3)]
ANN = "ann@example.org"
MANY = 300  # stories: far past what the e-mail's budget shows


def words(rng: random.Random, count: int) -> str:
    """Made-up words, so that no two stories look alike to clustering."""
    return " ".join(
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        for _ in range(count)
    )


def opened_with(
    tmp_path: Path, store_url: str, smtp_server: SmtpServer, subscribers: list[dict[str, Any]]
) -> App:
    """The store opened with a config of ``FEEDS`` and ``subscribers``, mailing to the server."""
    path = write_config(
        tmp_path / "broadsheet.toml",
        FEEDS,
        subscribers,
        storage={"url": store_url},
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        digests={"output_dir": "out"},
    )
    return App.open(path)


@pytest.fixture
def opened(tmp_path: Path, store_url: str, smtp_server: SmtpServer) -> Iterator[App]:
    ann = {"email": ANN, "schedule": daily_schedule(), "max_per_feed": MANY, "max_items": MANY}
    application = opened_with(tmp_path, store_url, smtp_server, [ann])
    yield application
    application.close()


def store_many(app: App, count: int) -> None:
    rng = random.Random(11)
    seen = datetime.now(UTC) - timedelta(hours=1)
    for n in range(count):
        feed = stored_feeds.get(app.engine, FEEDS[n % len(FEEDS)])
        assert feed is not None
        entry = Entry(
            identity=f"s{n}",
            title=f"{words(rng, 8).capitalize()} ({n})",
            link=f"https://stories.example/{words(rng, 6).replace(' ', '-')}-{n}",
            published=seen - timedelta(minutes=n),
            excerpt=words(rng, 60),
            content_hash=f"s{n}",
        )
        with app.engine.begin() as conn:
            stored_entries.upsert(conn, feed.id, [entry], seen)


def shown(html: str) -> tuple[list[str], list[str], str]:
    """The stories in full, the headlines (by link) and the "N more stories" note of a page."""
    soup = BeautifulSoup(html, "html.parser")
    full = [a["href"] for a in soup.select(".title a")]
    brief = [a["href"] for a in soup.select(".brief a")]
    notes = [n.get_text(" ", strip=True) for n in soup.select(".note")]
    return full, brief, " ".join(n for n in notes if "more stor" in n)


def test_the_archive_shows_exactly_the_stories_the_email_carried(
    opened: App, smtp_server: SmtpServer
) -> None:
    store_many(opened, MANY)
    code, out, err = cli(opened.settings.path, "digest", "--now")
    assert code == 0, out + err
    (message,) = smtp_server.messages
    mailed = shown(str(message.get_body(("html",)).get_content()))  # type: ignore[union-attr]
    full, brief, note = mailed
    assert full and brief and note.startswith(f"{MANY - len(full) - len(brief)} more stories")

    (listed,) = api.archive(opened, ANN)
    assert (listed.entries, listed.channels) == (MANY, ("email",))
    page = api.edition(opened, ANN, listed.id)
    assert page is not None and shown(page) == mailed
    # The ledger knows every story the digest counted, in reading order.
    carried = editions.carrying(opened.engine, listed.id)
    assert len(carried) == MANY and len(set(carried)) == MANY

    assert api.edition(opened, ANN, listed.id + 1000) is None
    with opened.engine.begin() as conn:  # a story's feed was dropped since
        gone = conn.execute(entries.select().where(entries.c.id == carried[0])).one()
        conn.execute(delete(entries).where(entries.c.id == gone.id))
    page = api.edition(opened, ANN, listed.id)
    assert page is not None and gone.link not in page
    assert shown(page)[0] == [link for link in full if link != gone.link]
    with opened.engine.connect() as conn:
        left = conn.execute(
            delivery_entries.select().where(delivery_entries.c.entry_id == gone.id)
        ).all()
    assert left == []


def test_an_edition_is_only_its_subscribers(
    tmp_path: Path, store_url: str, smtp_server: SmtpServer
) -> None:
    application = opened_with(
        tmp_path,
        store_url,
        smtp_server,
        [{"email": ANN, "schedule": daily_schedule()}, {"email": "bo@example.org"}],
    )
    try:
        store_many(application, 4)
        assert api.deliver(application, force=True).sent == 2
        (ann,) = api.archive(application, ANN)
        (bo,) = api.archive(application, "bo@example.org")
        assert api.edition(application, ANN, bo.id) is None
        assert api.edition(application, "bo@example.org", bo.id) is not None
        with pytest.raises(api.UnknownSubscriber):
            api.edition(application, "cy@example.org", ann.id)
    finally:
        application.close()


def test_a_record_restores_the_same_digest_without_deleted_entries() -> None:
    from test_render_size import digest_of

    from digests.render import fit
    from digests.settings import DigestSettings

    digest = fit(digest_of(300), DigestSettings())
    data = record(digest)
    ids = entry_ids(digest)
    assert ids == entry_ids(data) and len(ids) == 300
    by_id = {e.id: e for item in digest.stories for e in (item.entry, *item.also)}
    again = restore(data, by_id, digest.subscriber, digest.window, digest.title)
    assert again == digest
    first = digest.items[0].entry.id
    fewer = restore(
        data, {k: v for k, v in by_id.items() if k != first}, digest.subscriber, digest.window, "T"
    )
    assert fewer.story_count == 299 and first not in entry_ids(fewer)
    assert isinstance(fewer.window, Window)


def page_of(html: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """A page's index (its titles), stories in full, headlines and notes, in page order."""
    soup = BeautifulSoup(html, "html.parser")
    index = [a.get_text() for a in soup.select(".contents a")]
    full = [a["href"] for a in soup.select(".title a")]
    brief = [a["href"] for a in soup.select(".brief a")]
    notes = [n.get_text(" ", strip=True) for n in soup.select(".note")]
    return index, full, brief, notes


@pytest.mark.parametrize("order", ["ranked", "by_tag"])
def test_an_edition_keeps_its_order_index_and_reading_budget(
    tmp_path: Path, store_url: str, smtp_server: SmtpServer, order: str
) -> None:
    ann = {
        "email": ANN,
        "schedule": daily_schedule(),
        "max_per_feed": 40,
        "max_items": 100,
        "budget": "5m",  # 1,150 words: 19 stories of 60 words
        "boost": ["/\\(7\\)/"],
        "order": order,
    }
    application = opened_with(tmp_path, store_url, smtp_server, [ann])
    try:
        store_many(application, 100)
        assert api.deliver(application, force=True).sent == 1
        (message,) = smtp_server.messages
        mailed = page_of(str(message.get_body(("html",)).get_content()))  # type: ignore[union-attr]
        index, full, brief, notes = mailed
        assert len(index) == 8 and len(full) == 19 and len(brief) == 10
        assert "71 more stories left out to keep to your reading time." in notes
        assert index[0].endswith("(7)")  # the boosted story leads
        (listed,) = api.archive(application, ANN)
        assert listed.entries == 100
        page = api.edition(application, ANN, listed.id)
        assert page is not None and page_of(page) == mailed
    finally:
        application.close()


def test_a_record_made_before_ranking_restores_as_it_was_sent() -> None:
    from test_render import golden_digest

    from digests.render import render_html

    digest = golden_digest(order="by_tag")
    old = {k: v for k, v in record(digest).items() if k not in ("order", "ranking", "counted")}
    old["version"] = 1
    by_id = {e.id: e for item in digest.stories for e in (item.entry, *item.also)}
    again = restore(old, by_id, digest.subscriber, digest.window, digest.title)
    assert (again.order, again.ranking, again.counted, again.index) == ("by_tag", (), (), ())
    assert again.groups == digest.groups and entry_ids(old) == entry_ids(digest)
    assert "In this edition" not in render_html(again, DigestSettings())
    assert "In this edition" in render_html(digest, DigestSettings())
