"""The footer's links in a real browser: on a phone's screen, easy to tap, readable light and dark.

The digest is the hostile one of test_layout_browser (long URLs and words, a wide image, Arabic,
enough stories for headlines), now with the subscriber's links, so the longer footer is measured
where the page is under the most pressure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server import FeedServer
from test_layout_browser import CHROMIUM, hostile_entries, png
from test_layout_browser import browser as browser  # the shared Chromium fixture
from test_render import SETTINGS, golden_digest

from digests.links import links
from digests.render import BUDGET, render_html, sent_size, web_footer

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found on PATH (Debian: apt-get install chromium); .ci/run installs it",
)
LINKS = links("https://news.example.org", "s" * 43, "pub-ann")
MEASURE = """() => {
    const sheet = getComputedStyle(document.querySelector('.sheet')).backgroundColor;
    const rgb = text => text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255).map(
        v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4
    ).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const contrast = (a, b) => {
        const [x, y] = [luminance(rgb(a)), luminance(rgb(b))].sort((p, q) => q - p);
        return (x + 0.05) / (y + 0.05);
    };
    const footer = document.querySelector('td.footer');
    return {
        scrollWidth: document.documentElement.scrollWidth,
        links: [...footer.querySelectorAll('a')].map(a => {
            const box = a.getBoundingClientRect();
            return {text: a.textContent, left: box.left, right: box.right, top: box.top,
                    height: box.height, contrast: contrast(getComputedStyle(a).color, sheet)};
        }),
        textContrast: contrast(getComputedStyle(footer).color, sheet),
    };
}"""


def measure(chromium: Any, html: str, folder: Path, width: int, scheme: str) -> dict[str, Any]:
    """Open ``html`` at ``width`` px in ``scheme`` and measure the footer."""
    page = folder / "digest.html"
    page.write_text(html, encoding="utf-8")
    tab = chromium.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
    try:
        tab.goto(page.as_uri(), wait_until="load")
        seen: dict[str, Any] = tab.evaluate(MEASURE)
    finally:
        tab.close()
    return seen


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 390])
def test_the_footer_links_fit_a_phone_and_are_easy_to_tap_and_read(
    request: pytest.FixtureRequest, feed_server: FeedServer, tmp_path: Path, width: int, scheme: str
) -> None:
    chromium = request.getfixturevalue("browser")  # test_layout_browser's, shared
    image = feed_server.route("/wide.png", body=png(2000, 600), content_type="image/png")
    digest = golden_digest(
        hostile_entries(image), feeds=(), tags=("world",), max_items=200, max_per_feed=200
    )
    html = render_html(digest, SETTINGS, web_footer(LINKS, 42))
    assert sent_size(html) <= BUDGET
    seen = measure(chromium, html, tmp_path, width, scheme)
    assert seen["scrollWidth"] <= width
    found = seen["links"]
    assert [link["text"] for link in found] == [
        "Unsubscribe",
        "Preferences",
        "View in browser",
        "Past editions",
    ]
    for link in found:
        assert link["left"] >= 0 and link["right"] <= width, link
        assert link["height"] >= 24, link  # a finger's target (WCAG 2.2, 2.5.8)
        assert link["contrast"] >= 4.5, link  # WCAG AA for text
    assert seen["textContrast"] >= 4.5
    # two calm lines: managing the subscription, then reading
    first, second = {found[0]["top"], found[1]["top"]}, {found[2]["top"], found[3]["top"]}
    assert len(first) == len(second) == 1 and first != second
