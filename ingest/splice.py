"""Pure: a feed document cut into its frame and its items' bytes, and put back with some items only.

In the round users run most, a feed has gained an entry or two and the rest of its items are
byte for byte what they were: parsing, sanitizing and normalizing those again gives entries the
store already holds. So, before feedparser, the body is cut (no XML parser, a scan of its tags)
into a head (everything before the first item), its items (each ``<item>``/``<entry>`` element,
as bytes) and a tail. Each item gets a key: a hash of its bytes, of the frame (head and tail, its
dates left out: a feed's own ``<lastBuildDate>`` or ``<updated>`` moves with every new item and
shapes no entry), of what else shapes an entry (the URL, the headers feedparser reads, the
parsing code itself). The items whose key the last body had are left out, and feedparser reads
the head, the other items and the tail: for those items it gives exactly the entries the whole
document gives (``tests/test_splice.py`` proves it on the corpus and the fidelity fixtures).

Only documents this scan reads with certainty are cut: one root, tags balanced, no DOCTYPE,
items directly under the root or under its ``<channel>`` with only whitespace between them and
no ``item``/``entry`` element anywhere else; ``split`` returns None for anything else and the
document is parsed whole. The scan is one regular expression: an item whose elements nest at most
``_DEPTH`` deep is matched whole (tags balanced, no item and no stray ``<`` inside), everything
else tag by tag against a stack of open tags; both cut where a scan of every tag cuts
(``tests/test_splice_scan.py``), at a fraction of its cost.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# What follows a "<": a comment, a CDATA section or a processing instruction (each to its first
# terminator; written so that the engine runs over their insides a byte class at a time), or a tag
# (a name, attributes whose quoted values may hold ">" and "/").
_PARTS = {
    b"name": rb"[A-Za-z_][-\w.:]*+",
    b"attributes": rb"(?:[^<>\"'/]++|\"[^\"<]*+\"|'[^'<]*+'|/(?!>))*+",
    b"markup": rb"!--[^-]*+(?:-(?!->)[^-]*+)*+-->"
    rb"|!\[CDATA\[[^\]]*+(?:\](?!\]>)[^\]]*+)*+\]\]>"
    rb"|\?[^?]*+(?:\?(?!>)[^?]*+)*+\?>",
}
# How deep an item's elements may nest for the item to be matched whole (deeper: tag by tag).
_DEPTH = 6
# An element inside an item, not an item itself, its end tag the same name (group e<level>).
_ELEMENT = (
    rb"<(?P<e%(level)d>%(name)b)(?<![<:]item)(?<![<:]entry)%(attributes)b"
    rb"(?:/>|>%(content)b</(?P=e%(level)d)(?![-\w.:])%(attributes)b/?>)"
)


def _content(level: int) -> bytes:
    """Text, comments, CDATA and elements nested no deeper than ``_DEPTH``, none an item."""
    inside = [rb"[^<]++", rb"<(?:%(markup)b)" % _PARTS]
    if level <= _DEPTH:
        inside.append(_ELEMENT % {**_PARTS, b"level": level, b"content": _content(level + 1)})
    return rb"(?:%b)*+" % b"|".join(inside)


# At each "<": a whole item (its tags balanced, nested at most _DEPTH deep, no item and no stray
# "<" inside), else a comment, CDATA or a processing instruction, an end tag, a start tag, an
# empty element, else nothing (a DOCTYPE, a stray "<", an unterminated comment: not sure).
# ``lastindex`` tells which; an item not matched whole is read tag by tag like the rest.
_TOKEN = re.compile(
    rb"<(?:(?P<item>item|entry)(?![-\w.:])%(attributes)b"
    rb"(?:/>|>%(content)b</(?P=item)(?![-\w.:])%(attributes)b/?>)(?P<whole>)"
    rb"|%(markup)b"
    rb"|/(?P<end>%(name)b)%(attributes)b/?>"
    rb"|(?P<start>%(name)b)%(attributes)b>"
    rb"|(?P<empty>%(name)b)%(attributes)b/>"
    rb"|(?P<stray>))" % {**_PARTS, b"content": _content(1)}
)
_ITEM, _WHOLE, _END, _START, _STRAY = (
    _TOKEN.groupindex[name] for name in ("item", "whole", "end", "start", "stray")
)
_ITEMS = frozenset({b"item", b"entry"})
# The feed's own dates, left out of the frame's hash: no entry inherits them.
_FEED_DATES = re.compile(rb"<(lastBuildDate|pubDate|updated|published|dc:date)>[^<]*</\1>")
_KEY_BYTES = 16


@dataclass(frozen=True)
class Split:
    """A document cut at its items: ``head + items (whitespace between) + tail``."""

    head: bytes
    items: tuple[bytes, ...]
    tail: bytes

    def join(self, keep: Iterable[int]) -> bytes:
        """The document with only the items at the indices ``keep``, in that order."""
        return self.head + b"\n".join(self.items[i] for i in keep) + self.tail


def split(content: bytes) -> Split | None:
    """``content`` cut at its items, or None when the scan cannot be sure of the cut."""
    spans = _item_spans(content)
    if not spans:
        return None
    for (_, end), (start, _) in itertools.pairwise(spans):
        if content[end:start].strip():
            return None  # a comment or text between items: parse the whole document
    items = tuple(content[start:end] for start, end in spans)
    return Split(content[: spans[0][0]], items, content[spans[-1][1] :])


def _item_spans(content: bytes) -> list[tuple[int, int]] | None:
    """Where each item element starts and ends; None when the document is not cut cleanly."""
    stack: list[bytes] = []
    spans: list[tuple[int, int]] = []
    item_start, item_depth, roots = -1, 0, 0
    for token in _TOKEN.finditer(content):
        kind = token.lastindex
        if kind is None:  # a comment, CDATA or a processing instruction
            continue
        if kind == _END:
            if not stack or stack.pop() != token[_END]:
                return None
            if item_start >= 0 and len(stack) == item_depth:
                spans.append((item_start, token.end()))
                item_start = -1
            continue
        if kind == _STRAY:
            return None  # a DOCTYPE, a stray "<", an unterminated comment or CDATA section
        name = token[_ITEM] if kind == _WHOLE else token[kind]  # a start tag's group: its name
        roots += not stack
        if roots > 1:
            return None
        if name.rpartition(b":")[2] in _ITEMS:
            # Items side by side under one parent: one inside another would sit deeper.
            if name not in _ITEMS or not _item_parent(stack) or item_depth not in (0, len(stack)):
                return None
            item_depth = len(stack)
            if kind == _START:
                item_start = token.start()
            else:
                spans.append(token.span())
        if kind == _START:
            stack.append(name)
    return None if stack else spans


def _item_parent(path: list[bytes]) -> bool:
    """True under the root (Atom, RSS 1.0) or under the root's <channel> (RSS 0.9x and 2.0)."""
    return len(path) == 1 or (len(path) == 2 and path[1] == b"channel")


