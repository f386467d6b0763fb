"""A digest on its way out: rendered for each of its channels first, then mailed and written.

Rendering comes before the claim on the window is renewed, so that between the renewal and the
send only the send itself takes time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from digests import mail, markdown_files
from digests.digest import Digest
from digests.links import Links
from digests.render import (
    fit,
    render_html,
    render_markdown,
    render_text,
    subject,
    web_footer,
)
from digests.settings import DigestSettings, SmtpSettings


@dataclass(frozen=True)
class Outbox:
    """A digest rendered for its subscriber's channels: the email, the Markdown, or both."""

    digest: Digest
    letter: mail.Letter | None
    markdown: str | None
    links: Links | None = None  # the subscriber's web links, when [web] base_url is set
    delivery_id: int | None = None  # the ledger row: "view in browser" opens /a/TOKEN/ID


@dataclass(frozen=True)
class Sent:
    """What went out: the channels, and the Markdown file written (if any)."""

    channels: tuple[str, ...]
    path: Path | None


def pack(
    digest: Digest,
    message_id: str,
    settings: DigestSettings,
    *,
    list_unsubscribe: str,
    now: datetime,
    links: Links | None = None,
    delivery_id: int | None = None,
) -> Outbox:
    """Render ``digest`` for each channel its subscriber takes.

    With ``links`` the footers carry them (``delivery_id`` gives "view in browser") and the
    e-mail offers one-click unsubscribing: the link first, then ``list_unsubscribe`` (mailto:).
    """
    channels = digest.subscriber.deliver
    footer = web_footer(links, delivery_id)
    letter = None
    if "email" in channels:
        letter = mail.Letter(
            to_email=digest.subscriber.email,
            to_name=digest.subscriber.name,
            subject=subject(digest),
            text=render_text(digest, settings, footer),
            html=render_html(digest, settings, footer),
            message_id=message_id,
            date=now,
            list_id=settings.list_id,
            unsubscribe=(links.unsubscribe, list_unsubscribe) if links else (list_unsubscribe,),
        )
    text = render_markdown(digest, settings, footer) if "markdown" in channels else None
    return Outbox(digest, letter, text, links, delivery_id)


def shown(outbox: Outbox, settings: DigestSettings) -> Digest:
    """The digest as it went out: the stories the e-mail's size budget let in (``render.fit``)."""
    return fit(outbox.digest, settings, web_footer(outbox.links, outbox.delivery_id))


def send(
    outbox: Outbox, smtp: SmtpSettings, output_dir: Path, clock: Callable[[], datetime]
) -> Sent:
    """Write the Markdown file, then mail the letter; DeliveryError when either fails."""
    channels: list[str] = []
    path = None
    if outbox.markdown is not None:
        window, subscriber = outbox.digest.window, outbox.digest.subscriber
        local_end = window.end.astimezone(ZoneInfo(subscriber.timezone))
        path = markdown_files.write(
            output_dir, subscriber.email, local_end, window.start, outbox.markdown
        )
        channels.append("markdown")
    if outbox.letter is not None:
        letter = replace(outbox.letter, date=clock())
        mail.send(mail.build(letter, smtp), smtp)
        channels.append("email")
    return Sent(tuple(channels), path)
