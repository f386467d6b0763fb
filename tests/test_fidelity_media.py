"""Video, audio and embedded players reach a reader as images and links, never as nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from server import FeedServer, static
from sqlalchemy import select
from test_poll import poll_json, write_config
from test_sanitize import assert_inert, tags_of

from ingest.parse import parse_feed
from ingest.sanitize import sanitize_html
from ingest.store.database import open_store
from ingest.store.schema import entries

BASE = "https://news.example/2025/03/story/"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
YT = "dQw4w9WgXcQ"
YT_PAGE = f"https://www.youtube.com/watch?v={YT}"
YT_THUMB = f"https://i.ytimg.com/vi/{YT}/hqdefault.jpg"


def links(html: str) -> list[tuple[str, str]]:
    """(tag, its URL) for every link and image, in order."""
    return [(tag, attrs.get("href") or attrs.get("src") or "") for tag, attrs in tags_of(html)]


def clean(html: str) -> str:
    cleaned = sanitize_html(html, BASE)
    assert_inert(cleaned)
    assert sanitize_html(cleaned, BASE) == cleaned  # idempotent
    return cleaned


def test_a_video_keeps_its_poster_and_a_link_to_it() -> None:
    html = clean(
        '<p>Before</p><video controls width="640" poster="/img/poster.jpg">'
        '<source src="/media/clip.webm" type="video/webm"><source src="/media/clip.mp4">'
        "<track src='/subs.vtt'>Your browser cannot play this video.</video><p>After</p>"
    )
    video = "https://news.example/media/clip.webm"
    assert links(html) == [
        ("p", ""),
        ("a", video),
        ("img", "https://news.example/img/poster.jpg"),
        ("br", ""),
        ("a", video),
        ("p", ""),
    ]
    assert "Watch: video file" in html and 'alt="Video"' in html
    assert "cannot play" not in html  # the fallback is for browsers without <video>


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ('<video src="clip.mp4"></video>', [("a", BASE + "clip.mp4")]),
        (
            '<VIDEO SRC="clip.mp4" POSTER="p.png"/>',
            [("a", BASE + "clip.mp4"), ("img", BASE + "p.png")],
        ),
        ('<video poster="/p.png"></video>', [("img", "https://news.example/p.png")]),  # no address
        ('<video src="javascript:alert(1)" poster="data:image/png;base64,AA"></video>', []),
        ('<video><source src="javascript:x()"><source src="/ok.mp4"></video>', None),
    ],
)
def test_video_forms(video: str, expected: list[tuple[str, str]] | None) -> None:
    found = [link for link in links(clean(video)) if link[0] in {"a", "img"}]
    if expected is None:
        assert found == [("a", "https://news.example/ok.mp4")]
    else:
        assert sorted(set(found)) == sorted(expected)


@pytest.mark.parametrize(
    "audio",
    [
        '<audio controls src="/pod/ep1.mp3">Get Flash</audio>',
        '<audio controls><source src="/pod/ep1.mp3" type="audio/mpeg"></audio>',
        '<audio><source src="data:audio/mpeg;base64,AA"><source src="/pod/ep1.mp3"></audio>',
    ],
)
def test_audio_becomes_a_listen_link(audio: str) -> None:
    html = clean(f"<p>Episode one.</p>{audio}")
    assert html.endswith(
        '<a href="https://news.example/pod/ep1.mp3" rel="noopener noreferrer">'
        "Listen: audio file</a>"
    )


@pytest.mark.parametrize(
    ("src", "page", "thumbnail", "site"),
    [
        (f"https://www.youtube.com/embed/{YT}?rel=0", YT_PAGE, YT_THUMB, "YouTube"),
        (f"https://www.youtube-nocookie.com/embed/{YT}", YT_PAGE, YT_THUMB, "YouTube"),
        (f"//www.youtube.com/embed/{YT}", YT_PAGE, YT_THUMB, "YouTube"),
        (f"https://youtu.be/{YT}?t=42", YT_PAGE, YT_THUMB, "YouTube"),
        (f"https://m.youtube.com/watch?v={YT}&amp;feature=share", YT_PAGE, YT_THUMB, "YouTube"),
        (f"http://youtube.com/v/{YT}", YT_PAGE, YT_THUMB, "YouTube"),
        (
            "https://www.youtube.com/embed/videoseries?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
            "https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
            None,
            "YouTube",
        ),
        ("https://player.vimeo.com/video/76979871", "https://vimeo.com/76979871", None, "Vimeo"),
        (
            "https://player.vimeo.com/video/76979871?h=8272103f6e&amp;badge=0",
            "https://vimeo.com/76979871/8272103f6e",
            None,
            "Vimeo",
        ),
        (
            "https://www.dailymotion.com/embed/video/x8j5kq2",
            "https://www.dailymotion.com/video/x8j5kq2",
            "https://www.dailymotion.com/thumbnail/video/x8j5kq2",
            "Dailymotion",
        ),
        (
            "https://geo.dailymotion.com/player.html?video=x8j5kq2",
            "https://www.dailymotion.com/video/x8j5kq2",
            "https://www.dailymotion.com/thumbnail/video/x8j5kq2",
            "Dailymotion",
        ),
        (
            "https://dai.ly/x8j5kq2",
            "https://www.dailymotion.com/video/x8j5kq2",
            "https://www.dailymotion.com/thumbnail/video/x8j5kq2",
            "Dailymotion",
        ),
    ],
)
def test_an_embedded_player_becomes_a_linked_thumbnail_or_a_link(
    src: str, page: str, thumbnail: str | None, site: str
) -> None:
    html = clean(f'<iframe width="560" height="315" src="{src}" allowfullscreen></iframe>')
    expected = [("a", page), ("img", thumbnail), ("br", "")] if thumbnail else []
    assert links(html) == [*expected, ("a", page)]
    assert html.endswith(f">Watch on {site}</a>")
    if thumbnail:
        assert f'alt="{site} video"' in html


def test_an_old_flash_embed_of_a_video_site_is_linked_too() -> None:
    html = clean(f'<embed src="https://www.youtube.com/v/{YT}" type="x-shockwave-flash"><p>x</p>')
    assert (("a", YT_PAGE) in links(html)) and "<p>x</p>" in html
    assert clean('<embed src="/game.swf"><p>x</p>') == "<p>x</p>"


@pytest.mark.parametrize(
    ("iframe", "link", "text"),
    [
        (
            '<iframe src="https://maps.example.org/embed?q=harbour&amp;z=3"></iframe>',
            "https://maps.example.org/embed?q=harbour&z=3",
            "Embedded content: maps.example.org",
        ),
        (
            '<iframe title="Poll: your view" src="/widgets/poll/7"></iframe>',
            "https://news.example/widgets/poll/7",
            "Embedded content: Poll: your view",
        ),
        (
            '<iframe src="https://www.youtube.com/embed/not-an-id"></iframe>',
            "https://www.youtube.com/embed/not-an-id",
            "Embedded content: www.youtube.com",
        ),
    ],
)
def test_any_other_iframe_becomes_a_link_to_the_embedded_page(
    iframe: str, link: str, text: str
) -> None:
    html = clean(f"<p>See:</p>{iframe}")
    assert links(html)[-1] == ("a", link)
    assert html.endswith(f">{text}</a>")


@pytest.mark.parametrize(
    "hostile",
    [
        '<iframe src="javascript:alert(1)"></iframe>',
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
        '<iframe src="data:text/html,<script>alert(1)</script>"></iframe>',
        '<iframe src="https://ok.example/" onload="alert(1)"><script>x()</script></iframe>',
        '<video src="https://ok.example/v.mp4" onplay="x()" poster="javascript:x()"></video>',
        '<audio src="vbscript:x"></audio>',
        '<video><source src="https://ok.example/a.mp4" onerror="x()"><script>x()</script></video>',
        '<iframe title="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;" src="https://ok.example/">'
        "</iframe>",
    ],
)
def test_media_never_carries_active_content(hostile: str) -> None:
    html = clean(f"<p>before</p>{hostile}<p>after</p>")
    lowered = html.lower()
    for marker in ("<script", "javascript:", "vbscript:", "data:", "onload", "onerror", "onplay"):
        assert marker not in lowered, html
    assert html.startswith("<p>before</p>") and html.endswith("<p>after</p>")


FRAGMENTS = [
    '<video poster="/p.jpg"><source src="/v.mp4"></video>',
    '<video src="v.webm">fallback <b>text</b></video>',
    "<video>",
    "</video>",
    '<audio src="/a.mp3">',
    "<audio><source src=x.ogg></audio>",
    f'<iframe src="https://www.youtube.com/embed/{YT}"></iframe>',
    '<iframe src="//player.vimeo.com/video/1">inner <i>x</i></iframe>',
    "<iframe src=https://else.example/w title='T&amp;\"'>",
    "</iframe>",
    '<embed src="https://youtu.be/' + YT + '">',
    "<source src=/s.mp4>",
    '<a href="/x">',
    "</a>",
    "<p>",
    "</p>",
    "<figure>",
    "</figure>",
    "text & more",
    "<noscript><img src=/n.jpg></noscript>",
    '<img data-src="/lazy.jpg">',
    "<script>alert(1)</script>",
    '<table><tr><td><video src="/t.mp4"></video>',
    "<ul><li>",
]


@pytest.mark.parametrize("seed", range(300))
def test_media_cleaning_is_idempotent_and_inert_on_random_mixtures(seed: int) -> None:
    rng = random.Random(seed)
    html = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12)))
    cleaned = clean(html)
    assert "<script" not in cleaned and "<iframe" not in cleaned and "<video" not in cleaned


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Clips</title><link>https://news.example/</link>
<item><title>Harbour at dawn</title><guid>clip-1</guid><link>https://news.example/clip-1</link>
<content:encoded><![CDATA[<p>Watch the boats.</p>
<video controls poster="/img/dawn.jpg"><source src="/media/dawn.mp4" type="video/mp4"></video>]]>
</content:encoded></item>
<item><title>Interview</title><guid>clip-2</guid><link>https://news.example/clip-2</link>
<content:encoded><![CDATA[<p>The mayor speaks.</p>
<iframe src="https://www.youtube-nocookie.com/embed/{yt}" frameborder="0"></iframe>
<p>Listen too:</p><audio src="/media/interview.mp3"></audio>]]></content:encoded></item>
</channel></rss>"""


