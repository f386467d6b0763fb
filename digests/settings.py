"""Typed digest settings, built and validated by ``broadsheet.config``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# How a digest is laid out (a subscriber's ``order``): best story first, or grouped by tag.
RANKED = "ranked"
BY_TAG = "by_tag"
ORDERS = (RANKED, BY_TAG)


@dataclass(frozen=True)
class SmtpSettings:
    """The ``[smtp]`` table; the password comes from the environment variable it names."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str = ""
    password_env: str = "BROADSHEET_SMTP_PASSWORD"
    sender: str = "Broadsheet <digest@localhost>"  # the ``from`` key
    reply_to: str = ""
    timeout: float = 30.0  # the whole conversation, except the wait for the final reply
    data_timeout: float = 600.0  # the wait for the reply to the end of DATA (RFC 5321 4.5.3.2)
    # DKIM signing (all three or none): d=, s= and the variable holding the PEM private key.
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_env: str = ""

    @property
    def password(self) -> str:
        """The password read from ``password_env`` at the moment of use ('' when unset)."""
        import os

        return os.environ.get(self.password_env, "") if self.password_env else ""

    @property
    def dkim_key(self) -> str:
        """The DKIM private key (PEM) read from ``dkim_key_env`` at the moment of use."""
        import os

        return os.environ.get(self.dkim_key_env, "") if self.dkim_key_env else ""


@dataclass(frozen=True)
class DigestSettings:
    """The ``[digests]`` table."""

    title: str = "The Broadsheet"
    output_dir: Path = Path("out")
    send_empty: bool = False
    templates: Path | None = None
    excerpt_length: int = 300
    list_id: str = "digest.broadsheet.invalid"
    unsubscribe: str = ""  # mailto: address for List-Unsubscribe; default is the from address
    retry_base: float = 300.0  # seconds before the first retry of a failed delivery
    retry_max: float = 21600.0


@dataclass(frozen=True)
class WebSettings:
    """The ``[web]`` table: where ``broadsheet web`` listens and the key that signs links."""

    base_url: str = ""  # where the pages are reachable from outside; empty: no web links
    host: str = "127.0.0.1"
    port: int = 8080
    secret_env: str = "BROADSHEET_SECRET_KEY"

    @property
    def secret(self) -> str:
        """The signing key read from ``secret_env`` at the moment of use ('' when unset)."""
        import os

        return os.environ.get(self.secret_env, "") if self.secret_env else ""

    @property
    def enabled(self) -> bool:
        """Whether digests carry web links (one-click unsubscribe, preferences, archive)."""
        return bool(self.base_url)


@dataclass(frozen=True)
class Subscriber:
    """One ``[[subscribers]]`` entry."""

    email: str
    schedule: str  # as written: "daily 07:00", "weekly mon 07:00" or a cron expression
    cron: str  # the schedule as a five-field cron expression
    timezone: str = "UTC"
    name: str = ""
    tags: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    deliver: tuple[str, ...] = ("email",)
    max_per_feed: int = 10
    max_items: int = 100
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    budget: float = 0.0  # reading time in seconds the stories in full may take; 0: no budget
    boost: tuple[str, ...] = ()  # words or /regex/ that lift a story (see digests/rank.py)
    order: str = RANKED  # RANKED: best first; BY_TAG: grouped by tag and feed, ranked inside
    full_text: bool = False  # Markdown digests carry the whole article when it was read in full
    # Why this subscriber gets nothing now ("unsubscribed ...", "paused until ..."); '' to send.
    hold: str = ""
    # The random id the store gave this subscriber, which their signed links carry ('' unknown).
    public_id: str = ""

    @property
    def key(self) -> str:
        """The ledger's name for this subscriber (the address, lower-cased)."""
        return self.email.lower()


@dataclass(frozen=True)
class AlertSettings:
    """The ``[alerts]`` table: who hears about failing and quiet feeds, and when."""

    email: tuple[str, ...] = ()  # bare addresses; none: no alerts are sent
    after: float = 21600.0  # "6h": a feed failing longer than this is reported
    quiet: float | None = None  # a feed with nothing new for this long is reported; None: off

    @property
    def enabled(self) -> bool:
        """Whether alerts are mailed at all."""
        return bool(self.email)
