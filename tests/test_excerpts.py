"""The excerpt a reader sees is the story, not its furniture: stored through `broadsheet poll`."""

from __future__ import annotations

import html
import re
from pathlib import Path

from server import FeedServer
from sqlalchemy import select
from test_poll import SHARED, poll_json, write_config

from ingest.store.database import open_store
from ingest.store.schema import entries

FIXTURE = (SHARED / "fixtures" / "newswire.rss").read_text(encoding="utf-8")
STORY = "The council voted on Tuesday to close the old harbour bridge for repairs."
MORE = "Work starts in May and should take a year, the council said."


def rss(items: dict[str, str], creator: str = "") -> str:
    """An RSS feed with one item per guid, its description the given HTML."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>Item {guid}</title>"
        + (f"<dc:creator>{creator}</dc:creator>" if creator else "")
        + f"<description><![CDATA[{description}]]></description></item>"
        for guid, description in items.items()
    )
    return (
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>T</title>{body}</channel></rss>"
    )


def stored(tmp_path: Path, feed_server: FeedServer, body: str) -> dict[str, tuple[str, str]]:
    """Poll one feed served with ``body``; each entry's (excerpt, summary HTML) by guid."""
    url = feed_server.route("/feed.rss", body=body)
    poll_json(write_config(tmp_path, [url]))
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(entries.c.guid, entries.c.excerpt, entries.c.summary_html))
        found = {row.guid: (row.excerpt, row.summary_html) for row in rows}
    engine.dispose()
    return found


def fixture_item(n: int = 0) -> str:
    return re.findall(r"<item>.*?</item>", FIXTURE, re.DOTALL)[n]


