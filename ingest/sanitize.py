"""Allow-list HTML cleaning (nh3), tracking-pixel removal, relative URLs and plain-text excerpts.

nh3 (the Rust ammonia sanitizer) parses like a browser and keeps only the tags and attributes
below, so nothing active survives: no script, style, frames, plugins, forms, SVG/MathML, event
handlers, style attributes or non-http(s)/mailto URLs. Video, audio and embedded players are first
turned into images and links by ``ingest.media`` (a poster, a thumbnail, "Watch on YouTube"). Its normalised output is then read by one
regular expression pass over ``<a>``/``<img>`` tags (cheaper than an nh3 attribute callback, which
runs for every attribute) to make relative URLs absolute and to drop tracking pixels; a tag of
the usual shape has its URL changed where it stands, any other is rebuilt from its attributes.

A lazy-loaded image whose address is only in ``data-src`` (or ``data-lazy-src``,
``data-original``), with no ``src`` or a ``data:`` placeholder, gets that address as its ``src``
(checked like any other), unless the fragment carries a ``<noscript>`` fallback, which then holds
the real image. The data attributes never reach the output.

Tracking pixels are images 0 or 1 pixel wide or high, and images from these beacon hosts
(a host matches itself and its subdomains):

- any host starting with ``pixel.`` (pixel.wp.com, pixel.quantserve.com, ...), unless the path
  names a photo (``.jpg``, ``.jpeg``, ``.png``, ``.webp``, ``.avif``): some publishers serve real
  pictures from such a host (pixel.nymag.com),
- stats.wordpress.com, feedsportal.com, doubleclick.net, google-analytics.com,
  scorecardresearch.com,
- FeedBurner and FeedBlitz item beacons: feeds.feedburner.com/~r/, feedproxy.google.com/~r/,
  feeds.feedblitz.com/~/i/, and facebook.com/tr (the Meta pixel).
"""

from __future__ import annotations

import functools
import html as htmllib
import re
from urllib.parse import urljoin, urlsplit

import nh3

from .media import MEDIA_START, replace_media

