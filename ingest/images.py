"""The lead image of an entry: the best of the pictures its feed offers.

Candidates come from the feed's metadata (``media:content``, ``media:thumbnail``, image
enclosures, JSON Feed's ``image`` and image attachments) and from every ``<img>`` of the cleaned
body. A candidate's width and height are the ones declared (``width``/``height`` attributes),
else the ones a WordPress size suffix names (``photo-300x200.jpg`` is 300 by 200).

- Beacons, icons (favicons, emoji, avatars) and images less than ``MIN_SIDE`` pixels wide or
  high are skipped, as are image files known to be under ``MIN_BYTES``.
- A WordPress thumbnail (``photo-150x150.jpg``) gives way to its full-size sibling
  (``photo.jpg``) when the entry offers both: the full size is at least as large.
- Then the widest wins, in three tiers: images known to be at least ``LEAD_WIDTH`` wide (widest
  first), then images of unknown size (larger files first, then in the feed's order, metadata
  before the body), then the known small ones (widest first).

The chosen image keeps its known width so that a digest never stretches it past that.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .sanitize import is_beacon
from .urls import resolve_url

MIN_SIDE = 100  # px: smaller is an icon, a button or a spacer, not a picture
MIN_BYTES = 2_000  # an image file smaller than this is an icon or a pixel
LEAD_WIDTH = 400  # px: at least this wide reads as a lead picture
MAX_BODY_IMAGES = 30
_SIZE_SUFFIX = re.compile(r"-(\d{2,4})x(\d{2,4})(?=\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#]))", re.I)
_ICON = re.compile(
    r"favicon|\.ico(?:$|[?#])|/emoji/|/smilies/|gravatar\.com/avatar/|/avatars?/", re.IGNORECASE
)
_IMG_TAG = re.compile(r"<img\s[^>]*>")
_ATTR = re.compile(r'([^\s=/>]+)="([^"]*)"')
_PIXELS = re.compile(r"\s*(\d{1,5})(?:\.\d*)?\s*(?:px)?\s*")


@dataclass(frozen=True)
class Image:
    """A picture an entry offers, with what is known of its size."""

    url: str
    width: int | None = None  # pixels
    height: int | None = None
    bytes: int | None = None  # the file's length, when the feed gives it


def pixels(value: object) -> int | None:
    """A pixel count from an attribute ("800", "800px"); None for "100%", "auto" or junk."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = _PIXELS.fullmatch(value)
    return int(match.group(1)) or None if match else None


def body_images(clean_html: str) -> list[Image]:
    """Every image of sanitized HTML, with its declared width and height."""
    found = []
    for tag in _IMG_TAG.findall(clean_html)[:MAX_BODY_IMAGES]:
        attrs = dict(_ATTR.findall(tag))
        if "src" in attrs:
            src = htmllib.unescape(attrs["src"])
            found.append(Image(src, pixels(attrs.get("width")), pixels(attrs.get("height"))))
    return found


def lead_image(candidates: Iterable[Image], base: str) -> Image | None:
    """The best candidate (see the module's rules), with its size as known; None if none fits."""
    sized = []  # each usable image with its URL's size suffix (searched once)
    for candidate in _resolved(candidates, base):
        suffix = _SIZE_SUFFIX.search(candidate.url)
        image = _sized(candidate, suffix)
        if not _too_small(image):
            sized.append((image, suffix))
    full_sizes = {image.url for image, suffix in sized if suffix is None}
    usable = [
        image
        for image, suffix in sized
        if _full_size(image.url, suffix) not in full_sizes or image.url in full_sizes
    ]
    if not usable:
        return None
    order = {id(c): n for n, c in enumerate(usable)}
    return min(usable, key=lambda c: (*rank(c.width, c.bytes), order[id(c)]))


def rank(width: int | None, size: int | None = None) -> tuple[int, int]:
    """Sort key of an image by what is known of it: lower is better (see the module's tiers)."""
    if width is None:
        return (1, -(size or 0))
    return (0, -width) if width >= LEAD_WIDTH else (2, -width)


def _resolved(candidates: Iterable[Image], base: str) -> Iterable[Image]:
    seen: set[str] = set()
    for candidate in candidates:
        url = resolve_url(candidate.url, base)
        if url and url not in seen and not is_beacon(url) and not _ICON.search(url):
            seen.add(url)
            if url == candidate.url and type(candidate) is Image:
                yield candidate  # frozen: the same image, without building a copy
            else:
                yield Image(url, candidate.width, candidate.height, candidate.bytes)


def _sized(image: Image, match: re.Match[str] | None) -> Image:
    """The image with the size its WordPress suffix (``match``) names, when it declares none."""
    if match is None or image.width is not None:
        return image
    return Image(image.url, int(match.group(1)), int(match.group(2)), image.bytes)


def _too_small(image: Image) -> bool:
    sides: Sequence[int | None] = (image.width, image.height)
    if any(side is not None and side < MIN_SIDE for side in sides):
        return True
    return image.bytes is not None and 0 < image.bytes < MIN_BYTES


def _full_size(url: str, suffix: re.Match[str] | None) -> str:
    """``url`` without its size suffix (the first match of ``_SIZE_SUFFIX``, as ``suffix``)."""
    return url if suffix is None else url[: suffix.start()] + url[suffix.end() :]
