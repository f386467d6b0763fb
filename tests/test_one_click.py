"""Subscribers' links in digests: one-click List-Unsubscribe headers, and the footers' links.

With ``[web] base_url`` a digest carries the subscriber's signed links: in the headers (RFC 8058:
the https link first, the mailto: second, and List-Unsubscribe-Post) and in the footers of the
HTML, text and Markdown. Without it, the message is exactly what it was before links existed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from smtp import SmtpServer
from test_render import GOLDEN, REGEN, SETTINGS, golden_digest
from test_render_size import DEFAULTS, digest_of

from broadsheet import config
from digests import outbox
from digests.digest import Digest
from digests.links import ARCHIVE, PREFERENCES, UNSUBSCRIBE, Links, links, read_token
from digests.render import (
    BUDGET,
    fit,
    render_html,
    render_markdown,
    render_text,
    sent_size,
    web_footer,
)
from digests.settings import SmtpSettings

SECRET = "s" * 43
BASE = "https://news.example.org"
LINKS = links(BASE, SECRET, "pub-ann")
MAILTO = "mailto:desk@news.example.org?subject=unsubscribe"
NOW = datetime(2022, 3, 31, 5, 0, tzinfo=UTC)
EDITION = 42
FOOTER = web_footer(LINKS, EDITION)


def plain_smtp(port: int) -> SmtpSettings:
    """[smtp] for the test server, as the config gives it."""
    table = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "The Desk <desk@news.example.org>",
    }
    return config.parse({"smtp": table}, Path("broadsheet.toml")).smtp


def mail_digest(
    server: SmtpServer, digest: Digest, found: Links | None, delivery_id: int | None = None
) -> bytes:
    """Pack and mail ``digest`` through the test server; the bytes it received."""
    packed = outbox.pack(
        digest,
        "<digest.1@news.example.org>",
        SETTINGS,
        list_unsubscribe=MAILTO,
        now=NOW,
        links=found,
        delivery_id=delivery_id,
    )
    outbox.send(packed, plain_smtp(server.port), Path("unused"), lambda: NOW)
    return bytes(server.sink.envelopes[-1].original_content)


def head(received: bytes) -> str:
    """The top-level header block as received, the MIME boundary masked."""
    block = received.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return re.sub(r'boundary="[^"]+"', 'boundary="*"', block)


# Headers ---------------------------------------------------------------------------------------


def test_one_click_headers_arrive_with_the_https_link_first(smtp_server: SmtpServer) -> None:
    received = mail_digest(smtp_server, golden_digest(), LINKS, EDITION)
    (message,) = smtp_server.messages
    uris = re.findall(r"<([^<>]+)>", message["List-Unsubscribe"])
    assert uris == [LINKS.unsubscribe, MAILTO]
    assert uris[0].startswith(f"{BASE}/u/")
    assert read_token(SECRET, uris[0].rsplit("/", 1)[1], UNSUBSCRIBE) == "pub-ann"
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    # On the wire: each URI whole, one per line; never an RFC 2047 encoded word.
    lines = head(received).split("\r\n")
    at = lines.index(f"List-Unsubscribe: <{LINKS.unsubscribe}>,")
    assert lines[at + 1 : at + 3] == [
        f" <{MAILTO}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    assert "=?" not in "".join(lines[at : at + 3])


def test_without_links_the_headers_are_exactly_as_before(smtp_server: SmtpServer) -> None:
    received = mail_digest(smtp_server, golden_digest(), None)
    assert head(received) == "\r\n".join(
        [
            "From: The Desk <desk@news.example.org>",
            "To: Ann <ann@example.org>",
            "Subject: The Broadsheet =?utf-8?b?4oCU?= Thu 31 Mar 2022",
            "Date: Thu, 31 Mar 2022 05:00:00 +0000",
            "Message-ID: <digest.1@news.example.org>",
            "List-Id: <digest.broadsheet.invalid>",
            f"List-Unsubscribe: <{MAILTO}>",
            "Auto-Submitted: auto-generated",
            "Precedence: list",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative;",
            ' boundary="*"',
        ]
    )


def test_a_long_base_url_still_gives_whole_uris(smtp_server: SmtpServer) -> None:
    base = "https://digests.newsroom.example.org/" + "/".join(["path"] * 20)
    long = links(base, SECRET, "pub-ann")
    mail_digest(smtp_server, golden_digest(), long, EDITION)
    (message,) = smtp_server.messages
    assert re.findall(r"<([^<>]+)>", message["List-Unsubscribe"]) == [long.unsubscribe, MAILTO]


# Footers ---------------------------------------------------------------------------------------


# Where each rendering's footer starts: what comes before it is the golden digest without links.
FOOTERS = {
    "digest.html": '<tr><td class="pad footer"',
    "digest.txt": "\n-- \n",
    "digest.md": "\n---\n",
}


@pytest.mark.parametrize(
    ("name", "render"),
    [("digest.html", render_html), ("digest.txt", render_text), ("digest.md", render_markdown)],
)
def test_golden_footer_with_links(name: str, render: object) -> None:
    rendered = render(golden_digest(), SETTINGS, FOOTER)  # type: ignore[operator]
    before, mark, rest = rendered.partition(FOOTERS[name])
    assert mark, f"no footer in {name}"
    footer, end, after = rest.partition("</td></tr>\n") if name.endswith("html") else (rest, "", "")
    golden = (GOLDEN / name).read_text(encoding="utf-8")
    assert golden.startswith(before + mark) and golden.endswith(end + after)
    path = GOLDEN / "with-links" / f"footer.{name.rpartition('.')[2]}"
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes((mark + footer + end).encode("utf-8"))
    assert mark + footer + end == path.read_bytes().decode("utf-8")


def footer_links(html: str) -> list[tuple[str, str]]:
    """The footer's links: (text, href)."""
    footer = BeautifulSoup(html, "html.parser").select_one("td.footer")
    assert footer is not None
    return [(" ".join(a.get_text().split()), str(a["href"])) for a in footer.select("a")]


