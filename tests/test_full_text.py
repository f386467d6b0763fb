"""Feeds read in full: article pages fetched beside the round, extracted, stored, shown.

The pages are served by tests/server.py: a news-shaped story page (tests/data/full_text, with a
cookie banner, navigation, related links and comments around the story), a 404, a 20 MB page,
a page that is only JavaScript, a PDF, a page with less to say than the feed, and pages that
answer slowly.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from alembic import command
from processes import cli, start, wait_for, write_config
from server import FeedServer, Handler, Reply, Request
from sqlalchemy import Engine, create_engine, func, inspect, select
from sqlalchemy.exc import OperationalError

from ingest import full_text
from ingest.errors import FetchError, HostNotFound, TooLarge
from ingest.models import Article, ArticleOutcome, Entry, FeedSpec, PendingArticle
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store import full_text as stored_articles
from ingest.store.database import _alembic_config, upgrade
from ingest.store.schema import entries

PAGE = (Path(__file__).parent / "data" / "full_text" / "ferry-timetable.html").read_bytes()
HTML = "text/html; charset=utf-8"
STORY = "Board chair Wendell Akinyemi said the late crossings"
FURNITURE = ("cookies", "Most read", "About time", "Subscribe from", "Share this story")
JS_ONLY = (
    b"<!DOCTYPE html><html><head><title>Loading</title></head><body><div id='root'></div>"
    b"<script src='/bundle.js'></script><script>window.__STATE__={\"story\":42};"
    b"document.getElementById('root').innerHTML='<p>'+'x'.repeat(5000)+'</p>';</script>"
    b"<noscript>Please enable JavaScript.</noscript></body></html>"
)
THIN = b"<html><body><article><p>Ferries: see the timetable.</p></article></body></html>"
SUMMARY = "A late ferry returns to the estuary from next month."


def rss(items: Sequence[tuple[str, str]]) -> bytes:
    """An RSS feed of (title, link) items published an hour ago, each with a one-line summary."""
    when = formatdate((datetime.now(UTC) - timedelta(hours=1)).timestamp(), usegmt=True)
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<guid>{escape(link)}</guid><pubDate>{when}</pubDate>"
        f"<description>{SUMMARY}</description></item>"
        for title, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Lowmoor Courier</title><link>http://courier.example/</link>{body}"
        "</channel></rss>"
    ).encode()


def config(
    tmp_path: Path,
    read_in_full: Sequence[str],
    others: Sequence[str] = (),
    subscribers: Sequence[Mapping[str, Any]] = (),
    **tables: Mapping[str, Any],
) -> Path:
    """A config with feeds read in full (``full_text = true``) first, then feeds that are not."""
    path = write_config(tmp_path / "broadsheet.toml", [], subscribers, **tables)
    lines = [f'[[feeds]]\nurl = "{url}"\nfull_text = true\n' for url in read_in_full]
    lines += [f'[[feeds]]\nurl = "{url}"\n' for url in others]
    path.write_text(path.read_text() + "".join(lines), encoding="utf-8")
    return path


def poll(path: Path, *args: str) -> dict[str, Any]:
    status, out, err = cli(path, "poll", *args, "--json")
    assert status == 0, err
    return json.loads(out)


def feeds_json(path: Path) -> list[dict[str, Any]]:
    status, out, err = cli(path, "feeds", "--json")
    assert status == 0, err
    return json.loads(out)


def stored(store: str) -> dict[str, Any]:
    """The stored entries by link (a fresh engine each time: another process writes them)."""
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).exists():
        return {}  # not yet made by the process that polls (and not to be made here)
    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            return {row.link: row for row in conn.execute(select(entries))}
    except OperationalError:  # the other process has not made the tables yet
        return {}
    finally:
        engine.dispose()


def sqlite_store(tmp_path: Path) -> dict[str, str]:
    return {"url": f"sqlite:///{tmp_path / 'broadsheet.db'}"}


def test_a_feed_read_in_full_stores_the_story_without_the_page_furniture(
    store_url: str, tmp_path: Path, feed_server: FeedServer
) -> None:
    story = feed_server.route("/news/ferry", body=PAGE, content_type=HTML)
    feed = feed_server.route("/courier.rss", body=rss([("Night ferries return", story)]))
    path = config(tmp_path, [feed], storage={"url": store_url})
    report = poll(path)
    assert (report["new_entries"], report["articles_extracted"]) == (1, 1)
    row = stored(store_url)[story]
    assert row.full_text_status == "ok" and STORY in row.full_text
    assert not any(furniture in row.full_text for furniture in FURNITURE)
    assert "\n\nThe estuary board approved" in row.full_text  # paragraphs kept apart
    assert "<p>" in row.full_text_html and "<script" not in row.full_text_html
    assert "http://127.0.0.1" in row.full_text_html  # relative links made absolute
    assert row.excerpt == SUMMARY  # the feed's own summary is kept as it was
    (health,) = feeds_json(path)
    assert (health["full_text"], health["full_text_ok"], health["full_text_tried"]) == (True, 1, 1)
    assert (health["full_text_pending"], health["full_text_fallbacks"]) == (0, {})

    # The page changing is not a new version of the entry; it is not fetched again either.
    feed_server.route("/news/ferry", body=PAGE.replace(b"seven votes", b"eight votes"))
    again = poll(path, "--all")
    assert (again["new_entries"], again["updated_entries"], again["articles_extracted"]) == (
        0,
        0,
        0,
    )
    assert stored(store_url)[story].content_hash == row.content_hash
    assert feed_server.hits("/news/ferry") == 1


def counting(body: bytes, chunk: int = 64 * 1024) -> tuple[Handler, list[int]]:
    """A chunked HTML body (no Content-Length), and how many bytes of it were handed out."""
    served = [0]

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(body), chunk):
            served[0] += chunk
            yield body[at : at + chunk]

    return lambda request: Reply(200, {"Content-Type": HTML}, chunks()), served


def test_pages_without_a_story_fall_back_to_the_summary_with_the_reason(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # 64 MB, so that "not read to its end" holds whatever the loopback socket buffers take in
    # before the connection is dropped (they grow to several MB on each side).
    huge = b"<html><body>" + b"<p>filler text for a huge page</p>" * (64 * 1024**2 // 34)
    streamed, served = counting(huge)
    pages = {
        "/gone": feed_server.route("/gone", body=b"no such story", status=404),
        "/huge": feed_server.route("/huge", streamed),
        "/huge-declared": feed_server.route("/huge-declared", body=huge, content_type=HTML),
        "/app": feed_server.route("/app", body=JS_ONLY, content_type=HTML),
        "/thin": feed_server.route("/thin", body=THIN, content_type=HTML),
        "/report.pdf": feed_server.route(
            "/report.pdf", body=b"%PDF-1.7", content_type="application/pdf"
        ),
    }
    feed = feed_server.route("/courier.rss", body=rss([(p, url) for p, url in pages.items()]))
    plain = feed_server.route("/plain.rss", body=rss([("Not read in full", feed_server.url("/x"))]))
    path = config(tmp_path, [feed], [plain], storage=sqlite_store(tmp_path))
    report = poll(path)
    assert (report["articles_extracted"], report["articles_fell_back"]) == (0, 6)
    rows = stored(sqlite_store(tmp_path)["url"])
    assert {path: rows[url].full_text_status for path, url in pages.items()} == {
        "/gone": "404",
        "/huge": "too large",
        "/huge-declared": "too large",
        "/app": "no article found",
        "/thin": "shorter than the summary",
        "/report.pdf": "not HTML",
    }
    assert all(rows[url].full_text is None for url in pages.values())
    assert served[0] < len(huge) // 2  # refused at the limit (5 MB), not read to its end
    assert feed_server.hits("/x") == 0  # a feed not read in full: no article fetched
    assert rows[feed_server.url("/x")].full_text_status is None
    health = {row["url"]: row for row in feeds_json(path)}
    assert health[feed]["full_text_fallbacks"] == {
        "404": 1,
        "too large": 2,
        "no article found": 1,
        "shorter than the summary": 1,
        "not HTML": 1,
    }
    assert (health[feed]["full_text_ok"], health[feed]["full_text_tried"]) == (0, 6)
    assert not health[plain]["full_text"] and health[plain]["full_text_tried"] == 0
    status, out, _ = cli(path, "feeds")
    assert status == 0
    flat = " ".join(out.split())
    assert "full text" in flat and "0/6" in flat and "too large ×2" in flat


def gate() -> tuple[Handler, threading.Event]:
    """The story page, answered only once the returned event is set (or the server stops)."""
    opened = threading.Event()

    def handle(request: Request) -> Reply:
        while not (opened.wait(0.05) or request.stopping.is_set()):
            pass
        return Reply(200, {"Content-Type": HTML}, PAGE)

    return handle, opened


def test_a_slow_article_page_holds_up_only_its_own_entry(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    handler, opened = gate()
    slow = feed_server.route("/news/slow", handler).replace("127.0.0.1", "localhost")
    fast = feed_server.route("/news/fast", body=PAGE, content_type=HTML)
    feed = feed_server.route("/courier.rss", body=rss([("Slow", slow), ("Fast", fast)]))
    # More feeds than a round claims at once (16 at this concurrency): a second batch.
    others = [f"{feed_server.gen_url(n)}?items=1" for n in range(19)]
    store = sqlite_store(tmp_path)
    limits = {"article_timeout": "10m", "read_timeout": "10m", "concurrency": 4}
    path = config(tmp_path, [feed], others, storage=store, poll=limits)
    process = start(path, "poll", "--json")
    try:
        # While the slow page has not answered, everything else of the round is stored.
        rows = wait_for(
            lambda: (
                (found := stored(store["url"]))
                and len(found) == 2 + 19
                and found[fast].full_text_status == "ok"
                and found
            ),
            "the round's other feeds and articles",
        )
        assert (rows[slow].full_text_status, rows[slow].full_text_tries) == ("pending", 0)
        assert process.poll() is None  # the slow page is still being waited for
        assert feed_server.hits("/news/slow") == 1
    finally:
        opened.set()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert json.loads(out)["articles_extracted"] == 2
    assert STORY in stored(store["url"])[slow].full_text  # it got its text in the end


def test_a_page_not_fetched_in_time_is_tried_in_later_rounds_then_falls_back(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    handler, opened = gate()
    slow = feed_server.route("/news/slow", handler)
    feed = feed_server.route("/courier.rss", body=rss([("Slow", slow)]))
    store = sqlite_store(tmp_path)
    path = config(tmp_path, [feed], storage=store, poll={"article_timeout": "0.5s"})
    try:
        for round_ in range(1, full_text.MAX_TRIES):
            assert poll(path, "--all")["articles_retried"] == 1
            row = stored(store["url"])[slow]
            assert (row.full_text_status, row.full_text_tries) == ("pending", round_)
            assert feeds_json(path)[0]["full_text_pending"] == 1
        assert poll(path, "--all")["articles_fell_back"] == 1
        row = stored(store["url"])[slow]
        assert (row.full_text_status, row.full_text_tries) == ("timed out", full_text.MAX_TRIES)
        assert poll(path, "--all")["articles_fell_back"] == 0  # settled: not tried again
        assert feed_server.hits("/news/slow") == full_text.MAX_TRIES
    finally:
        opened.set()


def test_markdown_digests_carry_the_full_text_for_subscribers_who_ask(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    story = feed_server.route("/news/ferry", body=PAGE, content_type=HTML)
    title = "Night ferries return to the Calder estuary after eleven years"
    feed = feed_server.route("/courier.rss", body=rss([(title, story)]))
    readers = [
        {"email": "full@example.org", "full_text": True},
        {"email": "brief@example.org"},
    ]
    path = config(tmp_path, [feed], subscribers=readers, storage=sqlite_store(tmp_path))
    assert poll(path)["articles_extracted"] == 1

    def preview(who: str, form: str) -> str:
        status, out, err = cli(path, "preview", "-s", who, "-f", form)
        assert status == 0, err
        return out

    whole = preview("full@example.org", "markdown")
    assert STORY in whole and "Tickets go on sale online" in whole
    assert "\n\nThe estuary board approved" in whole  # one paragraph each
    assert whole.count(title) == 1  # the page's headline is not repeated under the title
    assert not any(furniture in whole for furniture in FURNITURE)
    brief = preview("brief@example.org", "markdown")
    assert "A late-evening ferry" in brief and "Tickets go on sale online" not in brief
    mail = preview("full@example.org", "text")  # e-mail keeps the excerpt
    assert "A late-evening ferry" in mail and "Tickets go on sale online" not in mail


@pytest.mark.parametrize(
    ("error", "tries", "status"),
    [
        (FetchError("HTTP 404 Not Found", status=404), 0, "404"),
        (FetchError("HTTP 403 Forbidden", status=403), 0, "403"),
        (FetchError("HTTP 503", status=503), 0, "pending"),
        (FetchError("HTTP 503", status=503), full_text.MAX_TRIES - 1, "server error"),
        (FetchError("HTTP 429", status=429), 0, "pending"),
        (FetchError("timed out after 15 s (poll.article_timeout)"), 1, "pending"),
        (FetchError("timed out after 15 s"), full_text.MAX_TRIES - 1, "timed out"),
        (HostNotFound("DNS lookup failed"), full_text.MAX_TRIES - 1, "host not found"),
        (TooLarge("response larger than 5 MB (poll.max_article_bytes)"), 0, "too large"),
    ],
)
def test_a_failed_fetch_is_retried_a_bounded_number_of_times(
    error: FetchError, tries: int, status: str
) -> None:
    outcome = full_text.failed(error, PendingArticle(1, "http://x/", tries, ""))
    assert (outcome.status, outcome.tries) == (status, tries + 1)


def test_an_extraction_is_kept_only_when_it_says_more_than_the_feed() -> None:
    pending = PendingArticle(1, "http://x/", 0, "<p>Three words here</p>")
    assert full_text.judged(None, pending).status == "no article found"
    short = Article("<p>Only three words</p>", "Only three words")
    assert full_text.judged(short, pending).status == "shorter than the summary"
    longer = Article("<p>a b c d</p>", "a b c d")
    assert full_text.judged(longer, pending).status == "ok"
    assert full_text.not_html({"Content-Type": "image/jpeg"}, pending) is not None
    assert full_text.not_html({"content-type": "text/html; charset=utf-8"}, pending) is None
    assert full_text.not_html({}, pending) is None  # undeclared: the extractor decides


def test_the_excerpt_and_the_text_a_digest_shows() -> None:
    text = "Ferry news\n\n" + " ".join(itertools.repeat("word", 200))
    assert full_text.without_headline(text, "  ferry NEWS ").startswith("word")
    assert full_text.without_headline(text, "Other") == text
    assert full_text.lead_excerpt("Short.", "", 400) == "Short."
    lead = full_text.lead_excerpt("Short.", text, 40)
    assert lead.startswith("Ferry news word") and len(lead) <= 40
    assert full_text.lead_excerpt("A long feed summary says more.", "Tiny.", 400) == (
        "A long feed summary says more."
    )


def test_the_config_checks_the_new_keys(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "broadsheet.toml",
        [],
        [{"email": "a@example.org", "full_text": "yes"}],
        poll={"max_article_bytes": "12", "article_timeout": "0s"},
    )
    path.write_text(path.read_text() + '[[feeds]]\nurl = "https://x.example/rss"\nfull_text = 1\n')
    status, _, err = cli(path, "check")
    assert status != 0
    flat = " ".join(err.split())
    for key in (
        "poll.max_article_bytes",
        "poll.article_timeout",
        "feeds[0].full_text",
        "subscribers[0].full_text",
    ):
        assert key in flat


def test_the_migration_keeps_every_entry_both_ways(engine: Engine) -> None:
    now = datetime.now(UTC)
    spec = FeedSpec("https://courier.example/rss", full_text=True)
    stored_feeds.sync(engine, [spec], now)
    feed = stored_feeds.get(engine, spec.url)
    assert feed is not None and feed.full_text
    items = [Entry(f"id-{n}", f"Story {n}", f"https://courier.example/{n}") for n in range(3)]
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed.id, items, now, full_text=True) == (3, 0)
    (first, *_) = stored_articles.pending(engine, feed.id, 10)
    story = ArticleOutcome("ok", 0, "<p>Text</p>", "Text")
    assert stored_articles.record(engine, first, story, now)
    assert not stored_articles.record(engine, first, story, now)  # done once only
    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "0008_alerts")
        conn.commit()
        assert "full_text" not in {c["name"] for c in inspect(conn).get_columns("entries")}
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 3
    upgrade(engine)
    assert stored_entries.count(engine) == 3
    assert len(stored_articles.pending(engine, feed.id, 10)) == 0  # no text, nothing pending