def keys(cut: Split, context: bytes) -> tuple[str, ...]:
    """Each item's key: its bytes, the frame but the feed's dates, and ``context``."""
    frame = hashlib.blake2b(context, digest_size=_KEY_BYTES)
    frame.update(_FEED_DATES.sub(b"", cut.head))
    frame.update(b"\x00")
    frame.update(_FEED_DATES.sub(b"", cut.tail))
    secret = frame.digest()
    return tuple(
        hashlib.blake2b(item, digest_size=_KEY_BYTES, key=secret).hexdigest() for item in cut.items
    )


def context(url: str, headers: Sequence[tuple[str, str]], code: bytes) -> bytes:
    """What shapes an entry besides the document: the URL, headers feedparser reads, the code."""
    parts = [code, url.encode("utf-8", "surrogatepass")]
    parts += [f"{name}: {value}".encode("utf-8", "surrogatepass") for name, value in headers]
    return b"\x00".join(parts)


def fingerprint(modules: Iterable[ModuleType], versions: Iterable[str]) -> bytes:
    """A hash of these modules' source files and of library versions: any change to either
    changes every key, and each feed's next body is parsed whole.

    A source that cannot be read makes the fingerprint random: keys then hold only within this
    process and its children (a worker's rounds), never across an upgrade.
    """
    digest = hashlib.blake2b(digest_size=_KEY_BYTES)
    for module in modules:
        source = getattr(module, "__file__", None)
        try:
            digest.update(Path(source).read_bytes() if source else os.urandom(16))
        except OSError:
            digest.update(os.urandom(16))
    for version in versions:
        digest.update(version.encode())
    return digest.digest()
