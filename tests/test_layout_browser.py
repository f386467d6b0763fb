"""The HTML digest in a real browser: nothing wider than a phone's screen, whatever the content.

Headless Chromium (the system's ``chromium``, driven by Playwright) opens a digest holding the
content that used to push a mail past the screen's edge, a 300-character URL, 60-character words
in a title, an excerpt, a feed name and an "also in" link, a 2000 px wide image served over HTTP,
Arabic text, and enough stories that the later ones become headlines, at 320 and 390 px wide, in
light and dark mode, ranked (the index "In this edition" holding the widest titles) and grouped
by tag, and measures the page.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from shutil import which
from typing import Any

import pytest
from server import FeedServer
from test_render import HARBOR, NORTHWIND, QUAYSIDE, SETTINGS, golden_digest, make_entry

from digests.digest import Digest
from digests.models import DigestEntry
from digests.render import BUDGET, fit, render_html, sent_size

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'"
)
CHROMIUM = next(filter(None, map(which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found on PATH (Debian: apt-get install chromium); .ci/run installs it",
)

LONG_URL = "https://news.northwind.example/" + "/".join(["segment-of-a-long-path"] * 12) + "?q=1"
LONG_WORD = "Donaudampfschifffahrtselektrizitaetenhauptbetriebswerkbauunter"
ARABIC = ("https://akhbar.example/rss", "أخبار المدينة", ("world",))
WIDE = ("https://wide.example/rss", f"{LONG_WORD} Gazette", ("world",))
MEASURE = """() => {
    const wide = [...document.querySelectorAll('body *')].filter(
        el => el.getBoundingClientRect().right > window.innerWidth + 0.5 && el.offsetParent);
    const image = document.querySelector('img.image');
    const arabic = [...document.querySelectorAll('[dir=auto]')].find(
        el => el.textContent.includes('المدينة') && el.matches('h2, h2 *'));
    return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        wide: wide.slice(0, 5).map(el => el.outerHTML.slice(0, 120)),
        imageNatural: image.naturalWidth,
        imageShown: image.getBoundingClientRect().width,
        arabicDirection: arabic ? getComputedStyle(arabic).direction : null,
        briefs: document.querySelectorAll('.brief').length,
        index: [...document.querySelectorAll('.contents a')].map(a => a.getAttribute('href')),
        anchors: [...document.querySelectorAll('.item[id]')].map(el => '#' + el.id),
        dark: matchMedia('(prefers-color-scheme: dark)').matches,
        background: getComputedStyle(document.querySelector('.sheet')).backgroundColor,
    };
}"""


def png(width: int, height: int) -> bytes:
    """A real PNG image of one colour, ``width`` by ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x9a\x4b\x1c" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    image = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + image


def hostile_entries(image: str) -> list[DigestEntry]:
    """Stories that each try to widen the page, then enough plain ones to need headlines."""
    filler = "Harbour traffic resumed slowly as the strike ended and ships left port. " * 5
    entries = [
        make_entry(1, NORTHWIND, f"Read {LONG_URL} now", "2022-03-30 17:00", link=LONG_URL,
                   image=image, excerpt=f"See {LONG_URL} and {LONG_WORD} for details."),
        make_entry(2, HARBOR, f"{LONG_WORD} reopens after {LONG_WORD} talks", "2022-03-30 16:00",
                   link="https://harbortimes.example/world/reopens", authors=(LONG_WORD,)),
        make_entry(3, WIDE, f"{LONG_WORD} reopens after {LONG_WORD} talks", "2022-03-30 15:00",
                   link=LONG_URL + "&wide=1"),
        make_entry(4, ARABIC, "افتتاح الميناء الجديد في المدينة بعد سنوات من العمل",
                   "2021-12-30 15:00", link="https://akhbar.example/port",
                   excerpt="قال مسؤولون إن الميناء سيستقبل أول سفينة الأسبوع المقبل."),
    ]  # fmt: skip
    for n in range(150):
        title = f"Story {n} {LONG_WORD if n % 7 == 0 else 'on the harbour'} and ships"
        link = f"https://quayside.example/{n}/" + "x" * 200
        entries.append(
            make_entry(100 + n, QUAYSIDE, title, "2022-03-30 12:00", link=link, excerpt=filler)
        )
    return entries


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system's Chromium, headless."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture(params=["ranked", "by_tag"])
def hostile(feed_server: FeedServer, request: pytest.FixtureRequest) -> Digest:
    """The hostile digest, its image served by the test server, ranked or grouped by tag.

    Ranked, a boost lifts the (old) Arabic story into the stories in full.
    """
    image = feed_server.route("/wide.png", body=png(2000, 600), content_type="image/png")
    return golden_digest(
        hostile_entries(image),
        feeds=(),
        tags=("world", "business"),
        max_items=200,
        max_per_feed=200,
        order=request.param,
        boost=("الميناء",),
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 390])
def test_nothing_is_wider_than_the_screen(
    browser: Any, hostile: Digest, tmp_path: Path, width: int, scheme: str
) -> None:
    html = render_html(hostile, SETTINGS)
    assert sent_size(html) <= BUDGET and fit(hostile, SETTINGS).brief
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    tab = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
    try:
        tab.goto(page.as_uri(), wait_until="load")
        seen = tab.evaluate(MEASURE)
    finally:
        tab.close()
    assert seen["innerWidth"] == width
    assert seen["scrollWidth"] <= width, seen["wide"]
    assert not seen["wide"]
    assert seen["imageNatural"] == 2000 and 0 < seen["imageShown"] <= width
    assert seen["arabicDirection"] == "rtl"
    assert seen["briefs"] > 0  # the headline list is measured too
    assert len(seen["index"]) == 8 and set(seen["index"]) <= set(seen["anchors"])
    assert seen["dark"] == (scheme == "dark")
    dark_sheet = seen["background"] == "rgb(28, 27, 25)"
    assert dark_sheet == (scheme == "dark")
