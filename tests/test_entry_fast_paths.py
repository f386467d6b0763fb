"""The cheap paths of an entry's cleaning give exactly what the general ones give.

Sanitizing changes the URL of a usual <a> or <img> where it stands instead of rebuilding the
tag, a usual link is made canonical without urlsplit, and an excerpt reads only the start of
a long story. Each is checked against written results and against its general path (the
cheap one switched off) on the cases at its edges.
"""

from __future__ import annotations

import re

import pytest

from ingest import excerpts, sanitize, urls
from ingest.excerpts import join, story_excerpt, story_text
from ingest.sanitize import TEXT_SOURCE_LIMIT, excerpt, is_beacon, sanitize_html
from ingest.urls import canonical_link

BASE = "https://news.example/2022/03/30/story/"
NEVER = re.compile(r"(?!)")  # matches nothing: the general path for every input

TAGS = [
    ('<a href="/x">a</a>', '<a href="https://news.example/x" rel="noopener noreferrer">a</a>'),
    (
        '<a href="../y">a</a>',
        '<a href="https://news.example/2022/03/30/y" rel="noopener noreferrer">a</a>',
    ),
    (
        '<a href="//cdn.example/z">a</a>',
        '<a href="https://cdn.example/z" rel="noopener noreferrer">a</a>',
    ),
    ('<a href="javascript:alert(1)">j</a>', '<a rel="noopener noreferrer">j</a>'),
    (
        '<a title="T" href="/q?a=1&amp;b=2">q</a>',
        '<a title="T" href="https://news.example/q?a=1&amp;b=2" rel="noopener noreferrer">q</a>',
    ),
    (
        '<a href="?page=2">n</a>',
        '<a href="https://news.example/2022/03/30/story/?page=2" rel="noopener noreferrer">n</a>',
    ),
    (
        '<a href="#top">t</a>',
        '<a href="https://news.example/2022/03/30/story/#top" rel="noopener noreferrer">t</a>',
    ),
    (
        '<a href="mailto:a@b.example">m</a>',
        '<a href="mailto:a@b.example" rel="noopener noreferrer">m</a>',
    ),
    (
        "<a href=\"/café 'x'\">c</a>",
        '<a href="https://news.example/café &#x27;x&#x27;" rel="noopener noreferrer">c</a>',
    ),
    (
        '<img src="data:image/gif;base64,R0lGOD" data-src="/real.jpg" width="800">',
        '<img width="800" src="https://news.example/real.jpg">',
    ),
    (
        '<img data-src="/lazy.jpg" alt=""><noscript><img src="/real.jpg" alt="r"></noscript>',
        '<img src="https://news.example/real.jpg" alt="r">',
    ),
    ('<img src="/p.gif" width="1" height="1">', ""),
    ('<img src="/p.gif" height="1px">', ""),
    ('<img src="https://stats.wordpress.com/g.gif">', ""),
    ('<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView">', ""),
    ('<img src="https://feeds.feedburner.com/~r/Wire/~4/abc">', ""),
    (
        '<img src="https://pixel.nymag.com/imgs/a.jpg" width="800">',
        '<img src="https://pixel.nymag.com/imgs/a.jpg" width="800">',
    ),
    (
        '<img alt="a" src="/a.jpg" title="t">',
        '<img alt="a" src="https://news.example/a.jpg" title="t">',
    ),
    ('<img src="https://news.example/a.jpg">', '<img src="https://news.example/a.jpg">'),
]
MORE_TAGS = [
    '<a href="/x" title="a &quot;b&quot; &gt; c">x</a>',
    '<a href="/x" href="/y" title="t" title="u">x</a>',
    '<a href="">e</a>',
    '<a href="  /padded  ">p</a>',
    '<a href="&#106;avascript:alert(1)">j</a>',
    '<a href="/a/./b/../c">d</a>',
    '<img src="/a.jpg" alt="a" src="/b.jpg" width="2">',
    '<img src="/a.jpg" width="0">',
    '<img src="/a.jpg" width=" 1.0 PX ">',
    '<img src="">',
    '<img src="//pixel.wp.com/g.gif">',
    '<img src="/a.jpg" data-lazy-src="/b.jpg">',
    '<img data-original="/b.jpg" width="1">',
    '<IMG SRC="/a.png" Width="20" ALT="x">',
    '<img src="http://[::1]/a.jpg">',
    '<img src="https://h.example/a&amp;b.jpg" alt="&lt;&gt;">',
]


@pytest.mark.parametrize(("html", "expected"), TAGS)
def test_links_and_images_are_fixed(html: str, expected: str) -> None:
    assert sanitize_html(html, BASE) == expected


