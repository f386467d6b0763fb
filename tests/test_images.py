"""The lead image is the best one an entry offers: stored through `broadsheet poll`, rendered wide
no more than it is."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from server import FeedServer
from sqlalchemy import select
from test_poll import SHARED, poll_json, write_config
from test_render import HARBOR, NORTHWIND, SETTINGS, golden_digest, make_entry

from digests.cluster import cluster
from digests.render import render_html, render_markdown
from ingest.store.database import open_store
from ingest.store.schema import entries

CDN = "https://cdn.example/wp-content/uploads/2024/05"
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'


def item(guid: str, extra: str = "", body: str = "") -> str:
    return (
        f"<item><guid>{guid}</guid><title>Item {guid}</title>{extra}"
        f"<description><![CDATA[<p>Story {guid}.</p>{body}]]></description></item>"
    )


ITEMS = {
    # A WordPress thumbnail gives way to the full size the body offers.
    "sibling": item(
        "sibling", f'<media:thumbnail url="{CDN}/dock-150x150.jpg"/>', f'<img src="{CDN}/dock.jpg">'
    ),
    # The largest declared size wins over a thumbnail listed first.
    "sizes": item(
        "sizes",
        f'<media:thumbnail url="{CDN}/t.jpg" width="150" height="150"/>'
        f'<media:content url="{CDN}/big.jpg" medium="image" width="1200" height="800"/>',
    ),
    # A size named only by the file name is the image's known width.
    "suffix": item("suffix", f'<media:content url="{CDN}/ship-300x200.jpg" medium="image"/>'),
    # Icons, emoji and tiny images are skipped; the picture after them is the lead.
    "icons": item(
        "icons",
        body='<img src="https://s.w.org/images/core/emoji/15.0.3/72x72/1f600.png">'
        '<img src="https://news.example/favicon.png">'
        '<img src="https://news.example/share.png" width="32" height="32">'
        f'<img src="{CDN}/crowd.jpg">',
    ),
    # An image enclosure of a few hundred bytes is an icon; the large file is the picture.
    "bytes": item(
        "bytes",
        '<enclosure url="https://news.example/logo.png" type="image/png" length="800"/>'
        f'<enclosure url="{CDN}/photo.jpg" type="image/jpeg" length="250000"/>',
    ),
    # In the body, the widest image wins.
    "widest": item(
        "widest",
        body=f'<img src="{CDN}/small.jpg" width="300" height="200">'
        f'<img src="{CDN}/wide.jpg" width="1024" height="576">',
    ),
    # Nothing but icons: no lead image.
    "none": item("none", body='<img src="https://news.example/icon.png" width="48" height="48">'),
}
EXPECTED = {
    "sibling": (f"{CDN}/dock.jpg", None),
    "sizes": (f"{CDN}/big.jpg", 1200),
    "suffix": (f"{CDN}/ship-300x200.jpg", 300),
    "icons": (f"{CDN}/crowd.jpg", None),
    "bytes": (f"{CDN}/photo.jpg", None),
    "widest": (f"{CDN}/wide.jpg", 1024),
    "none": (None, None),
}


def stored_images(tmp_path: Path, url: str) -> dict[str, tuple[str | None, int | None]]:
    poll_json(write_config(tmp_path, [url]))
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(entries.c.guid, entries.c.image, entries.c.image_width))
        found = {row.guid: (row.image, row.image_width) for row in rows}
    engine.dispose()
    return found


def test_the_best_image_is_stored_with_its_known_width(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = f'<rss version="2.0" {MEDIA}><channel><title>T</title>{"".join(ITEMS.values())}'
    url = feed_server.route("/images.rss", body=body + "</channel></rss>")
    assert stored_images(tmp_path, url) == EXPECTED


def test_the_fixture_leads_with_its_full_size_picture_not_the_thumbnail(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    fixture = (SHARED / "fixtures" / "newswire.rss").read_text(encoding="utf-8")
    thumbnail = re.search(r'<media:thumbnail url="([^"]+)"', fixture)[1]  # type: ignore[index]
    body_image = re.search(r'<img src="([^"]+)"[^>]*width="(\d+)"', fixture)
    assert body_image and "-150x150" in thumbnail
    found = stored_images(tmp_path, feed_server.url("/fixtures/newswire.rss"))
    assert found["https://news.northwind.example/?p=188231"] == (
        body_image[1],
        int(body_image[2]),
    )


def test_a_merged_story_shows_the_best_image_among_its_feeds() -> None:
    title = "Harbour bridge closes for a year of repairs"
    lead = make_entry(1, NORTHWIND, title, "2024-05-01 08:00", excerpt="The bridge closes.")
    lead = replace(lead, image=f"{CDN}/bridge-150x150.jpg", image_width=150)
    other = make_entry(2, HARBOR, title, "2024-05-01 09:00", excerpt="The bridge closes.")
    other = replace(other, image="https://harbortimes.example/bridge-wide.jpg", image_width=1200)
    (merged,) = cluster([lead, other]).items
    assert merged.entry.id == 1  # the first to publish leads
    assert (merged.image, merged.image_width) == (
        "https://harbortimes.example/bridge-wide.jpg",
        1200,
    )
    html = render_html(golden_digest([lead, other]), SETTINGS)
    assert "https://harbortimes.example/bridge-wide.jpg" in html
    assert "bridge-150x150.jpg" not in html
    assert "https://harbortimes.example/bridge-wide.jpg" in render_markdown(
        golden_digest([lead, other]), SETTINGS
    )


def test_a_small_image_is_never_shown_wider_than_it_is() -> None:
    small = make_entry(1, NORTHWIND, "Harbour bridge", "2024-05-01 08:00", excerpt="Closed.")
    small = replace(small, image=f"{CDN}/bridge-150x150.jpg", image_width=150)
    html = render_html(golden_digest([small]), SETTINGS)
    (tag,) = re.findall(r'<img\b[^>]*class="image"[^>]*>|<img\b[^>]*bridge[^>]*>', html)
    assert 'width="150"' in tag
    assert re.search(r"max-width:\s*150px", tag), tag
    assert not re.search(r"max-width:\s*100%", tag), tag
