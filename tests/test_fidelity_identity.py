"""Which stored entry an item is, and where its links point: through `broadsheet poll` and the store.

No article may replace another silently, and no link is rewritten or invented: a fragment tells
items apart, items without a guid that share a link stay apart, relative URLs resolve against
xml:base or the feed's own address, and a guid that is not a web address is not made a link.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from alembic import command
from processes import run
from server import FeedServer
from sqlalchemy import Column, Engine, MetaData, Table, select, text, update
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest.parse import parse_feed
from ingest.store.database import _alembic_config, create, open_store, upgrade
from ingest.store.schema import entries, feeds

STORES = Path(__file__).resolve().parent / "data" / "stores"
RELEASE = STORES / "release-0002"
runner = CliRunner()


def write_config(tmp_path: Path, urls: list[str], storage: str | None = None) -> Path:
    lines = ["[poll]", "workers = 1", "allow_private = true"]  # the server is on 127.0.0.1
    if storage:
        lines += ["[storage]", f'url = "{storage}"']
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"']
    path = tmp_path / "broadsheet.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def poll(path: Path) -> dict[str, int]:
    return json.loads(cli("poll", "--all", "--json", "--config", str(path)))


def health(path: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads(cli("feeds", "--json", "--config", str(path)))
    return {row["config_url"]: row for row in rows}


def stored(tmp_path: Path, url: str | None = None) -> list[Any]:
    """The stored entries (of the feed at ``url``), oldest row first."""
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    try:
        return rows_of(engine, url)
    finally:
        engine.dispose()


def rows_of(engine: Engine, url: str | None = None) -> list[Any]:
    query = select(entries, feeds.c.config_url).join(feeds).order_by(entries.c.id)
    if url:
        query = query.where(feeds.c.config_url == url)
    with engine.connect() as conn:
        return list(conn.execute(query))


def rss(items: str, channel: str = "") -> str:
    return f"<rss version='2.0'><channel{channel}><title>T</title>{items}</channel></rss>"


# 1. A fragment is part of the link, and of what tells items apart.


def test_comments_and_hashbang_pages_stay_apart_with_their_links_whole(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    comments = feed_server.route("/comments.rss", body=(RELEASE / "comments.rss").read_bytes())
    forum = feed_server.route("/forum.rss", body=(RELEASE / "forum.rss").read_bytes())
    path = write_config(tmp_path, [comments, forum])
    assert poll(path)["new_entries"] == 6
    assert [row.link for row in stored(tmp_path, comments)] == [
        "https://fieldnotes.example/2024/03/old-canal/#comment-713578641",
        "https://fieldnotes.example/2024/03/old-canal/#comment-713578640",
        "https://fieldnotes.example/2024/03/rain/#comment-713570002",
    ]
    assert [row.link for row in stored(tmp_path, forum)] == [
        "https://groups.example/forum/#!topic/golang-nuts/AbC123",
        "https://groups.example/forum/#!topic/golang-nuts/XyZ789",
        None,  # <guid>12345</guid> is no address
    ]
    assert poll(path)["new_entries"] == 0
    assert {row["duplicates"] for row in health(path).values()} == {0}


def test_tracking_in_a_fragment_goes_but_the_fragment_stays(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    item = "<item><title>{0}</title><link>https://news.example/live#{1}</link></item>"
    body = rss(
        item.format("Update at 9:00", "post-900&amp;utm_source=rss")
        + item.format("Update at 9:30", "post-930")
        + item.format("The live page", "utm_medium=feed")
    )
    url = feed_server.route("/live.rss", body=body)
    path = write_config(tmp_path, [url])
    assert poll(path)["new_entries"] == 3
    assert [row.link for row in stored(tmp_path)] == [
        "https://news.example/live#post-900",
        "https://news.example/live#post-930",
        "https://news.example/live",
    ]


# 2. Without a guid, a shared link does not make items one.


def test_changelog_releases_sharing_one_link_are_separate_entries(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    changelog = (RELEASE / "changelog.rss").read_text()
    url = feed_server.route("/changelog.rss", body=changelog)
    path = write_config(tmp_path, [url])
    assert poll(path) | {"feeds": 0} == poll_counts(new=3)
    assert [row.title for row in stored(tmp_path)] == [
        "Quarry 2.4.0",
        "Quarry 2.3.1",
        "Quarry 2.3.0",
    ]
    assert {row.link for row in stored(tmp_path)} == {"https://quarry.example/changelog"}
    # A new release on top: one new entry, the others as they were.
    newer = changelog.replace(
        "<item>",
        "<item><title>Quarry 2.5.0</title><link>https://quarry.example/changelog</link>"
        "<pubDate>Tue, 02 Apr 2024 09:00:00 +0000</pubDate></item><item>",
        1,
    )
    feed_server.route("/changelog.rss", body=newer)
    assert poll(path) | {"feeds": 0} == poll_counts(new=1)
    assert len(stored(tmp_path)) == 4
    assert health(path)[url]["duplicates"] == 0


def test_a_stable_guid_updates_and_an_edited_guidless_title_is_a_new_entry(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with_guid = "<item><guid>v-1</guid><title>{}</title><link>https://a.example/1</link></item>"
    without = "<item><title>{}</title><link>https://a.example/2</link></item>"
    url = feed_server.route(
        "/edits.rss", body=rss(with_guid.format("Frist draft") + without.format("Teh notes"))
    )
    path = write_config(tmp_path, [url])
    assert poll(path)["new_entries"] == 2
    feed_server.route(
        "/edits.rss", body=rss(with_guid.format("First draft") + without.format("The notes"))
    )
    assert poll(path) | {"feeds": 0} == poll_counts(new=1, updated=1)
    assert [row.title for row in stored(tmp_path)] == ["First draft", "Teh notes", "The notes"]
    assert health(path)[url]["replaced"] == 0  # the link stayed: an edit, not another article


def poll_counts(new: int = 0, updated: int = 0) -> dict[str, int]:
    return {
        "feeds": 0,
        "fetched": 1,
        "not_modified": 0,
        "skipped_unchanged": 0,
        "failed": 0,
        "new_entries": new,
        "updated_entries": updated,
        "given_back": 0,
        "taken_over": 0,
        "leased": 0,
        "articles_extracted": 0,
        "articles_fell_back": 0,
        "articles_retried": 0,
    }


# 3. Every collision is counted, in the table and in --json.


def test_an_entry_overwriting_another_article_and_repeated_items_are_shown(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    slot = "<item><guid>slot-1</guid><title>{}</title><link>https://a.example/{}</link></item>"
    same = "<item><title>Twice</title><link>https://a.example/t</link></item>"
    url = feed_server.route("/slot.rss", body=rss(slot.format("Rates held", "rates") + same * 2))
    path = write_config(tmp_path, [url])
    assert poll(path)["new_entries"] == 2
    assert (health(path)[url]["duplicates"], health(path)[url]["replaced"]) == (1, 0)
    feed_server.route("/slot.rss", body=rss(slot.format("Port strike ends", "strike")))
    assert poll(path)["updated_entries"] == 1
    row = health(path)[url]
    assert (row["duplicates"], row["replaced"]) == (0, 1)
    table = " ".join(cli("feeds", "--config", str(path)).split())
    assert "1 stored entries were overwritten by an entry with the same id" in table


# 5. Relative URLs resolve against xml:base, else the feed's address; never the entry's link.


def test_a_link_blogs_relative_urls_resolve_against_the_feed_not_the_linked_page(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    item = (
        "<item><title>A good read</title><guid isPermaLink='false'>link-1</guid>"
        "<link>https://elsewhere.example/2024/essay.html</link>"
        "<description>&lt;p&gt;&lt;img src='/images/shot.png' width='600' height='400'&gt;"
        "&lt;a href='notes/essay'&gt;my notes&lt;/a&gt;&lt;/p&gt;</description>"
        "<enclosure url='media/ep1.mp3' type='audio/mpeg' length='100'/></item>"
    )
    url = feed_server.route("/feeds/links.rss", body=rss(item))
    path = write_config(tmp_path, [url])
    poll(path)
    (row,) = stored(tmp_path)
    assert f'src="{urljoin(url, "/images/shot.png")}"' in row.summary_html
    assert f'href="{urljoin(url, "notes/essay")}"' in row.summary_html
    assert row.image == urljoin(url, "/images/shot.png")
    assert [e["url"] for e in row.enclosures] == [urljoin(url, "media/ep1.mp3")]
    assert row.link == "https://elsewhere.example/2024/essay.html"


def test_xml_base_is_the_base_of_bodies_and_enclosures(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    atom = (
        "<feed xmlns='http://www.w3.org/2005/Atom' xml:base='https://site.example/blog/'>"
        "<title>Site</title><id>tag:site.example,2024:blog</id>"
        "<updated>2024-03-01T00:00:00Z</updated><entry><title>Entry</title>"
        "<id>tag:site.example,2024:1</id><updated>2024-03-01T00:00:00Z</updated>"
        "<link href='entries/entry.html'/><link rel='enclosure' href='media/a.mp3'/>"
        "<content type='html'>&lt;a href='target'&gt;target&lt;/a&gt;</content></entry></feed>"
    )
    podcast = rss(
        "<item><guid isPermaLink='false'>ep-2</guid><title>Episode 2</title>"
        "<description>&lt;a href='show-notes/2'&gt;notes&lt;/a&gt;</description>"
        "<enclosure url='ep2.mp3' type='audio/mpeg' length='9'/></item>",
        channel=" xml:base='https://cdn.example/podcast/'",
    )
    urls = [
        feed_server.route("/site.atom", body=atom),
        feed_server.route("/podcast.rss", body=podcast),
    ]
    path = write_config(tmp_path, urls)
    poll(path)
    (entry,), (episode,) = (stored(tmp_path, url) for url in urls)
    assert entry.link == "https://site.example/blog/entries/entry.html"
    assert 'href="https://site.example/blog/target"' in entry.content_html
    assert [e["url"] for e in entry.enclosures] == ["https://site.example/blog/media/a.mp3"]
    assert 'href="https://cdn.example/podcast/show-notes/2"' in episode.summary_html
    assert [e["url"] for e in episode.enclosures] == ["https://cdn.example/podcast/ep2.mp3"]


# 6. A link is never made up from a guid or an id.


def test_a_guid_or_id_that_is_no_web_address_gives_no_link(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    guids = rss(
        "<item><title>a</title><guid>12345</guid></item>"
        "<item><title>b</title><guid isPermaLink='false'>right</guid></item>"
        "<item><title>c</title><guid>/posts/8</guid></item>"
        "<item><title>d</title><guid>https://perma.example/p/7#top</guid></item>"
    )
    atom = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><title>ids</title><id>urn:x:feed</id>"
        "<updated>2024-03-01T00:00:00Z</updated>"
        "<entry><title>e</title><id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>"
        "<updated>2024-03-01T00:00:00Z</updated></entry>"
        "<entry><title>f</title><id>right</id><updated>2024-03-01T00:00:00Z</updated></entry>"
        "<entry><title>g</title><id>tag:ids.example,2024:7</id>"
        "<updated>2024-03-01T00:00:00Z</updated></entry></feed>"
    )
    urls = [feed_server.route("/guids.rss", body=guids), feed_server.route("/ids.atom", body=atom)]
    path = write_config(tmp_path, urls)
    assert poll(path)["new_entries"] == 7
    links = {row.title: row.link for row in stored(tmp_path)}
    assert links == {
        "a": None,
        "b": None,
        "c": None,
        "d": "https://perma.example/p/7#top",  # a permalink guid is the article's address
        "e": None,
        "f": None,
        "g": None,
    }


# 5, against feedparser's own xml:base and document-address cases.

CORPUS_BASE = STORES.parent / "shared" / "corpus" / "feedparser" / "tests" / "wellformed" / "base"
_BASE_EXPECT = re.compile(
    r"entries\[0\]\['(?:content'\]\[0\]|summary_detail'\])\['base'\] == '(.+?)'"
)
_HEADER = re.compile(rb"^Header:\s*([^:\r\n]+?):\s*(.*?)\s*$", re.MULTILINE)


_BODY_CASE = re.compile(
    r"http_(entry|item)_(summary|content|description|body|fullitem|xhtml_body|content_encoded"
    r"|link)(_base64|_inline)?_base_(docuri|content_location)\.xml"
)
_BODY = re.compile(r"<(summary|content)[^>]*>(.*?)</\1>", re.DOTALL)


def corpus_cases() -> list[Path]:
    """feedparser's cases of a base for an entry's body (with a link in it) or its link."""

    def linked_body(case: Path) -> bool:
        return any("href" in body for _, body in _BODY.findall(case.read_text()))

    return [
        case
        for case in sorted(CORPUS_BASE.glob("*.xml"))
        if _BODY_CASE.fullmatch(case.name)
        or (_BASE_EXPECT.search(case.read_text()) and linked_body(case))
    ]


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda p: p.stem)
def test_feedparser_base_cases_resolve_as_the_document_says(case: Path) -> None:
    raw = case.read_bytes()
    headers = {k.decode(): v.decode() for k, v in _HEADER.findall(raw)}
    address = f"http://127.0.0.1:8097/tests/wellformed/base/{case.name}"
    (entry,) = parse_feed(raw, headers, address, datetime(2024, 6, 1, tzinfo=UTC)).entries
    hrefs = re.findall(r'href="([^"]+)"', entry.summary_html + entry.content_html)
    declared = _BASE_EXPECT.search(case.read_text())
    if declared:  # xml:base in force on the body: <a href="test.html">
        assert hrefs == [urljoin(declared.group(1), "test.html")]
        return
    # Content-Location is no base (RFC 7231 dropped it): the document's own address is.
    relative = re.search(r"/relative/\w+", case.read_text())
    expected = urljoin(address, relative.group() if relative else "")
    if "_link_" in case.name:
        assert entry.link == expected
    else:
        assert hrefs == [expected]


# 4. A store written by the release before schema 0005 upgrades without duplicates or losses.


# Columns added after schema 0002, which the release store does not have.
ADDED_SINCE = {
    "identity_rule",
    "replaced",
    "declared_interval",
    "image_width",
    "backlog",
    "failing_since",
    "full_text",
    "full_text_html",
    "item_keys",
    "full_text_status",
    "full_text_at",
    "full_text_tries",
}


def run_json(path: Path, *args: str) -> Any:
    """A `broadsheet` command in a process of its own (it holds the store's connections)."""
    done = run(path, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def release_store(store_url: str, tmp_path: Path) -> Engine:
    """The release's store at ``store_url``, upgraded: the SQLite file, or its rows on PostgreSQL."""
    if store_url.startswith("sqlite"):
        shutil.copyfile(RELEASE / "broadsheet.db", store_url.removeprefix("sqlite:///"))
        return open_store(store_url)
    shutil.copyfile(RELEASE / "broadsheet.db", tmp_path / "release.db")
    source = create(f"sqlite:///{tmp_path / 'release.db'}")
    target = create(store_url)
    with target.connect() as conn:  # PostgreSQL as the release left it, then its rows
        command.upgrade(_alembic_config(conn), "0002_seals")
        conn.commit()
    for table in (feeds, entries):
        columns = [Column(c.name, c.type) for c in table.c if c.name not in ADDED_SINCE]
        old = Table(table.name, MetaData(), *columns)
        with source.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(select(old))]
        with target.begin() as conn:
            conn.execute(old.insert(), rows)
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :n)"),
                {"n": max(row["id"] for row in rows)},
            )
    source.dispose()
    upgrade(target)
    return target


