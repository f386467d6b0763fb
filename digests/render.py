"""A digest as an HTML e-mail, its plain-text part, or a Markdown file (templates/).

Templates are jinja2 with StrictUndefined: a name the template uses but the digest lacks is an
error, not an empty string. HTML templates autoescape; the text and Markdown ones do not (they
are not HTML) and escape Markdown with the ``md`` filter instead. A folder named by
``DigestSettings.templates`` is searched before ours, so an admin can override one template
and keep the others.

Items show the entry's plain-text excerpt, cut at a word, rather than its stored summary HTML:
it reads the same in every mail client, in the text part and in Markdown, and gives a publisher's
markup (tables, embeds, headings) no say over the digest's layout. Stored HTML was sanitized at
ingest; a custom template may still show it through the ``stored_html`` filter, the one place
where text is marked safe.

The CSS in the HTML template's <style> blocks is inlined into style attributes when
rendering (some mail clients drop <style> blocks): what the page needs to hold together (widths,
wrapping, image sizes, colours of the frame). What every story repeats (its type and colours)
stays in the head in a block marked ``data-css-inline="keep"`` (not inlined), with the dark-mode and
narrow-screen media queries: inlined, it would cost more bytes than the stories themselves, and
a client dropping it still shows plain, readable stories.

Size. Gmail clips a message whose HTML passes about 102 KB. The HTML part, measured as sent
(quoted-printable), is kept within ``BUDGET``: when the whole digest does not fit, the first stories in reading order are shown in
full within ``FULL_SHARE`` of it (more when every other story then fits as a headline), the
next ones as headlines with links, and the rest are counted ("N more stories"). The text and
Markdown parts show the same stories (``fit``).

Links. Given the footer of the subscriber's ``Links`` (``web_footer``, when ``[web] base_url``
is set), the HTML and text footers link Unsubscribe, Preferences, View in browser (with a
``delivery_id``) and Past editions, and the Markdown the past editions; with ``NO_LINKS`` the
footers give the mailto: address. Templates receive it as ``links``. The footer counts against
the budget, so ``fit`` takes the same footer as the renderers.
"""

from __future__ import annotations

import quopri
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2
from markupsafe import Markup

from digests.digest import Digest, shorten
from digests.links import Links
from digests.settings import DigestSettings, Subscriber
from ingest.errors import DeliveryError
from ingest.sanitize import excerpt as cut_excerpt

