"""Media made readable: ``<video>``, ``<audio>`` and embedded players become images and links.

A digest or a reader without scripts plays nothing, and the allow-list drops these elements, so
each is replaced by plain HTML before the cleaning, which then checks it like any other:

- ``<video>``: its poster image linked to the video, and a "Watch: video file" link;
- ``<audio>``: a "Listen: audio file" link;
- an ``<iframe>`` (or ``<embed>``) of YouTube (also youtube-nocookie.com and youtu.be), Vimeo or
  Dailymotion: the video's thumbnail where the site publishes one at a fixed address (YouTube's
  ``i.ytimg.com/vi/ID/hqdefault.jpg``, Dailymotion's ``/thumbnail/video/ID``) linked to the
  video's page, and a "Watch on YouTube" link;
- any other ``<iframe>``: a link to the embedded page, named by its title or its host.

The media's address is its ``src``, else that of its first ``<source>`` child. Only http(s)
addresses are linked; an element without one leaves nothing but a video's poster.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urljoin, urlsplit

# Elements as nh3 serialises them (attributes always name="value", escaped): whole, well formed.
MEDIA_START = re.compile(r"<(?:video|audio|iframe|embed)[\s/>]", re.IGNORECASE)
_ELEMENT = re.compile(
    r"<(video|audio|iframe)(\s[^>]*)?>(.*?)</\1>|<(embed)(\s[^>]*)?>", re.IGNORECASE | re.DOTALL
)
_SOURCE = re.compile(r"<source(\s[^>]*)?>", re.IGNORECASE)
_ATTR = re.compile(r'([^\s=/>]+)="([^"]*)"')
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_PATH = re.compile(r"/(?:embed|v|shorts|live|e)/([^/?#]+)")
_VIMEO_PATH = re.compile(r"/(?:video/)?(\d+)(?:/([0-9a-f]+))?")
_DAILYMOTION_ID = re.compile(r"[A-Za-z0-9]+")
_DAILYMOTION_PATH = re.compile(r"/(?:embed/)?video/([A-Za-z0-9]+)")


def replace_media(html: str, base: str | None) -> str:
    """Every media element of nh3-serialised ``html`` as plain images and links."""
    return _ELEMENT.sub(lambda match: _replacement(match, base), html)


def _replacement(match: re.Match[str], base: str | None) -> str:
    name = (match.group(1) or match.group(4)).lower()
    attrs = _attrs(match.group(2) or match.group(5) or "")
    inner = match.group(3) or ""
    src = _http_url(attrs.get("src"), base)
    if src is None and name in {"video", "audio"}:
        for source in _SOURCE.finditer(inner):
            if src := _http_url(_attrs(source.group(1) or "").get("src"), base):
                break
    if name == "video":
        return _video(src, _http_url(attrs.get("poster"), base))
    if name == "audio":
        return _link(src, "Listen: audio file") if src else ""
    if src is None:
        return ""
    player = embedded_video(src)
    if player is not None:
        page, thumbnail, site = player
        return _linked_image(page, thumbnail, attrs.get("title") or f"{site} video") + _link(
            page, f"Watch on {site}"
        )
    if name == "embed":  # a plugin's object (Flash and the like): nothing a reader could open
        return ""
    host = urlsplit(src).hostname or src
    return _link(src, f"Embedded content: {attrs.get('title') or host}")


def embedded_video(url: str) -> tuple[str, str | None, str] | None:
    """(the video's page, its thumbnail or None, the site) for a known player address."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    for hosts, reader in _SITES:
        if host in hosts:
            return reader(parts.path, parse_qs(parts.query))
    return None


def _youtube(path: str, query: dict[str, list[str]]) -> tuple[str, str | None, str] | None:
    match = _YOUTUBE_PATH.match(path)
    video = match.group(1) if match else (query.get("v") or [""])[0]
    if _YOUTUBE_ID.fullmatch(video) and video != "videoseries":
        thumbnail = f"https://i.ytimg.com/vi/{video}/hqdefault.jpg"
        return f"https://www.youtube.com/watch?v={video}", thumbnail, "YouTube"
    playlist = (query.get("list") or [""])[0]
    if re.fullmatch(r"[A-Za-z0-9_-]+", playlist):
        return f"https://www.youtube.com/playlist?list={playlist}", None, "YouTube"
    return None


def _youtu_be(path: str, query: dict[str, list[str]]) -> tuple[str, str | None, str] | None:
    return _youtube(f"/v{path}", query)


def _vimeo(path: str, query: dict[str, list[str]]) -> tuple[str, str | None, str] | None:
    match = _VIMEO_PATH.match(path)
    if match is None:
        return None
    secret = match.group(2) or (query.get("h") or [""])[0]
    suffix = f"/{secret}" if re.fullmatch(r"[0-9a-f]+", secret) else ""
    return f"https://vimeo.com/{match.group(1)}{suffix}", None, "Vimeo"


def _dailymotion(path: str, query: dict[str, list[str]]) -> tuple[str, str | None, str] | None:
    match = _DAILYMOTION_PATH.match(path)
    video = match.group(1) if match else (query.get("video") or [""])[0]
    if not _DAILYMOTION_ID.fullmatch(video):
        return None
    thumbnail = f"https://www.dailymotion.com/thumbnail/video/{video}"
    return f"https://www.dailymotion.com/video/{video}", thumbnail, "Dailymotion"


def _dai_ly(path: str, query: dict[str, list[str]]) -> tuple[str, str | None, str] | None:
    return _dailymotion(f"/video{path}", query)


_Reader = Callable[[str, dict[str, list[str]]], tuple[str, str | None, str] | None]
_SITES: tuple[tuple[frozenset[str], _Reader], ...] = (
    (frozenset({"youtube.com", "youtube-nocookie.com"}), _youtube),
    (frozenset({"youtu.be"}), _youtu_be),
    (frozenset({"vimeo.com", "player.vimeo.com"}), _vimeo),
    (frozenset({"dailymotion.com", "geo.dailymotion.com"}), _dailymotion),
    (frozenset({"dai.ly"}), _dai_ly),
)


def _video(src: str | None, poster: str | None) -> str:
    if src is None:
        return f'<img src="{_escape(poster)}" alt="Video">' if poster else ""
    image = _linked_image(src, poster, "Video") if poster else ""
    return image + _link(src, "Watch: video file")


def _linked_image(href: str, src: str | None, alt: str) -> str:
    if src is None:
        return ""
    image = f'<img src="{_escape(src)}" alt="{_escape(alt)}">'
    return f'<a href="{_escape(href)}">{image}</a><br>'


def _link(href: str, text: str) -> str:
    return f'<a href="{_escape(href)}">{htmllib.escape(text, quote=False)}</a>'


def _attrs(text: str) -> dict[str, str]:
    return {name.lower(): htmllib.unescape(value) for name, value in _ATTR.findall(text)}


def _http_url(value: str | None, base: str | None) -> str | None:
    """``value`` made absolute against ``base`` when that gives an http(s) address."""
    value = (value or "").strip()
    if not value:
        return None
    if value.startswith("//") and not base:
        value = "https:" + value
    try:
        url = urljoin(base, value) if base else value
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in {"http", "https"} else None


def _escape(value: str) -> str:
    return htmllib.escape(value, quote=True)
