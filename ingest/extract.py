"""An article page's story without its furniture: the only module importing trafilatura.

Bytes and headers in (never a URL: trafilatura never fetches here), the story out as HTML
cleaned by ``ingest.sanitize`` like any feed content, with its plain text: navigation, comments,
cookie banners, share buttons and related links are left behind. CPU-bound: it runs in the
parser pool (``ingest/parsing_pool.py``), off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import trafilatura

from ingest.models import Article
from ingest.sanitize import clean_text, sanitize_html

# Where one block of cleaned HTML ends and the next begins: a paragraph break in the text.
_BLOCK = re.compile(
    r"</?(?:p|h[1-6]|li|ul|ol|dl|dt|dd|blockquote|pre|table|tr|figure|figcaption|hr)\b[^>]*>"
    r"|<br\s*/?>",
    re.IGNORECASE,
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def extract_article(content: bytes, headers: Mapping[str, str], url: str) -> Article | None:
    """The story on an article page, sanitized; None when the page holds none (or only script)."""
    found = trafilatura.extract(
        _decoded(content, headers),
        url=url,
        output_format="html",
        include_comments=False,
        include_tables=True,
        include_images=True,
        include_links=True,
        favor_precision=True,
        deduplicate=False,
        with_metadata=False,
    )
    if not found:
        return None
    html = sanitize_html(found, url).strip()
    text = plain_paragraphs(html)
    return Article(html, text) if text else None


def plain_paragraphs(clean_html: str) -> str:
    """The plain text of sanitized HTML, one paragraph (or heading, list item) per block."""
    blocks = (clean_text(part) for part in _BLOCK.split(clean_html))
    return "\n\n".join(block for block in blocks if block)


def _decoded(content: bytes, headers: Mapping[str, str]) -> str | bytes:
    """The page as text when its Content-Type names a charset Python knows; else the bytes,
    whose encoding trafilatura finds in the page itself."""
    declared = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if match := _CHARSET.search(declared):
        try:
            return content.decode(match[1], "replace")
        except LookupError:
            pass
    return content