def test_media_in_a_polled_feed_reach_the_store_as_images_and_links(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = FEED.format(yt=YT).encode()
    url = feed_server.route("/clips.rss", static(body, content_type="application/rss+xml"))
    assert poll_json(write_config(tmp_path, [url]))["new_entries"] == 2
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        rows = {r.guid: r for r in conn.execute(select(entries))}
    engine.dispose()
    dawn, interview = rows["clip-1"], rows["clip-2"]
    here = url.rsplit("/", 1)[0]  # relative addresses resolve against the feed's own address
    assert dawn.image == f"{here}/img/dawn.jpg"  # the poster leads the entry
    assert ("a", f"{here}/media/dawn.mp4") in links(dawn.content_html)
    assert interview.image == YT_THUMB
    assert ("a", YT_PAGE) in links(interview.content_html)
    assert ("a", f"{here}/media/interview.mp3") in links(interview.content_html)
    assert "Listen: audio file" in interview.content_html
    assert interview.excerpt.startswith("The mayor speaks.")


def test_parse_feed_shows_media_in_atom_xhtml_content_too() -> None:
    atom = f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <id>urn:a</id><updated>2025-02-01T00:00:00Z</updated><entry><id>urn:1</id><title>V</title>
    <updated>2025-02-01T00:00:00Z</updated><link href="https://news.example/v"/>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
    <iframe src="https://youtu.be/{YT}"/></div></content></entry></feed>"""
    (entry,) = parse_feed(atom.encode(), {}, "https://news.example/feed", NOW).entries
    assert ("a", YT_PAGE) in links(entry.content_html)
    assert entry.image == YT_THUMB
