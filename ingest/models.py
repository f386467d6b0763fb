"""Typed, frozen records that cross module boundaries in ingest (and on to digests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedSpec:
    """One ``[[feeds]]`` entry of the config, validated."""

    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    interval: float | None = None  # seconds; None means the [poll] default
    enabled: bool = True
    weight: float = 1.0  # how much its stories count in a digest's ranking (0 < weight <= 10)
    full_text: bool = False  # fetch each new entry's article page and extract its text


@dataclass(frozen=True)
class PollSettings:
    """The ``[poll]`` table, validated; durations in seconds, sizes in bytes."""

    interval: float = 1800.0
    concurrency: int = 20
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    timeout: float = 30.0
    max_bytes: int = 10_000_000  # "10MB"
    max_article_bytes: int = 5_000_000  # an article page of a feed read in full ("5MB")
    article_timeout: float = 15.0  # the limit for a whole article fetch
    max_redirects: int = 5
    user_agent: str = ""
    max_backoff: float = 86400.0
    max_cache_interval: float = 86400.0
    workers: int = 0  # parser processes; 0 means one per CPU
    lease: float = 300.0
    allow_private: bool = False  # connect to loopback, private and link-local addresses


@dataclass(frozen=True)
class Validators:
    """What we remember of a feed's last good response, sent back to make the next GET conditional."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A response we accepted: either a body to parse or 'not modified'."""

    url: str  # the URL that finally answered (after redirects)
    status: int
    headers: dict[str, str]
    content: bytes | None  # None when not modified (304)
    validators: Validators
    permanent_url: str | None = None  # set when every redirect on the way was permanent (301/308)
    min_interval: float | None = None  # from Cache-Control max-age / Expires, seconds

    @property
    def not_modified(self) -> bool:
        """True when the server said 304 and there is nothing to parse."""
        return self.content is None


@dataclass(frozen=True)
class Enclosure:
    """A media file attached to an entry."""

    url: str
    type: str | None = None
    length: int | None = None  # bytes
    duration: float | None = None  # seconds


@dataclass(frozen=True)
class Entry:
    """One normalised article, ready to store."""

    identity: str  # stable per feed: guid/id, else link, title and date, else title and content
    title: str  # plain text
    link: str | None  # canonical: absolute, tracking parameters removed
    guid: str | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None  # UTC; None when missing or absurd
    updated: datetime | None = None  # UTC
    summary_html: str = ""  # sanitized
    content_html: str = ""  # sanitized
    excerpt: str = ""  # plain text
    image: str | None = None
    image_width: int | None = None  # pixels, when the feed or the file name says
    tags: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    content_hash: str = ""  # changes when anything we show changes


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed's bytes gave: its own metadata and its entries."""

    title: str | None
    link: str | None
    entries: tuple[Entry, ...]
    warning: str | None = None  # feedparser's bozo message when entries were still found
    duplicates: int = 0  # entries dropped because their identity repeated inside the feed
    kind: str = ""  # "rss20", "atom10", "json11", ...
    min_interval: float | None = None  # seconds the feed asks between polls (<ttl>, sy:update*)
    # (key, identity) of every item of the document, in order, when its items can be parsed
    # apart next time (ingest/splice.py); None when not. With ``spliced`` the entries are only
    # the items whose key was not known: the others are stored already, unchanged.
    item_keys: tuple[tuple[str, str], ...] | None = None
    spliced: bool = False


@dataclass(frozen=True)
class FeedState:
    """A feed as the store knows it: its config and its fetch state."""

    id: int
    url: str  # where we fetch it now (a permanent redirect changes it)
    config_url: str  # as written in the config
    title: str | None = None
    tags: tuple[str, ...] = ()
    interval: float | None = None
    enabled: bool = True
    validators: Validators = field(default_factory=Validators)
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_poll: datetime | None = None
    disabled_reason: str | None = None
    declared_interval: float | None = None  # the feed's own minimum interval, last time it said
    failing_since: datetime | None = None  # when the failures in a row began (None: working)
    full_text: bool = False  # new entries get their article's text (see ingest/articles.py)
    # The (key, identity) pairs of the last body's items (ParsedFeed.item_keys) as the store
    # holds them, JSON text: decoded only where a body is parsed (``ingest.parsing_pool``), so a
    # feed that answers 304 or an unchanged body never pays for it.
    item_keys_json: str | None = None


@dataclass(frozen=True)
class Preferences:
    """A subscriber's own choices, made on the web; None everywhere means the config's value."""

    paused_until: datetime | None = None  # UTC; nothing is sent before it
    schedule: str | None = None  # as written: "daily 07:00", "weekly mon 07:00"
    timezone: str | None = None
    tags: tuple[str, ...] | None = None  # among the admin's tags only
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    email: bool | None = (
        None  # False: web archive only (the digest is made and recorded, not mailed)
    )


@dataclass(frozen=True)
class Standing:
    """One subscriber as the store knows them: who, whether they still want digests, their choices."""

    email: str  # lower-cased: the ledger's name for them
    address: str  # as the config writes it
    public_id: str  # random; what their links carry
    in_config: bool
    state: str  # "active" | "unsubscribed"
    unsubscribed_at: datetime | None
    unsubscribed_via: str | None  # "one-click" | "web" | "command"
    preferences: Preferences
    created_at: datetime


@dataclass(frozen=True)
class Article:
    """The story an article page holds, extracted: sanitized HTML and its plain text."""

    html: str
    text: str  # plain; paragraphs apart by a blank line


@dataclass(frozen=True)
class PendingArticle:
    """An entry waiting for its article's text: where the page is and what the feed gave."""

    entry_id: int
    link: str
    tries: int  # failed tries so far
    feed_html: str  # the entry's content as the feed gave it (sanitized), else its summary


@dataclass(frozen=True)
class ArticleOutcome:
    """What to store after trying an article: its text, a retry, or why the summary stands."""

    status: str  # "ok", "pending" (tried again in a later round) or the reason it fell back
    tries: int  # failed tries, this one included
    html: str = ""
    text: str = ""
