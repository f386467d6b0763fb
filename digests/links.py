"""Subscribers' links: signed tokens, one per subscriber and purpose, and the URLs that carry them.

A token names a subscriber by their ``public_id`` (a random string the store gives each
subscriber, never their address or row number) and is signed with the ``[web]`` key (HMAC via
itsdangerous), salted with its purpose, so an unsubscribe token does not open the preferences
page and a token changed by one character opens nothing. Tokens do not expire: one-click
unsubscribe must keep working for as long as the mail sits in an inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
ARCHIVE = "archive"
PURPOSES = (UNSUBSCRIBE, PREFERENCES, ARCHIVE)

# The path each purpose's pages live under: /u/TOKEN, /p/TOKEN, /a/TOKEN[/ID].
PATHS = {UNSUBSCRIBE: "u", PREFERENCES: "p", ARCHIVE: "a"}


def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}; expected one of {PURPOSES}")
    return URLSafeSerializer(secret, salt=f"broadsheet.{purpose}")


def token(secret: str, public_id: str, purpose: str) -> str:
    """The URL-safe token that opens ``purpose``'s page for the subscriber ``public_id``."""
    return str(_serializer(secret, purpose).dumps(public_id))


def read_token(secret: str, value: str, purpose: str) -> str | None:
    """The ``public_id`` a token carries; None when it is tampered, truncated or for another purpose."""
    try:
        found = _serializer(secret, purpose).loads(value)
    except (BadData, UnicodeError, ValueError):
        return None
    return found if isinstance(found, str) and found else None


@dataclass(frozen=True)
class Links:
    """One subscriber's links, as a digest carries them."""

    unsubscribe: str  # the one-click URL (List-Unsubscribe) and the footer's link
    preferences: str
    archive: str

    def edition(self, delivery_id: int) -> str:
        """The web copy of one delivered digest ("view in browser")."""
        return f"{self.archive}/{delivery_id}"


def links(base_url: str, secret: str, public_id: str) -> Links:
    """The subscriber ``public_id``'s links under ``base_url`` (no trailing slash)."""
    base = base_url.rstrip("/")

    def url(purpose: str) -> str:
        return f"{base}/{PATHS[purpose]}/{token(secret, public_id, purpose)}"

    return Links(url(UNSUBSCRIBE), url(PREFERENCES), url(ARCHIVE))
