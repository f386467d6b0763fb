"""XML entity declarations bounded before feedparser sees a document.

expat (feedparser's strict parser) limits amplification only by a factor of 100, and when it
gives up feedparser re-reads the document with a lenient parser that expands the "safe" internal
entities itself, without limit. So both views are checked here - the declarations expat would
read and the ones feedparser keeps for its lenient parser - and a document whose entities could
expand beyond ``ENTITY_LIMIT``, or that declares external or parameter entities, is refused.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Mapping
from xml.parsers import expat

from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from .errors import ParseError

ENTITY_LIMIT = 1_000_000  # characters that declared XML entities may add to a document
MAX_ENTITY_DECLARATIONS = 256
_MB = 1_000_000
_ASK = " (not read, for safety); ask the publisher to remove the DOCTYPE's entity declarations"
# Encodings in which every ASCII character of the decoded text comes from the same single byte,
# so looking for b"<!ENTITY" in the raw bytes is as good as looking in the decoded text.
_ASCII_TRANSPARENT = frozenset(
    {"ascii", "utf-8", "utf-8-sig", "latin-1", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic"}
    | {f"iso8859-{n}" for n in range(2, 17)}
    | {f"cp{n}" for n in (437, 850, 866, 874, 932, 949, 950, 1250, 1251, 1252, 1253, 1254)}
    | {"cp1255", "cp1256", "cp1257", "cp1258", "tis-620", "gb2312", "gbk", "gb18030", "big5"}
    | {"big5hkscs", "shift_jis", "euc_jp", "euc_kr", "iso2022_jp", "iso2022_kr"}
)
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_ENTITY_REF = re.compile(r"&([^\s&;#<>\"']+);")
_UNSAFE_START = (b"\xff\xfe", b"\xfe\xff", b"\x4c\x6f\xa7\x94")  # UTF-16/32 BOMs, EBCDIC '<?xm'


def check_entities(content: bytes, headers: Mapping[str, str]) -> None:
    """Refuse a document whose XML entity declarations could blow up when expanded."""
    if b"<!ENTITY" not in content and ascii_transparent(content, headers):
        return
    data = convert_to_utf8(dict(headers), content, {})  # the bytes feedparser will parse
    if b"<!ENTITY" not in data:
        return
    _, replaced, lenient = replace_doctype(data)
    declared, root = _declared_entities(data)
    body = data[root:]  # references inside the DTD itself are counted by nesting, not here
    views = [(lenient, False), (declared, True), (_declared_entities(replaced)[0], True)]
    for entities, nested in views:
        if len(entities) > MAX_ENTITY_DECLARATIONS:
            raise ParseError(
                f"refused: the feed declares {len(entities):,} XML entities "
                f"(limit {MAX_ENTITY_DECLARATIONS}){_ASK}"
            )
        _bound(entities, body, nested=nested)


def ascii_transparent(content: bytes, headers: Mapping[str, str]) -> bool:
    """True when every encoding feedparser might decode ``content`` with keeps ASCII as is."""
    if content.startswith(_UNSAFE_START) or b"\x00" in content[:1024]:
        return False
    names = [m.decode("ascii") for m in _DECLARED_ENCODING.findall(content, 0, 1024)]
    names += _CHARSET.findall(headers.get("content-type", ""))
    for name in names:
        try:
            canonical = codecs.lookup(name).name
        except LookupError:
            continue  # feedparser cannot decode with it either
        if canonical not in _ASCII_TRANSPARENT:
            return False
    return True


def _declared_entities(document: bytes) -> tuple[dict[str, str], int]:
    """General entities declared in the prolog as expat reads them, and where the root starts."""
    declared: dict[str, str] = {}
    root = [0]  # the whole document when expat stops before the root element

    def on_entity(name: str, is_parameter: int, value: str | None, *_: object) -> None:
        if is_parameter:
            raise ParseError(f"refused: the feed declares the XML parameter entity %{name};{_ASK}")
        if value is None:
            raise ParseError(f"refused: the feed declares the external XML entity &{name};{_ASK}")
        declared.setdefault(name, value)

    def at_root(*_: object) -> None:
        root[0] = parser.CurrentByteIndex
        raise _RootReached

    parser = expat.ParserCreate()
    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = at_root
    with contextlib.suppress(_RootReached, expat.ExpatError):
        parser.Parse(document, True)
    return declared, root[0]


class _RootReached(Exception):
    """Raised by the prolog scan once the root element starts: the DTD is behind us."""


def _bound(declared: Mapping[str, str], body: bytes, *, nested: bool) -> None:
    """ParseError when ``declared`` entities, referenced as ``body`` does, exceed the limit."""
    if not declared:
        return
    sizes = _expanded_sizes(declared) if nested else {n: len(v) for n, v in declared.items()}
    total = sum(size * body.count(f"&{name};".encode()) for name, size in sizes.items() if size)
    if total > ENTITY_LIMIT:
        raise ParseError(
            f"refused: the feed declares XML entities that would expand to {total / _MB:,.1f} MB "
            f"(limit {ENTITY_LIMIT / _MB:g} MB); an entity-expansion attack or a broken feed"
        )


def _expanded_sizes(declared: Mapping[str, str]) -> dict[str, int]:
    """Length of each entity's replacement text once the entities it mentions are expanded."""
    sizes: dict[str, int] = {}
    cap = 10**15  # keeps the numbers small; far past the limit the exact size does not matter

    def size(name: str, path: frozenset[str]) -> int:
        if name in sizes:
            return sizes[name]
        if name in path:
            raise ParseError(f"refused: the XML entity &{name}; refers to itself")
        value = declared[name]
        total = len(_ENTITY_REF.sub("", value))
        for ref in _ENTITY_REF.findall(value):
            if ref in declared:
                total = min(cap, total + size(ref, path | {name}))
        sizes[name] = total
        return total

    for name in declared:
        size(name, frozenset())
    return sizes