TEMPLATES = Path(__file__).parent / "templates"
WIDTH = 72
BUDGET = 92_000  # bytes of the HTML part as sent (quoted-printable), under Gmail's ~102 KB clip
FULL_SHARE = 0.8  # of the budget for stories in full, once some must be headlines
_HEADLINE_BYTES = 100  # at least, with its link: more headlines than BUDGET / 100 cannot fit
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_CRON_DAYS = {
    **{name[:3].lower(): name for name in _WEEKDAYS},
    **{str(n): _WEEKDAYS[n % 7] for n in range(8)},
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]<>|]|&(?=#?\w+;)")
_MARKDOWN_BLOCK = re.compile(r"^(?:([#+-])|(\d+)([.)]))")
_URL_ESCAPES = str.maketrans({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"})
_INLINED_STYLE = re.compile(r'<style(?![^>]*data-css-inline="keep")[^>]*>(.*?)</style>\n?', re.S)
_NBSP = "\u00a0"
_SPACES = re.compile(r"[ \t\n\r\f\v]+")  # not the no-break space


class RenderError(DeliveryError):
    """A digest could not be rendered, nearly always because of a custom template."""


@dataclass(frozen=True)
class Footer:
    """The subscriber's pages as a footer links them; empty strings without ``[web]`` links."""

    unsubscribe: str = ""
    preferences: str = ""
    edition: str = ""  # this digest on the web ("view in browser"), once it has a ledger row
    archive: str = ""  # past editions


NO_LINKS = Footer()  # the footers give the mailto: address


def web_footer(links: Links | None, delivery_id: int | None = None) -> Footer:
    """The footer for ``links`` (None: no [web] links); ``delivery_id`` adds "view in browser"."""
    if links is None:
        return NO_LINKS
    edition = links.edition(delivery_id) if delivery_id is not None else ""
    return Footer(links.unsubscribe, links.preferences, edition, links.archive)


def render_html(digest: Digest, settings: DigestSettings, footer: Footer = NO_LINKS) -> str:
    """The digest as a complete HTML e-mail body with its CSS inlined, within ``BUDGET``."""
    return _fitted(digest, settings, footer)[1]


def render_text(digest: Digest, settings: DigestSettings, footer: Footer = NO_LINKS) -> str:
    """The digest as plain text wrapped at 72 columns, links numbered and listed at the end."""
    shown = fit(digest, settings, footer)
    return _render("digest.txt", shown, settings, footer, refs=References())


def render_markdown(digest: Digest, settings: DigestSettings, footer: Footer = NO_LINKS) -> str:
    """The digest as a Markdown document, with the same stories as the e-mail."""
    return _render("digest.md", fit(digest, settings, footer), settings, footer)


def sent_size(html: str) -> int:
    """Bytes of ``html`` as the e-mail carries it: UTF-8, quoted-printable (as ``mail`` sends it).

    Quoted-printable spends three bytes on every "=" and every byte outside ASCII, so a page in
    Arabic or Greek grows far more on the wire than its characters suggest.
    """
    return len(quopri.encodestring(html.encode("utf-8")))


def fit(digest: Digest, settings: DigestSettings, footer: Footer = NO_LINKS) -> Digest:
    """The digest as the e-mail shows it: stories past the size budget as headlines or counted.

    Give the ``footer`` the e-mail carries: its links take room from the stories.
    """
    return _fitted(digest, settings, footer)[0]


@lru_cache(maxsize=4)
def _fitted(digest: Digest, settings: DigestSettings, footer: Footer) -> tuple[Digest, str]:
    pages: dict[tuple[int, int], str] = {}

    def size(full: int, brief: int) -> int:
        if (full, brief) not in pages:
            pages[full, brief] = html_of(shorten(digest, full, brief), settings, footer)
        return sent_size(pages[full, brief])

    count = sum(len(group.stories) for group in digest.groups)
    full, brief = _largest(lambda n: size(n, 0) <= BUDGET, count), 0
    if full < count:
        full = _largest(lambda n: size(n, 0) <= BUDGET * FULL_SHARE, full)
        rest = count - full
        if rest * _HEADLINE_BYTES <= BUDGET and size(full, rest) <= BUDGET:
            # every story is listed: give the room left to stories in full
            more = _largest(lambda n: size(full + n, rest - n) <= BUDGET, rest)
            full, brief = full + more, rest - more
        else:
            brief = _largest(lambda n: size(full, n) <= BUDGET, rest)
    size(full, brief)
    return shorten(digest, full, brief), pages[full, brief]


def _largest(fits: Callable[[int], bool], upper: int) -> int:
    """The largest n in 0..upper that ``fits``, which holds up to some n and not past it."""
    low, probe = 0, min(64, upper)
    while fits(probe):  # doubling first: a huge digest is never rendered whole
        if probe == upper:
            return upper
        low, probe = probe, min(probe * 2, upper)
    high = probe
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def html_of(digest: Digest, settings: DigestSettings, footer: Footer = NO_LINKS) -> str:
    """The whole digest as HTML, CSS inlined but for <style> blocks marked to keep; no budget."""
    html = _render("digest.html", digest, settings, footer)
    inlined = [match[1] for match in _INLINED_STYLE.finditer(html)]
    try:
        inliner = css_inline.CSSInliner(
            load_remote_stylesheets=False,
            inline_style_tags=False,
            keep_style_tags=True,
            extra_css="\n".join(inlined) or None,
        )
        return inliner.inline(_INLINED_STYLE.sub("", html))
    except css_inline.InlineError as exc:
        raise RenderError(f"cannot inline the CSS of digest.html: {exc}") from exc


def subject(digest: Digest) -> str:
    """The e-mail subject: the digest's title and the local date it covers up to."""
    return f"{digest.title} — {day(digest.window.end, digest.subscriber.timezone)}"


@dataclass
class References:
    """Numbers links in the order a text template first mentions them."""

    numbers: dict[str, int] = field(default_factory=dict)

    def add(self, url: str) -> int:
        """The reference number of ``url``, giving it the next number the first time."""
        return self.numbers.setdefault(url, len(self.numbers) + 1)

    @property
    def urls(self) -> list[str]:
        """The links in the order of their numbers."""
        return list(self.numbers)


def _render(
    name: str,
    digest: Digest,
    settings: DigestSettings,
    footer: Footer = NO_LINKS,
    **extra: Any,
) -> str:
    env = environment(settings.templates)
    context = {
        "links": footer,
        "digest": digest,
        "subject": subject(digest),
        "period": period(digest),
        "counts": counts(digest),
        "reason": reason(digest),
        "zone": digest.subscriber.timezone,
        "now": digest.window.end,
        "excerpt_length": settings.excerpt_length,
        **extra,
    }
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"template {exc.name or name} in {settings.templates or TEMPLATES}"
        raise RenderError(
            f"{where} line {exc.lineno}: {exc.message}; fix it, or remove it from the "
            "templates folder to use the built-in one"
        ) from exc
    except jinja2.TemplateError as exc:
        where = f"{name} with the templates in {settings.templates or TEMPLATES}"
        raise RenderError(
            f"cannot render {where}: {exc}; fix the template, or remove it from the "
            "templates folder to use the built-in one"
        ) from exc


@cache
def environment(override: Path | None) -> jinja2.Environment:
    """The template environment: ``override`` first, then the built-in templates."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
    if override is not None:
        loaders.insert(0, jinja2.FileSystemLoader(override))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=lambda name: not (name or "").endswith((".txt", ".md")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=when,
        day=day,
        excerpt=excerpt,
        md=markdown_escape,
        web_url=web_url,
        wrap=wrap,
        stored_html=stored_html,
        plural=plural,
        byline=byline,
        md_url=markdown_url,
        nobreak=nobreak,
        heading=heading,
    )
    return env


def stored_html(html: str) -> Markup:
    """Stored summary or content HTML, sanitized at ingest, passed through without escaping."""
    return Markup(html)


def when(moment: datetime, zone: str, now: datetime | None = None) -> str:
    """A moment in ``zone``: "Wed 30 Mar, 19:42 CEST", with the year when not that of ``now``."""
    local = moment.astimezone(ZoneInfo(zone))
    years = now is not None and local.year != now.astimezone(ZoneInfo(zone)).year
    return _stamp(local, year=years)


def day(moment: datetime, zone: str) -> str:
    """The local date of a moment in ``zone``: "Wed 30 Mar 2022"."""
    return _date(moment.astimezone(ZoneInfo(zone)), year=True)


def period(digest: Digest) -> str:
    """The window in the subscriber's zone: "Tue 29 Mar, 07:00 – Wed 30 Mar, 07:00 CEST"."""
    zone = ZoneInfo(digest.subscriber.timezone)
    start, end = digest.window.start.astimezone(zone), digest.window.end.astimezone(zone)
    years = start.year != end.year
    first = _stamp(start, year=years, zone=start.tzname() != end.tzname())
    return f"{first} – {_stamp(end, year=years)}"


def _date(local: datetime, *, year: bool = False) -> str:
    text = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    return f"{text} {local.year}" if year else text


def _stamp(local: datetime, *, year: bool = False, zone: bool = True) -> str:
    text = f"{_date(local, year=year)}, {local:%H:%M}"
    return f"{text} {local:%Z}" if zone else text


def byline(authors: tuple[str, ...]) -> str:
    """ "by Ann", "by Ann and Bo", "by Ann, Bo and Cy"; '' without authors."""
    if not authors:
        return ""
    names = list(authors)
    return "by " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}")


def counts(digest: Digest) -> str:
    """ "7 stories from 3 feeds", or a calm line when there is nothing."""
    if not digest.story_count:
        return "Nothing new in this period."
    stories = plural(digest.story_count, "story", "stories")
    return f"{stories} from {plural(digest.feed_count, 'feed')}"


def heading(name: str) -> str:
    """A tag as a heading: "world" -> "World"; a name with capitals stays as written."""
    return name[:1].upper() + name[1:] if name.islower() else name


def plural(count: int, one: str, many: str = "") -> str:
    """ "1 feed", "2 feeds"."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def reason(digest: Digest) -> str:
    """Why the reader gets this digest: the address, what it follows and the schedule."""
    subscriber = digest.subscriber
    chosen = []
    if subscriber.tags:
        chosen.append(f"{_noun(subscriber.tags, 'tag')} {_join(subscriber.tags)}")
    if digest.followed_feeds:
        chosen.append(f"{_noun(digest.followed_feeds, 'feed')} {_join(digest.followed_feeds)}")
    what = " and ".join(chosen) if chosen else "all feeds"
    return (
        f"You receive this digest because {subscriber.email} is subscribed to {what}, "
        f"{schedule_text(subscriber)} ({subscriber.timezone} time)."
    )


def schedule_text(subscriber: Subscriber) -> str:
    """A schedule in words: "every day at 07:00", "every Monday at 07:00", else as written."""
    minute, hour, days, months, weekday = (subscriber.cron.split() + [""] * 5)[:5]
    if minute.isdigit() and hour.isdigit() and days == months == "*":
        at = f"{int(hour):02d}:{int(minute):02d}"
        if weekday == "*":
            return f"every day at {at}"
        if weekday.lower()[:3] in _CRON_DAYS:
            return f"every {_CRON_DAYS[weekday.lower()[:3]]} at {at}"
    return f"on the schedule “{' '.join(subscriber.schedule.split())}”"


def _noun(values: tuple[str, ...], one: str) -> str:
    return f"the {one}" if len(values) == 1 else f"the {one}s"


def _join(values: tuple[str, ...]) -> str:
    quoted = [f"“{v}”" for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def excerpt(text: str, length: int) -> str:
    """``text`` with its spaces collapsed, cut at a word to at most ``length`` characters."""
    return cut_excerpt(" ".join(text.split()), length) if length > 0 else ""


def markdown_escape(text: str) -> str:
    """Text with Markdown's special characters escaped so it shows as written."""
    text = _MARKDOWN_INLINE.sub(lambda m: "\\" + m[0], " ".join(text.split()))
    return _MARKDOWN_BLOCK.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)


def markdown_url(url: str) -> str:
    """A URL safe inside Markdown's ``(...)``: spaces, parentheses and angle brackets encoded."""
    return url.translate(_URL_ESCAPES)


def web_url(url: str | None) -> str:
    """``url`` when it is an http(s) URL, else '' (so a link to ``javascript:`` never renders)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower() if url else ""
    except ValueError:  # e.g. a broken IPv6 host
        return ""
    return url.strip() if url and scheme in ("http", "https") else ""


def nobreak(text: str) -> str:
    """Text whose spaces ``wrap`` will not break at (no-break spaces it turns back into spaces)."""
    return text.replace(" ", _NBSP)


def wrap(text: str, indent: str = "", first: str | None = None, width: int = WIDTH) -> str:
    """Text filled to ``width`` columns; URLs, long words and ``nobreak`` runs are never broken."""
    return textwrap.fill(
        _SPACES.sub(" ", text).strip(),
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ).replace(_NBSP, " ")
