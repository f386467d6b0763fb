"""Pure: what a try at an article's text comes to, and the excerpt a digest shows with it.

An entry of a feed read in full (``[[feeds]] full_text = true``) starts "pending". A try ends
in one of three ways:

- "ok": the page gave a story longer than what the feed itself gave;
- a retry: the page could not be fetched this time (a timeout, the network, a 5xx or 429, DNS),
  so it stays "pending" for a later round, ``MAX_TRIES`` times at most;
- a fallback, final: the feed's summary stands, and the status says why, in words an admin
  can read in `broadsheet feeds`: "404" (any refusing HTTP status, by its number), "too large",
  "private address", "not HTML", "no article found", "shorter than the summary",
  "extraction failed", or after the last retry its reason ("timed out", "host not found",
  "server error", "fetch failed").
"""

from __future__ import annotations

from collections.abc import Mapping

from ingest.errors import FetchError, HostNotFound, PrivateAddress, TooLarge
from ingest.models import Article, ArticleOutcome, PendingArticle
from ingest.sanitize import clean_text, excerpt

OK = "ok"
PENDING = "pending"
EXTRACTION_FAILED = "extraction failed"
MAX_TRIES = 3  # fetches that failed for a passing reason before the summary stands for good
HTML_TYPES = ("text/html", "application/xhtml+xml")
_RETRIED_STATUSES = frozenset({408, 425, 429})


def judged(article: Article | None, pending: PendingArticle) -> ArticleOutcome:
    """The outcome of an extraction: the text, or why the feed's own summary is better."""
    if article is None or not article.text:
        return ArticleOutcome("no article found", pending.tries)
    if len(article.text.split()) <= len(clean_text(pending.feed_html).split()):
        return ArticleOutcome("shorter than the summary", pending.tries)
    return ArticleOutcome(OK, pending.tries, article.html, article.text)


def failed(error: FetchError, pending: PendingArticle) -> ArticleOutcome:
    """The outcome of a fetch that failed: a retry in a later round, or a fallback."""
    reason, passing = _reason(error)
    tries = pending.tries + 1
    if passing and tries < MAX_TRIES:
        return ArticleOutcome(PENDING, tries)
    return ArticleOutcome(reason, tries)


def _reason(error: FetchError) -> tuple[str, bool]:
    """A short reason for ``error``, and whether a later try may succeed."""
    if isinstance(error, TooLarge):
        return "too large", False
    if isinstance(error, PrivateAddress):
        return "private address", False
    if isinstance(error, HostNotFound):
        return "host not found", True
    status = error.status
    if status is not None:
        if status >= 500:
            return "server error", True
        return str(status), status in _RETRIED_STATUSES
    return ("timed out" if "timed out" in str(error) else "fetch failed"), True


def not_html(headers: Mapping[str, str], pending: PendingArticle) -> ArticleOutcome | None:
    """A fallback when the page is declared as something other than HTML (a PDF, an image)."""
    declared = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    media = declared.split(";")[0].strip().lower()
    if media and media not in HTML_TYPES:
        return ArticleOutcome("not HTML", pending.tries)
    return None


def without_headline(text: str, title: str) -> str:
    """The article's text without its first paragraph when that is the entry's own title."""
    first, _, rest = text.partition("\n\n")
    same = " ".join(first.split()).casefold() == " ".join(title.split()).casefold()
    return rest if same and rest else text


def lead_excerpt(feed_excerpt: str, full_text: str, length: int) -> str:
    """The excerpt to show: the feed's own, unless the article's opening says more."""
    if not full_text:
        return feed_excerpt
    opening = excerpt(" ".join(full_text.split()), length)
    return opening if len(opening) > len(feed_excerpt) else feed_excerpt
