"""The subscribers' pages in a real browser, reached from a digest as its reader receives it.

Headless Chromium (the system's ``chromium``, driven by Playwright) opens the HTML of a digest
that aiosmtpd received and follows its links to `broadsheet web`: unsubscribe and come back,
change preferences that the next `broadsheet digest --now` then follows, read past editions.
Every page is measured at 320, 390 and 1280 px, light and dark: nothing wider than the screen,
one heading, every field labelled, text contrast at WCAG AA. With BROADSHEET_SCREENSHOTS=DIR
the measuring test also saves a screenshot of each page there, to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from server import FeedServer
from smtp import SmtpServer
from test_layout_browser import CHROMIUM
from test_layout_browser import browser as browser  # the shared Chromium fixture
from web import ANN, BOB, WebServer, command, configure, mailed, news, page_links, standing

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found on PATH (Debian: apt-get install chromium); .ci/run installs it",
)
WIDTHS = (320, 390, 1280)
MEASURE = """() => {
    const rgb = text => (text.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
        const linear = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const backdrop = element => {
        for (let el = element; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const weak = [];
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || el.getClientRects().length === 0 || el.closest('option')) continue;
        const style = getComputedStyle(el);
        const [high, low] = [luminance(rgb(style.color)), luminance(backdrop(el))]
            .sort((a, b) => b - a);
        const ratio = (high + 0.05) / (low + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (parseInt(style.fontWeight) >= 700 && size >= 18.66);
        if (ratio < (large ? 3 : 4.5)) weak.push(`${el.tagName}.${el.className} ${ratio.toFixed(2)}`);
    }
    const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
    const wide = [...document.querySelectorAll('body *')].filter(
        el => el.getBoundingClientRect().right > window.innerWidth + 0.5 && el.offsetParent);
    return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        wide: wide.slice(0, 5).map(el => el.outerHTML.slice(0, 120)),
        weak: weak.slice(0, 10),
        unlabelled: fields.filter(el => el.labels.length === 0).map(el => el.name),
        headings: document.querySelectorAll('h1').length,
        background: luminance(backdrop(document.querySelector('.sheet'))),
        scripts: document.scripts.length,
    };
}"""


@dataclass
class Delivered:
    """A digest delivered to Ann and Bob, its links pointing at a running `broadsheet web`."""

    config: Path
    storage_url: str
    server: WebServer
    smtp: SmtpServer

    def mail(self, to: str = ANN, nth: int = -1) -> EmailMessage:
        """The ``nth`` message ``to`` received."""
        return [m for m in self.smtp.messages if m["To"] == to][nth]

    def html(self, to: str = ANN, nth: int = -1) -> str:
        """The HTML part of that message."""
        return str(self.mail(to, nth).get_body(("html",)).get_content())  # type: ignore[union-attr]

    def deliver(self) -> str:
        """`broadsheet digest --now`; its output."""
        return command(self.config, "digest", "--now")


@contextmanager
def delivered(
    tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer, feeds: list[dict[str, Any]]
) -> Iterator[Delivered]:
    """Poll ``feeds``, mail the first digests, serve the pages they link to."""
    storage_url = f"sqlite:///{tmp_path / 'store.db'}"
    server, config = mailed(tmp_path, storage_url, feeds, smtp.port)
    with server:
        yield Delivered(config, storage_url, server, smtp)


def link(html: str, base: str, pattern: str) -> str:
    """The digest's link whose path (after ``base``) matches ``pattern`` (e.g. ``/u/[^/"]+``)."""
    found = re.findall(rf'href="({re.escape(base)}{pattern})"', html)
    assert found, f"the digest carries no link to {pattern} under {base}"
    return str(found[0])


def follow(page: Any, html: str, base: str, pattern: str) -> None:
    """Click the digest's link whose path matches ``pattern``."""
    page.click(f'a[href="{link(html, base, pattern)}"]')


def open_mail(browser: Any, html: str, tmp_path: Path, **options: Any) -> Any:
    """A page showing the received digest, as a mail client would."""
    path = tmp_path / "received.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(**options)
    page.goto(path.as_uri())
    return page


def test_a_reader_unsubscribes_from_the_digest_and_comes_back(
    browser: Any, tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    with delivered(tmp_path, feed_server, smtp_server, news(feed_server)) as sent:
        html = sent.html()
        page = open_mail(browser, html, tmp_path)
        follow(page, html, sent.server.url, r"/u/[^/\"]+")
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == "Unsubscribe"
        assert standing(sent.storage_url, ANN).state == "active"  # opening it changed nothing
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector("text=You are unsubscribed")
        gone = standing(sent.storage_url, ANN)
        assert (gone.state, gone.unsubscribed_via) == ("unsubscribed", "web")
        page.get_by_role("button", name="Subscribe again").click()
        page.wait_for_selector("text=You are subscribed again")
        assert standing(sent.storage_url, ANN).state == "active"
        page.close()


def test_preferences_chosen_in_the_browser_shape_the_next_digest(
    browser: Any, tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    generated = [
        {"url": feed_server.gen_url(1), "tags": ["world"]},
        {"url": feed_server.gen_url(2), "tags": ["business"]},
    ]  # their first poll's items are old: backlog, kept out of the first digest
    with delivered(tmp_path, feed_server, smtp_server, news(feed_server) + generated) as sent:
        html = sent.html()
        page = open_mail(browser, html, tmp_path)
        follow(page, html, sent.server.url, r"/p/[^/\"]+")
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == "Your preferences"
        page.get_by_label("business").check()
        page.get_by_label("Leave out stories mentioning").fill("/Story 2\\.3 /")
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_selector("text=Your choices are saved.")
        assert page.get_by_label("business").is_checked()
        assert not page.get_by_label("world").is_checked()
        page.close()

        feed_server.gen_revision = 1  # new stories in both generated feeds
        command(sent.config, "poll", "--all")  # not due yet by their interval
        assert "2 emailed" in sent.deliver()
        ann, bob = sent.html(ANN), sent.html(BOB)
        # Ann chose business and left out story 2.3; Bob, who chose nothing, gets the world too.
        assert titles_in(ann) == [f"Story 2.{n} (r1)" for n in (4, 2, 1, 0)]
        assert "Story 1.0 (r1)" in titles_in(bob)


def test_the_archive_shows_exactly_the_stories_that_were_sent(
    browser: Any, tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    with delivered(tmp_path, feed_server, smtp_server, news(feed_server)) as sent:
        html = sent.html()
        sent_titles = titles_in(html)
        assert len(sent_titles) > 3
        page = open_mail(browser, html, tmp_path)
        follow(page, html, sent.server.url, r"/a/[^/\"]+")
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == "Past editions"
        editions = page.locator("ul.list a.title")
        assert editions.count() == 1
        editions.first.click()
        page.wait_for_selector(".masthead")
        shown = page.locator("h2.title").all_inner_texts()
        assert [t.strip() for t in shown] == sent_titles
        view = link(html, sent.server.url, r"/a/[^/\"]+/\d+")
        assert page.url == view  # "view in browser" is this very page
        page.close()


def titles_in(html: str) -> list[str]:
    """A digest's story titles, in reading order."""
    import html as entities

    found = re.findall(r'<h2 class="title"[^>]*>(?:<a [^>]*>)?([^<]+)', html)
    return [entities.unescape(title).strip() for title in found]


def test_every_page_fits_a_phone_reads_in_the_dark_and_is_labelled(
    browser: Any, tmp_path: Path, feed_server: FeedServer
) -> None:
    storage_url = f"sqlite:///{tmp_path / 'store.db'}"
    config = configure(tmp_path, storage_url, feeds=news(feed_server))
    command(config, "poll")
    shots = os.environ.get("BROADSHEET_SCREENSHOTS")
    with WebServer(config) as server:
        ann, bob = (page_links(server.url, storage_url, who) for who in (ANN, BOB))
        pages = {
            "unsubscribe": (ann.unsubscribe, None),
            "preferences": (ann.preferences, None),
            "preferences-errors": (ann.preferences, _refused),
            "archive": (ann.archive, None),
            "unsubscribed": (bob.unsubscribe, _unsubscribe),
            "not-found": (f"{server.url}/u/not-a-token", None),
        }
        for scheme in ("light", "dark"):
            for width in WIDTHS:
                context = browser.new_context(
                    viewport={"width": width, "height": 800}, color_scheme=scheme
                )
                page = context.new_page()
                for name, (url, action) in pages.items():
                    page.goto(url)
                    if action is not None:
                        action(page)
                    where = f"{name} at {width} px, {scheme}"
                    measured = page.evaluate(MEASURE)
                    assert measured["scrollWidth"] <= measured["innerWidth"], where
                    assert not measured["wide"], where
                    assert not measured["weak"], f"{where}: too little contrast"
                    assert not measured["unlabelled"], where
                    assert measured["headings"] == 1 and measured["scripts"] == 0, where
                    dark = measured["background"] < 0.05
                    assert dark == (scheme == "dark"), where
                    if shots:
                        Path(shots).mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=f"{shots}/{name}-{width}-{scheme}.png", full_page=True)
                context.close()


def _refused(page: Any) -> None:
    """Post the preferences form with a rule that is not a valid expression."""
    page.get_by_label("Leave out stories mentioning").fill("/[unclosed/")
    page.get_by_label("Pause until a date").check()
    page.get_by_label("Digests start again on").fill("2001-01-01")
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_selector("text=Nothing was saved")


def _unsubscribe(page: Any) -> None:
    """Press the unsubscribe page's button (once: afterwards the page offers the way back)."""
    if page.get_by_role("button", name="Unsubscribe").count():
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector("text=You are unsubscribed")
