"""Generated news feeds for the benchmarks: the same bytes for the same (feed, entries) anywhere.

Feed ``n`` is RSS 2.0 with ``content:encoded`` when ``n`` is even and Atom 1.0 with escaped HTML
content when it is odd. Each entry carries about 2 KB of article HTML: a heading, paragraphs
with relative and absolute links (some with tracking parameters), curly quotes, dashes and
entities, a figure with an image and caption, and a tracking pixel. Standard library only: the
feed server imports this module in its own process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

EPOCH = datetime(2024, 5, 28, 12, 0, tzinfo=UTC)
SECTIONS = ("world", "politics", "business", "science", "culture", "sport", "technology")
_VOCABULARY = (
    "talks officials budget council harbour ministers report inquiry election market growth "
    "energy rail transport housing court ruling climate drought workers union strike museum "
    "exhibition league season vaccine research university students schools hospital"
)
WORDS = tuple(_VOCABULARY.split())


def kind(n: int) -> str:
    """'rss' or 'atom': the format of feed ``n``."""
    return "rss" if n % 2 == 0 else "atom"


def content_type(n: int) -> str:
    """The Content-Type the server sends for feed ``n``."""
    return "application/rss+xml" if kind(n) == "rss" else "application/atom+xml"


def feed_body(n: int, entries: int, shift: int = 0) -> bytes:
    """The bytes of feed ``n`` with ``entries`` entries, after ``shift`` newer ones were published.

    Each entry published pushes the oldest out: the feed keeps ``entries`` entries, numbered
    ``-shift`` (the newest) to ``entries - shift - 1``.
    """
    return rss(n, entries, shift) if kind(n) == "rss" else atom(n, entries, shift)


def _word(n: int, i: int) -> str:
    return WORDS[(n * 7 + i * 13) % len(WORDS)]


def _paragraph(site: str, n: int, e: int, p: int) -> str:
    w = [_word(n + e, p * 5 + k) for k in range(8)]
    return (
        f"<p>Officials said on Tuesday that the “{w[0]} {w[1]} would continue” despite the "
        f'setback, and that a <a href="/tag/{w[2]}/">new round of {w[3]}</a> was planned for '
        f"June; critics called it <em>a delay</em> — “another one” — while "
        f'<a href="https://{site}/{w[4]}/{e}-{p}?utm_source=rss&amp;utm_medium=feed">a report</a> '
        f"put the cost at €{e % 9 + 1}.{p}&nbsp;billion &amp; rising. The {w[5]} "
        f"committee’s chair said it was “too early to tell” how {w[6]} and {w[7]} would fare.</p>\n"
    )


def article(site: str, n: int, e: int) -> str:
    """About 2 KB of article HTML for entry ``e`` of feed ``n``."""
    return (
        f"<h2>{_word(n, e).capitalize()}: what we know</h2>\n"
        + "".join(_paragraph(site, n, e, p) for p in range(3))
        + f'<figure><img src="/uploads/2024/05/{n}-{e}.jpg" alt="Scene {e}" width="800" '
        f'height="450"><figcaption>People at the {_word(n, e + 1)} on Monday. '
        "Photo: Agency</figcaption></figure>\n"
        + _paragraph(site, n, e, 3)
        + f'<p>Read more: <a href="https://{site}/{_word(n, e + 2)}/">{_word(n, e + 2)}</a></p>'
        + f'<img src="https://pixel.wp.com/g.gif?blog={n}&amp;post={e}" width="1" height="1" alt="">'
    )


def _title(n: int, e: int) -> str:
    return f"{_word(n, e).capitalize()} {_word(n, e + 3)} “to continue” as {_word(n, e + 5)} waits"


def _when(n: int, e: int) -> datetime:
    return EPOCH - timedelta(hours=e * 3 + n % 5, minutes=(n * 11 + e) % 60)


def rss(n: int, entries: int, shift: int = 0) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator and categories."""
    site = f"news{n}.example"
    items = "".join(
        f"<item><title>{_title(n, e)}</title>"
        f"<link>https://{site}/{SECTIONS[e % 7]}/{e}/?utm_source=rss&amp;utm_campaign=feed</link>"
        f'<guid isPermaLink="false">https://{site}/?p={n * 1000 + e}</guid>'
        f"<pubDate>{format_datetime(_when(n, e))}</pubDate>"
        f"<dc:creator><![CDATA[Reporter {e % 7}]]></dc:creator>"
        f"<category><![CDATA[{SECTIONS[e % 7].capitalize()}]]></category>"
        "<category><![CDATA[News]]></category>"
        f"<description><![CDATA[<p>{_title(n, e)}: the story so far, in a sentence.</p>]]>"
        f"</description><content:encoded><![CDATA[{article(site, n, e)}]]></content:encoded>"
        "</item>\n"
        for e in range(-shift, entries - shift)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>News {n}</title><link>https://{site}/</link><description>Daily news</description>"
        f"<language>en</language>\n{items}</channel></rss>\n"
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def atom(n: int, entries: int, shift: int = 0) -> bytes:
    """Atom 1.0 with escaped HTML summary and content."""
    site = f"news{n}.example"
    items = "".join(
        f"<entry><title>{_title(n, e)}</title><id>tag:{site},2024:{e}</id>"
        f'<link rel="alternate" href="https://{site}/{SECTIONS[e % 7]}/{e}/?utm_source=atom"/>'
        f"<published>{_when(n, e).isoformat()}</published>"
        f"<updated>{(_when(n, e) + timedelta(minutes=30)).isoformat()}</updated>"
        f"<author><name>Reporter {e % 7}</name></author>"
        f'<category term="{SECTIONS[e % 7]}"/><category term="news"/>'
        f'<summary type="html">{_escape(f"<p>{_title(n, e)}: the story so far.</p>")}</summary>'
        f'<content type="html">{_escape(article(site, n, e))}</content></entry>\n'
        for e in range(-shift, entries - shift)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>News {n}</title><id>tag:{site},2024:feed</id>"
        f"<updated>{EPOCH.isoformat()}</updated>"
        f'<link rel="alternate" href="https://{site}/"/>\n{items}</feed>\n'
    ).encode()