def point_feeds_at(engine: Engine, urls: dict[str, str]) -> None:
    """The release's feeds at this server's address, changed since (no validators kept)."""
    with engine.begin() as conn:
        for row in conn.execute(select(feeds.c.id, feeds.c.config_url)).all():
            url = urls[row.config_url.rpartition("/")[2]]
            forget = dict(etag=None, last_modified=None, body_hash=None, next_poll_at=None)
            conn.execute(
                update(feeds).where(feeds.c.id == row.id).values(url=url, config_url=url, **forget)
            )


def test_a_store_from_the_previous_release_upgrades_without_duplicates_or_losses(
    store_url: str, tmp_path: Path, feed_server: FeedServer
) -> None:
    engine = release_store(store_url, tmp_path)
    before = {row.id: row for row in rows_of(engine)}
    assert len(before) == 11  # the release kept one comment, release and forum topic of each
    urls = {
        name: feed_server.route(f"/{name}", body=(RELEASE / name).read_bytes())
        for name in ("changelog.rss", "comments.rss", "forum.rss")
    }
    for name in ("newswire.rss", "no-guids.rss"):
        urls[name] = feed_server.url(f"/fixtures/{name}")
    point_feeds_at(engine, urls)
    path = write_config(tmp_path, list(urls.values()), storage=store_url)
    report = run_json(path, "poll", "--all")
    assert (report["fetched"], report["new_entries"]) == (5, 4)
    after = rows_of(engine)
    by_id = {row.id: row for row in after}
    for row_id, old in before.items():  # every stored article is still there, as it was
        assert by_id[row_id].title == old.title
        assert by_id[row_id].first_seen_at == old.first_seen_at
    assert len({(row.feed_id, row.title, row.link) for row in after}) == len(after) == 15
    assert {row.identity_rule for row in after} == {2}
    canal = [row for row in after if row.title == "Re: Walking the old canal"]
    assert [(row.id in before, row.link.rpartition("#")[2]) for row in canal] == [
        (True, "comment-713578641"),  # the comment the release stored keeps its row
        (False, "comment-713578640"),
    ]
    assert "lock keeper" in canal[0].summary_html
    point_feeds_at(engine, urls)  # changed bodies again: parsed, and nothing new
    again = run_json(path, "poll", "--all")
    assert (again["new_entries"], again["updated_entries"]) == (0, 0)
    assert len(rows_of(engine)) == 15
    assert {(row["duplicates"], row["replaced"]) for row in run_json(path, "feeds")} == {(0, 0)}
    engine.dispose()