def test_the_wordpress_footer_of_the_fixture_is_left_out_and_kept_in_the_html(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    found = stored(tmp_path, feed_server, FIXTURE)
    excerpt, summary = found["https://news.northwind.example/?p=188231"]
    description = re.search(r"<description><!\[CDATA\[<p>(.*?)</p>", fixture_item()).group(1)  # type: ignore[union-attr]
    assert excerpt == description  # the story's paragraph, nothing after it
    assert "appeared first on" not in excerpt
    assert "appeared first on" in summary


def test_the_fixture_story_with_its_byline_and_bio_reads_as_the_story(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    item = fixture_item()
    creator = re.search(r"<dc:creator><!\[CDATA\[(.*?)\]\]>", item).group(1)  # type: ignore[union-attr]
    paragraphs = re.findall(r"<p>(.*?)</p>", item.split("content:encoded")[1], re.DOTALL)
    first, bio = paragraphs[0], paragraphs[-1]
    assert "Follow her" in bio  # the fixture's last paragraph is its author's bio
    body = rss({"1": f"<p>By {creator}</p><p>{first}</p><p>{bio}</p>"})
    excerpt, summary = stored(tmp_path, feed_server, body)["1"]
    assert excerpt == html.unescape(first)
    assert "“nothing looks very promising yet”" in excerpt  # typography kept as written
    assert f"By {creator}" in summary and "Follow her" in summary  # the stored HTML keeps both


def test_paragraphs_are_not_run_together(tmp_path: Path, feed_server: FeedServer) -> None:
    item = fixture_item().replace(
        re.search(r"<description>.*?</description>", fixture_item(), re.DOTALL).group(0), ""
    )  # type: ignore[union-attr]
    body = FIXTURE.replace(fixture_item(), item)
    excerpt, _ = stored(tmp_path, feed_server, body)["https://news.northwind.example/?p=188231"]
    dek = re.search(r"<h4>(.*?)</h4>", item).group(1)  # type: ignore[union-attr]
    # The dek has no full stop: an em dash parts it from the next paragraph, never a bare space.
    assert excerpt.startswith(f"{dek} — On Wednesday, ")
    assert "“nothing looks very promising yet”" in excerpt
    assert re.search(r"\.[A-Z“]", excerpt) is None  # no "end.Start" between paragraphs


FURNITURE = {
    "byline": f"<p>By Dave DeCamp</p><p>{STORY}</p>",
    "byline-agency": f"<p>By Jane Doe and John Roe, Reuters</p><p>{STORY}</p>",
    "byline-date": f"<p>By Jane Doe | March 30, 2022</p><p>{STORY}</p>",
    "byline-br": f"<p>By The Associated Press<br>{STORY}</p>",
    "author-label": f"<p>Author: Jane Doe</p><p>{STORY}</p>",
    "posted-by": f"<p>Posted by admin</p><p>{STORY}</p>",
    "dateline": f"<p>Updated March 30, 2022 at 5:42 pm ET</p><p>{STORY}</p>",
    "bio": f"<p>{STORY}</p><p>Jane Doe is a reporter covering cities. Follow her on Mastodon.</p>",
    "bio-author": f"<p>{STORY}</p><p><em>Ann Lee is a senior editor at the Gazette.</em></p>",
    "about": f"<p>{STORY}</p><p>About the author</p><p>Jane writes about towns.</p>",
    "post": f"<p>{STORY}</p><p>The post <a href='/x'>Bridge</a> appeared first on <a href='/'>Gazette</a>.</p>",
    "continue": f"<p>{STORY} <a href='/x'>Continue reading →</a></p>",
    "read-more": f"<p>{STORY}</p><p><a href='/x'>Read more</a></p>",
    "ellipsis": "<p>The council voted on Tuesday to close the old harbour bridge [&hellip;]</p>",
    "dots": "<p>The council voted on Tuesday to close the old harbour bridge [...]</p>",
    "share": f"<p>{STORY}</p><p>Share this:</p><ul><li>Twitter</li><li>Facebook</li></ul>",
    "subscribe": f"<p>{STORY}</p><p>Subscribe to our newsletter for daily updates.</p>",
    "follow": f"<p>{STORY}</p><p>Follow us on Facebook and Instagram</p>",
    "credit": f"<p>{STORY}</p><p>Reporting by Jane Doe; Editing by John Roe</p>",
}
CUT = "The council voted on Tuesday to close the old harbour bridge…"
KEPT_AS_IS = {
    "by-the-end": "<p>By the end of the year, the bridge will close.</p><p>Work starts in May.</p>",
    "by-monday": "<p>By Monday, officials had agreed.</p><p>Work starts in May.</p>",
    "bio-like-mid": f"<p>{STORY}</p><p>Jane Doe is a reporter covering cities. Follow her on Mastodon.</p><p>{MORE}</p>",
    "quoted-editor": f"<p>{STORY}</p><p>Smith is a former editor of the paper, she said.</p>",
    "journal": f"<p>{STORY}</p><p>The article was published in the journal Nature on Monday.</p>",
    "bio-no-pointer": f"<p>{STORY}</p><p>Jane Doe is a reporter who covered Twitter's sale.</p>",
    "read-more-mid": f"<p>Read more about the plan at the town hall, {MORE[0].lower()}{MORE[1:]}</p><p>{STORY}</p>",
}


def test_furniture_is_left_out_and_stories_that_look_like_it_are_kept(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    found = stored(tmp_path, feed_server, rss(FURNITURE | KEPT_AS_IS, creator="Ann Lee"))
    for name in FURNITURE:
        want = CUT if name in ("ellipsis", "dots") else STORY
        assert found[name][0] == want, name
    assert found["by-the-end"][0] == (
        "By the end of the year, the bridge will close. Work starts in May."
    )
    assert found["by-monday"][0] == "By Monday, officials had agreed. Work starts in May."
    assert found["bio-like-mid"][0].startswith(f"{STORY} Jane Doe is a reporter covering cities.")
    assert found["quoted-editor"][0].endswith("Smith is a former editor of the paper, she said.")
    assert found["read-more-mid"][0].startswith("Read more about the plan")
    assert found["journal"][0].endswith("published in the journal Nature on Monday.")
    assert found["bio-no-pointer"][0].endswith("covered Twitter's sale.")
    assert "Share this" in found["share"][1] and "Reporting by" in found["credit"][1]


def test_a_summary_that_is_only_furniture_gives_way_to_the_content(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>T</title><item><guid>1</guid><title>Bridge</title>"
        "<description>By Jane Doe</description>"
        f"<content:encoded><![CDATA[<p>{STORY}</p>]]></content:encoded></item></channel></rss>"
    )
    assert stored(tmp_path, feed_server, body)["1"][0] == STORY