@pytest.mark.parametrize("html", [html for html, _ in TAGS] + MORE_TAGS)
@pytest.mark.parametrize("base", [BASE, "https://h.example", None])
def test_changing_a_url_in_place_gives_the_rebuilt_tag(
    html: str, base: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap = sanitize_html(html, base)
    monkeypatch.setattr(sanitize, "_PLAIN_A", NEVER)
    monkeypatch.setattr(sanitize, "_PLAIN_IMG", NEVER)
    assert cheap == sanitize_html(html, base)


def test_beacon_paths_are_still_beacons_on_subdomains() -> None:
    assert is_beacon("https://www.facebook.com/tr?id=1")
    assert is_beacon("https://feeds.feedburner.com./~r/Wire/~4/abc")
    assert not is_beacon("https://www.facebook.com/news")
    assert not is_beacon("https://notfacebook.com/tr")


LINKS = [
    "https://news.example/a/?utm_source=rss&id=7",
    "https://news.example",
    "https://news.example?utm_source=x",
    "http://news.example/?",
    "https://news.example/a?b?utm_medium=c",
    "https://news.example/a?%75tm_source=1&x",
    "https://news.example/a?&&fbclid=1&",
    'https://news.example/"q"/?a=<b>',
    "HTTPS://news.example/a",
    "https://News.example/a",
    "https://news.example./a",
    "https://news.example:443/a",
    "https://news.example:8080/a",
    "https://user@news.example/a",
    "https://news.example/a#utm_source=1&b=2",
    "https://news.example/caf\u00e9",
    "https://news.example/a b",
    " https://news.example/a\n",
    "https://news.example/a\t/b",
    "https://[::1]/a",
    "https://news_example/a",
    "//news.example/a",
    "/relative?utm_source=x",
    "ftp://news.example/a",
    "",
    None,
]


@pytest.mark.parametrize("link", LINKS)
def test_a_usual_link_is_canonical_as_urlsplit_makes_it(
    link: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap = canonical_link(link, BASE)
    monkeypatch.setattr(urls, "_PLAIN_LINK", NEVER)
    assert cheap == canonical_link(link, BASE)


def test_a_usual_link_loses_its_tracking() -> None:
    assert canonical_link("https://news.example?utm_source=x&id=7", BASE) == (
        "https://news.example/?id=7"
    )
    assert canonical_link("https://news.example/a?utm_source=x", BASE) == "https://news.example/a"


def story(paragraphs: int, *, first: str = "By Jane Doe", last: str = "") -> str:
    """A story of ``paragraphs`` sentences, a byline first and ``last`` (furniture) at the end."""
    body = "".join(
        f"<p>Paragraph {n} says what happened at the harbour on day {n}, and why.</p>\n"
        for n in range(paragraphs)
    )
    return f"<p>{first}</p>\n{body}" + (f"<p>{last}</p>" if last else "")


ENDS = [
    "",
    "The post Harbour appeared first on News.",
    "Jane Doe is a reporter covering courts. Follow her on X.",
    "Continue reading",
]


@pytest.mark.parametrize("paragraphs", [0, 1, 4, 5, 6, 7, 8, 9, 12, 40, 400])
@pytest.mark.parametrize("last", ENDS)
@pytest.mark.parametrize("length", [0, 1, 80, 400, 2000])
def test_an_excerpt_reads_only_the_start_of_a_long_story(
    paragraphs: int, last: str, length: int
) -> None:
    html = story(paragraphs, last=last)
    expected = excerpt(story_text(html, ("Jane Doe",)), length)
    assert story_excerpt(html, length, ("Jane Doe",)) == expected


def test_the_end_of_a_story_is_left_out_when_the_start_is_all_there_is() -> None:
    html = "<p>One short line.</p>" * 4 + "<p>About the author</p><p>Jane Doe writes.</p>"
    assert story_excerpt(html, 400) == excerpt(story_text(html), 400)
    assert "About" not in story_excerpt(html, 400)


def test_a_story_cut_at_the_text_limit_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    paragraph = "<p>" + "word " * 60 + "end.</p>"
    for count in range(
        TEXT_SOURCE_LIMIT // len(paragraph) - 8, TEXT_SOURCE_LIMIT // len(paragraph) + 3
    ):
        html = paragraph * count + "<p>The post X appeared first on Y.</p>"
        cheap = story_excerpt(html, 400)
        assert cheap == excerpt(story_text(html), 400)
        with monkeypatch.context() as patched:
            patched.setattr(excerpts, "_story_start", lambda *_: None)
            assert cheap == story_excerpt(html, 400)


def test_paragraphs_join_on_what_the_last_one_ends_with() -> None:
    assert join(["One.", "Two", "Three"]) == "One. Two — Three"
    assert join(["“Quote.”", "”", "Next"]) == "“Quote.” ” — Next"
    assert join(["A", "", "B"]) == "A —  — B"
    assert join(["One.", "Two", "Three"], 4) == "One."
    assert join(["One.", "Two", "Three"], 5) == "One. Two"