def test_the_html_footer_links_the_subscribers_pages() -> None:
    html = render_html(golden_digest(), SETTINGS, FOOTER)
    assert footer_links(html) == [
        ("Unsubscribe", LINKS.unsubscribe),
        ("Preferences", LINKS.preferences),
        ("View in browser", f"{LINKS.archive}/{EDITION}"),
        ("Past editions", LINKS.archive),
    ]
    for purpose, url in [(PREFERENCES, LINKS.preferences), (ARCHIVE, LINKS.archive)]:
        assert read_token(SECRET, url.rsplit("/", 1)[1], purpose) == "pub-ann"
    assert "To unsubscribe, write to" not in html


def test_without_a_ledger_row_there_is_no_view_in_browser_link() -> None:
    html = render_html(golden_digest(), SETTINGS, web_footer(LINKS))
    assert [text for text, _ in footer_links(html)] == [
        "Unsubscribe",
        "Preferences",
        "Past editions",
    ]
    assert "View in browser" not in render_text(golden_digest(), SETTINGS, web_footer(LINKS))


def test_without_links_the_footers_keep_the_mailto_line() -> None:
    digest = golden_digest()
    html = render_html(digest, SETTINGS)
    assert footer_links(html) == [
        (
            "unsubscribe@broadsheet.example",
            "mailto:unsubscribe@broadsheet.example?subject=Unsubscribe",
        )
    ]
    assert render_html(digest, SETTINGS, web_footer(None, EDITION)) == html
    text = render_text(digest, SETTINGS)
    assert "To unsubscribe, write to unsubscribe@broadsheet.example" in text
    assert "Unsubscribe:" not in text and "Past editions" not in render_markdown(digest, SETTINGS)


def test_the_text_footer_lists_each_link_on_its_own_line() -> None:
    text = render_text(golden_digest(), SETTINGS, FOOTER)
    signature = text.split("\n-- \n", 1)[1]
    assert signature.endswith(
        f"\n\nUnsubscribe:      {LINKS.unsubscribe}\n"
        f"Preferences:      {LINKS.preferences}\n"
        f"View in browser:  {LINKS.archive}/{EDITION}\n"
        f"Past editions:    {LINKS.archive}\n"
    )
    assert "write to" not in signature


def test_markdown_links_the_archive_and_keeps_the_mailto_line() -> None:
    markdown = render_markdown(golden_digest(), SETTINGS, FOOTER)
    assert f"[Past editions]({LINKS.archive})" in markdown
    assert LINKS.unsubscribe not in markdown and LINKS.preferences not in markdown
    assert "To unsubscribe, write to <unsubscribe@broadsheet.example>" in markdown


# Size -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [120, 2000])
def test_the_size_budget_holds_with_the_footer_links(count: int) -> None:
    digest = digest_of(count)
    html = render_html(digest, DEFAULTS, FOOTER)
    assert sent_size(html) <= BUDGET
    assert [text for text, _ in footer_links(html)][-1] == "Past editions"
    shown = fit(digest, DEFAULTS, FOOTER)
    assert len(shown.items) + len(shown.brief) + len(shown.unlisted) == count
    text = render_text(digest, DEFAULTS, FOOTER)
    listed = {item.entry.link for item in (*shown.items, *shown.brief)}
    assert set(re.findall(r"https://feed\d+\.example/2022/[^\s]+", text)) == listed


def test_the_digest_recorded_is_the_one_the_email_showed() -> None:
    digest = digest_of(2000)
    packed = outbox.pack(
        digest,
        "<digest.1@news.example.org>",
        DEFAULTS,
        list_unsubscribe=MAILTO,
        now=NOW,
        links=LINKS,
        delivery_id=EDITION,
    )
    shown = outbox.shown(packed, DEFAULTS)
    assert packed.letter is not None
    soup = BeautifulSoup(packed.letter.html, "html.parser")
    assert {a["href"] for a in soup.select(".title a")} == {i.entry.link for i in shown.items}
    assert {a["href"] for a in soup.select(".brief a")} == {i.entry.link for i in shown.brief}
