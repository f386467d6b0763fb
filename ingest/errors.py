"""Broadsheet's exception tree.

    BroadsheetError                 every error we raise on purpose; its message is for a person
    ├── ConfigError                 the config file is missing or wrong (carries every problem)
    ├── StoreError                  the database cannot be opened, migrated or written
    ├── FeedError                   one feed failed this round; stored on the feed, the round goes on
    │   ├── FetchError              the network or the server: timeouts, HTTP errors, limits
    │   │   ├── HostNotFound        DNS could not resolve the feed's host name
    │   │   ├── PrivateAddress      a private address, refused unless [poll] allow_private
    │   │   ├── TooLarge            the body is over its size limit (poll.max_bytes, ...)
    │   │   └── FeedGone            HTTP 410: the feed is disabled with this reason
    │   └── ParseError              the bytes are not a feed we can read (HTML page, hostile XML, ...)
    └── DeliveryError               a digest could not be delivered (SMTP, disk); retried later

Digests add their own subclasses under DeliveryError; nothing outside this tree is raised on
purpose by Broadsheet's code.
"""

from __future__ import annotations


class BroadsheetError(Exception):
    """Base of every error Broadsheet raises on purpose."""


class ConfigError(BroadsheetError):
    """The config is invalid; ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(BroadsheetError):
    """The store cannot be opened, upgraded or written."""


class FeedError(BroadsheetError):
    """One feed failed; the message is stored on the feed for the admin."""


class FetchError(FeedError):
    """Fetching a feed failed (network, HTTP status, limits); ``status`` when the server answered."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class HostNotFound(FetchError):
    """The feed's host name did not resolve: a typo in the URL, or no network or DNS here."""


class PrivateAddress(FetchError):
    """The feed's host resolved to a loopback, private or link-local address, which is refused."""


class TooLarge(FetchError):
    """The body is (or announced it is) larger than its size limit; nothing more was read."""


class FeedGone(FetchError):
    """The server answered 410 Gone: the feed is disabled."""


class ParseError(FeedError):
    """The fetched bytes are not a feed we can read."""


class DeliveryError(BroadsheetError):
    """A digest could not be delivered; the ledger records it and a later run retries."""