ALLOWED_TAGS = frozenset(
    {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li"}
    | {"a", "img", "figure", "figcaption", "dl", "dt", "dd", "abbr", "cite", "q", "time"}
    | {"em", "strong", "b", "i", "u", "s", "sub", "sup", "code", "pre", "kbd"}
    | {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"}
)
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "width", "height", "title"}),  # and LAZY_SOURCES, read once
    "abbr": frozenset({"title"}),
    "time": frozenset({"datetime"}),
    "ol": frozenset({"start"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
}
# Removed together with everything inside them; other unknown tags are unwrapped (text kept).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "applet"}
    | {"svg", "math", "noembed", "noframes", "textarea", "select", "head", "title"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LAZY_SOURCES = ("data-src", "data-lazy-src", "data-original")  # where lazy loaders keep src
LINK_REL = "noopener noreferrer"
BEACON_HOSTS = frozenset(
    {"stats.wordpress.com", "feedsportal.com", "doubleclick.net", "google-analytics.com"}
    | {"scorecardresearch.com"}
)
BEACON_PATHS = (
    ("feeds.feedburner.com", "/~r/"),
    ("feedproxy.google.com", "/~r/"),
    ("feeds.feedblitz.com", "/~/i/"),
    ("facebook.com", "/tr"),
)
_BEACON_HOST = re.compile(  # a beacon host itself or one of its subdomains
    r"(?:^|\.)(?:" + "|".join(re.escape(host) for host in sorted(BEACON_HOSTS)) + r")\Z"
)
_PATH_BEACON_HOST = re.compile(  # a host of BEACON_PATHS itself or one of its subdomains
    r"(?:^|\.)(?:" + "|".join(re.escape(host) for host, _ in BEACON_PATHS) + r")\Z"
)
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".avif")
TEXT_SOURCE_LIMIT = 16_384  # characters of HTML read for a plain-text excerpt or title
# html5 tree building (nh3's parser, like a browser's) costs time quadratic in the nesting depth.
# Below CHEAP_TAGS tags the worst case stays under half a second; above it the nesting is
# checked first, and HTML nested deeper than MAX_DEPTH is kept as its plain text only.
CHEAP_TAGS = 4_000
MAX_DEPTH = 256
_VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "area", "base", "col", "embed"})
_SIBLINGS = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})
_TAG_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*>?")

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}
    | {"img": set(ALLOWED_ATTRIBUTES["img"] | set(LAZY_SOURCES))},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
)
# A first pass keeping media elements, well formed, for ``replace_media`` to turn into links.
_MEDIA_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS) | {"video", "audio", "source", "iframe", "embed"},
    clean_content_tags=set(DROPPED_WITH_CONTENT) - {"iframe", "embed"},
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}
    | {"img": set(ALLOWED_ATTRIBUTES["img"] | set(LAZY_SOURCES))}
    | {"video": {"src", "poster"}, "audio": {"src"}, "source": {"src"}}
    | {"iframe": {"src", "title"}, "embed": {"src"}},
    url_schemes=set(URL_SCHEMES),
    strip_comments=True,
)
_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT))
# nh3 serialises every attribute as name="value" with '"' and '>' escaped, and escapes '<' in
# text, so these patterns only ever see whole, real tags of its output. Only images (pixels) and
# links that are not already absolute http(s) need a look.
_NEEDS_PASS = re.compile(r'<img[\s>]|(?:href|src)="(?!https?://)')
_URL_TAG = re.compile(r'<(img)(?:\s[^>]*)?>|<(a)\s[^>]*?href="(?!https?://)[^>]*>')
# Browsers show <noscript> content to readers without scripts (and mail clients): it often
# holds the real <img> of a lazy-loaded picture, so it is unwrapped rather than read as text.
_NOSCRIPT = re.compile(r"</?noscript\b[^>]*>", re.IGNORECASE)
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#]*", re.IGNORECASE)
_HOST_PATH = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]*)(?::[^/?#]*)?([^?#]*)")
_ATTR = re.compile(r'([^\s=/>]+)="([^"]*)"')
# The usual shapes of nh3's <a> and <img>: each attribute at most once, none of LAZY_SOURCES.
# For these the URL is changed where it stands, which gives what rebuilding the tag would.
_PLAIN_A = re.compile(
    r'<a(?: title="[^"]*" href="([^"]*)"| href="([^"]*)"(?: title="[^"]*")?)'
    + f' rel="{LINK_REL}">'
)
_PLAIN_IMG = re.compile(r'<img(?: (?:src|alt|width|height|title)="[^"]*")*>')
_PIXEL_SIZE = re.compile(r"\s*[01](?:\.0*)?\s*(?:px)?\s*", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "td", "th"}
    | {"dt", "dd", "figure", "figcaption", "pre", "hr", "ul", "ol", "dl", "table", "caption"}
    | {"section", "article", "header", "footer", "aside", "img"}
)
_BLOCK_BOUNDARY = re.compile(
    r"<(?=/?(?:p|br|div|li|h[1-6]|blockquote|tr|td|th|dt|dd|figure|figcaption|pre|hr"
    r"|ul|ol|dl|table|caption|section|article|header|footer|aside)[\s/>])",
    re.IGNORECASE,
)
_CLEAN_TAG = re.compile(r"</?([a-zA-Z0-9]+)[^>]*>")


def sanitize_html(html: str, base: str | None = None) -> str:
    """Allow-listed, inert HTML with absolute URLs and without tracking pixels."""
    if not html:
        return ""
    if "<" not in html and "&" not in html and ">" not in html:
        return html
    lazy = True  # a lazy image's data-src is its address, unless a <noscript> fallback has it
    if _NOSCRIPT.search(html):
        html = _NOSCRIPT.sub("", html)
        lazy = False
    if html.count("<") > CHEAP_TAGS and _too_deep(html):
        return htmllib.escape(" ".join(htmllib.unescape(_TAG_TOKEN.sub(" ", html)).split()))
    if MEDIA_START.search(html):
        html = replace_media(_MEDIA_CLEANER.clean(html), base)
    cleaned = _CLEANER.clean(html)
    if _NEEDS_PASS.search(cleaned):
        origin = _ORIGIN.match(base) if base else None
        fix = functools.partial(_fix_tag, base=base, origin=origin and origin.group(0), lazy=lazy)
        cleaned = _URL_TAG.sub(fix, cleaned)
    return cleaned


def is_beacon(url: str) -> bool:
    """True when an image URL points at a known tracking-beacon host."""
    match = _HOST_PATH.match(url)
    if match is None:
        return False
    host, path = match.group(1).lower().rstrip("."), match.group(2)
    if host.startswith("pixel."):
        return not path.lower().endswith(_PHOTO_SUFFIXES)
    if _BEACON_HOST.search(host):
        return True
    if not _PATH_BEACON_HOST.search(host):
        return False  # the common case, without trying each of BEACON_PATHS
    return any(
        (host == beacon or host.endswith("." + beacon)) and path.startswith(prefix)
        for beacon, prefix in BEACON_PATHS
    )


def to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    if not html:
        return ""
    if "<" in html or "&" in html:
        html = _NOSCRIPT.sub("", html[:TEXT_SOURCE_LIMIT])
        html = _TEXT_CLEANER.clean(_BLOCK_BOUNDARY.sub(" <", html))
        html = htmllib.unescape(html)
    return " ".join(html.split())


def clean_text(clean_html: str) -> str:
    """Plain text of HTML already cleaned by ``sanitize_html`` (cheaper than ``to_text``)."""
    if "<" not in clean_html and "&" not in clean_html:
        return " ".join(clean_html.split())
    text = _CLEAN_TAG.sub(_tag_gap, clean_html[:TEXT_SOURCE_LIMIT])
    return " ".join(htmllib.unescape(text).split())


def excerpt(text: str, length: int) -> str:
    """``text`` cut to at most ``length`` characters at a word boundary, with an ellipsis."""
    if len(text) <= length:
        return text
    if length <= 1:
        return "…"[:length]
    cut = text[: length - 1]
    space = cut.rfind(" ")
    if not text[length - 1].isspace() and space > length // 2:
        cut = cut[:space]  # do not end inside a word
    return cut.rstrip(" ,;:-–—") + "…"


def _fix_tag(
    match: re.Match[str], base: str | None, origin: str | None, *, lazy: bool = True
) -> str:
    """One <a> or <img> tag of nh3's output with its URL made absolute; '' for a pixel."""
    tag = match.group(0)
    if match.group(2):
        plain = _PLAIN_A.fullmatch(tag)
        if plain:
            return _fix_plain_a(tag, plain, base, origin)
        return _rebuilt(tag, "a", dict(_ATTR.findall(tag)), base, origin, lazy)
    pairs = _ATTR.findall(tag)
    attrs = dict(pairs)
    if len(attrs) == len(pairs) and _PLAIN_IMG.fullmatch(tag):
        return _fix_plain_img(tag, attrs, base, origin)
    return _rebuilt(tag, "img", attrs, base, origin, lazy)


def _fix_plain_a(tag: str, plain: re.Match[str], base: str | None, origin: str | None) -> str:
    """``_rebuilt`` for an <a> of ``_PLAIN_A``'s shape: its href changed (or dropped) in place."""
    group = 1 if plain.group(1) is not None else 2
    raw = plain.group(group)
    url = _absolute(htmllib.unescape(raw) if "&" in raw else raw, base, origin)
    start, end = plain.span(group)
    if url is None:
        return tag[: start - len(' href="')] + tag[end + 1 :]
    if url == raw:
        return tag
    return tag[:start] + htmllib.escape(url, quote=True) + tag[end:]


def _fix_plain_img(tag: str, attrs: dict[str, str], base: str | None, origin: str | None) -> str:
    """``_rebuilt`` for an <img> of ``_PLAIN_IMG``'s shape: its src changed in place."""
    raw = attrs.get("src")
    if raw is None or _pixel_sized(attrs):  # dropped whatever its URL
        return ""
    url = _absolute(htmllib.unescape(raw) if "&" in raw else raw, base, origin)
    if url is None or is_beacon(url):
        return ""
    if url == raw:
        return tag
    start = tag.index(' src="') + len(' src="')
    return tag[:start] + htmllib.escape(url, quote=True) + tag[start + len(raw) :]


def _rebuilt(
    tag: str, name: str, attrs: dict[str, str], base: str | None, origin: str | None, lazy: bool
) -> str:
    """Any <a> or <img> tag, its attributes ``attrs``: rebuilt with its URL absolute."""
    url_name = "src" if name == "img" else "href"
    rebuild = False
    if name == "img":
        sources = [attrs.pop(key) for key in LAZY_SOURCES if key in attrs]
        rebuild = bool(sources)  # the data attributes never reach the output
        if lazy and sources and "src" not in attrs:  # nh3 drops a data: placeholder src
            attrs["src"] = sources[0]
    raw = attrs.get(url_name)
    if raw is None:
        return "" if name == "img" else tag
    url = _absolute(htmllib.unescape(raw) if "&" in raw else raw, base, origin)
    if name == "img" and (url is None or _is_pixel(attrs, url)):
        return ""
    if url is None:
        del attrs[url_name]
    elif url == raw and not rebuild:
        return tag
    else:
        attrs[url_name] = htmllib.escape(url, quote=True)
    return f"<{name}" + "".join(f' {key}="{value}"' for key, value in attrs.items()) + ">"


def _too_deep(html: str) -> bool:
    """True when elements nest deeper than MAX_DEPTH (a cheap model of html5 tree building)."""
    stack: list[str] = []
    for match in _TAG_TOKEN.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if closing:
            if stack and stack[-1] == name:
                stack.pop()
            elif name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
        elif name in _VOID or match.group(0).endswith("/>"):
            continue
        elif not (name in _SIBLINGS and stack and stack[-1] == name):
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                return True
    return False


def _tag_gap(match: re.Match[str]) -> str:
    """A block-level tag becomes a space between words; an inline tag disappears."""
    return " " if match.group(1).lower() in _BLOCK_TAGS else ""


def _absolute(url: str, base: str | None, origin: str | None) -> str | None:
    """``url`` resolved against ``base``; None when the result is not a safe scheme."""
    url = url.strip()
    if url.startswith(("http://", "https://")):
        return url
    if origin and url.startswith("/") and not url.startswith("//") and "/." not in url:
        return origin + url  # the common root-relative case, without urljoin's cost
    try:
        if base:
            url = urljoin(base, url)
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme in URL_SCHEMES or (not scheme and not base):
        return url
    return None


def _is_pixel(attrs: dict[str, str], src: str) -> bool:
    """True for a 0/1-pixel image or an image served by a beacon host."""
    return _pixel_sized(attrs) or is_beacon(src)


def _pixel_sized(attrs: dict[str, str]) -> bool:
    """True for an image declared 0 or 1 pixel wide or high."""
    for name in ("width", "height"):
        value = attrs.get(name)
        if value is not None and _PIXEL_SIZE.fullmatch(value):
            return True
    return False
