"""``splice.split`` cuts a document where a plain scan of its tags cuts it, or neither cuts it.

``ingest/splice.py`` matches an item whose insides are simple in one regular expression and scans
only the rest tag by tag. The reference here is the scan it replaced: one token at each "<", a
stack of open tags, the same rules. Both give the same ``Split`` (or None) on every feed document
the suite holds, on the benchmark feeds, on the fixtures with a snippet put in at each tag or cut
off at each byte, and on generated and mutated documents (hypothesis; BROADSHEET_LONG=1 runs
5,000 of each).
"""

from __future__ import annotations

import itertools
import re
import sys
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from suites import long_run, size
from test_splice import SHARED, documents

from ingest.splice import Split, split

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))  # after the ingest package

from _feeds import feed_body

# The reference: a token at each "<" (a comment, CDATA, a processing instruction or a tag, its
# name; "/" before an end tag, "/" before the ">" of an empty one), nothing else accepted.
_TOKEN = re.compile(
    rb"<(?:!--.*?-->|!\[CDATA\[.*?\]\]>|\?.*?\?>"
    rb"|(/?)([A-Za-z_][-\w.:]*+)(?:[^<>\"'/]++|\"[^\"<]*+\"|'[^'<]*+'|/(?!>))*+(/?)>)",
    re.DOTALL,
)
_ITEMS = frozenset({b"item", b"entry"})


def reference_split(content: bytes) -> Split | None:
    """The document cut at its items by a scan of every tag, or None when it cannot be sure."""
    spans = _reference_spans(content)
    if not spans:
        return None
    for (_, end), (start, _) in itertools.pairwise(spans):
        if content[end:start].strip():
            return None
    items = tuple(content[start:end] for start, end in spans)
    return Split(content[: spans[0][0]], items, content[spans[-1][1] :])


def _reference_spans(content: bytes) -> list[tuple[int, int]] | None:
    stack: list[bytes] = []
    spans: list[tuple[int, int]] = []
    parent: tuple[bytes, ...] | None = None
    item_start, item_depth, roots = -1, 0, 0
    position = content.find(b"<")
    while position >= 0:
        token = _TOKEN.match(content, position)
        if token is None:
            return None
        end = token.end()
        name = token.group(2)
        if name is None:
            pass
        elif token.group(1):
            if not stack or stack.pop() != name:
                return None
            if item_start >= 0 and len(stack) == item_depth:
                spans.append((item_start, end))
                item_start = -1
        else:
            roots += not stack
            if roots > 1:
                return None
            if name.rpartition(b":")[2] in _ITEMS:
                path = tuple(stack)
                in_place = len(path) == 1 or (len(path) == 2 and path[1] == b"channel")
                if item_start >= 0 or name not in _ITEMS or not in_place:
                    return None
                if parent not in (None, path):
                    return None
                parent, item_start, item_depth = path, position, len(stack)
            if token.group(3):
                if item_start == position:
                    spans.append((item_start, end))
                    item_start = -1
            else:
                stack.append(name)
        position = content.find(b"<", end)
    return None if stack or item_start >= 0 else spans


def assert_same(document: bytes) -> Split | None:
    """split and the reference agree on ``document``; returns the cut."""
    expected = reference_split(document)
    assert split(document) == expected, document[:2000]
    return expected


@cache
def benchmark_feeds() -> tuple[bytes, ...]:
    """The benchmarks' feeds: RSS 2.0 with CDATA and Atom with escaped HTML, 20 entries each."""
    return tuple(feed_body(n, 20) for n in range(200))


def test_every_document_the_suite_holds_and_every_benchmark_feed_is_cut_alike() -> None:
    total = cut = 0
    for name, data, _ in documents():
        try:
            cut += assert_same(data) is not None
        except AssertionError as failure:
            raise AssertionError(name) from failure
        total += 1
    assert total > 2000 and cut > total // 4, (total, cut)
    assert all(assert_same(feed) is not None for feed in benchmark_feeds())


FIXTURES = ("newswire.rss", "harbor-times.atom")
# Pieces that change what the scan can be sure of: comments, CDATA, processing instructions and a
# DOCTYPE (whole and cut short), stray markup, items and end tags out of place, attributes whose
# quotes hold ">" and "/", elements nested deeper than a whole item is matched.
SNIPPETS = (
    "<!-- note -->",
    "<!-- <item> -->",
    "<!--",
    "-->",
    "<!--->",
    "<![CDATA[</item><entry>]]>",
    "<![CDATA[",
    "]]>",
    "<?pi data?>",
    "<?",
    "<!DOCTYPE rss>",
    "<",
    "<<",
    ">",
    "/>",
    "text",
    " \n\t",
    "&lt;item&gt;",
    "<item>",
    "</item>",
    "<item/>",
    "<item></item>",
    "<entry/>",
    "<atom:entry/>",
    "<items/>",
    "<item.x/>",
    "<channel>",
    "</channel>",
    "<x:item a='1'>t</x:item>",
    "<a b='>/'>t</a>",
    '<a b=">/" c=d/>',
    '<a b="<"/>',
    "<a b='<'/>",
    '<a b="</a>"/>',
    "<a b='unclosed>",
    "</a>",
    "<a/>",
    "<b></b>",
    "<d>" * 9 + "deep" + "</d>" * 9,
    "<rss/>",
)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_a_snippet_put_in_at_any_tag_of_a_fixture_is_cut_alike(fixture: str) -> None:
    data = (SHARED / "fixtures" / fixture).read_bytes()
    assert assert_same(data) is not None
    offsets = sorted(
        {m.start() for m in re.finditer(rb"[<>]", data)}
        | {m.end() for m in re.finditer(rb"[<>]", data)}
    )
    cut = 0
    for offset in offsets:
        for snippet in SNIPPETS:
            cut += assert_same(data[:offset] + snippet.encode() + data[offset:]) is not None
    assert cut > len(offsets)  # whitespace and whole elements in most places keep a cut


@pytest.mark.parametrize("fixture", FIXTURES)
def test_a_fixture_cut_off_anywhere_is_cut_alike(fixture: str) -> None:
    data = (SHARED / "fixtures" / fixture).read_bytes()
    for end in range(len(data) + 1):
        assert_same(data[:end])
        assert_same(data[end:])


# What no cut can hold, put at the bottom of an item's elements
POISONS = (
    "<",
    "a < b",
    "<!DOCTYPE x>",
    "<!--",
    "<![CDATA[",
    "<?",
    "<item/>",
    "<x:entry/>",
    "</d>",
    "<e>",
)


@pytest.mark.parametrize("depth", range(12))
def test_items_nested_to_any_depth_are_cut_alike(depth: int) -> None:
    def nested(inner: str) -> str:
        return "<d a='/>'>" * depth + inner + "</d>" * depth

    inside = nested("<![CDATA[<p>x</p>]]><?pi?><!-- c --><e/>")
    for items in ([inside, "t"], ["t", inside], [inside, inside, "<e/>"]):
        rss = "".join(f"<item>{body}</item>\n" for body in items)
        assert assert_same(f"<rss><channel><title>t</title>\n{rss}</channel></rss>".encode())
        atom = "".join(f"<entry>{body}</entry>" for body in items)
        assert assert_same(f"<feed>{atom}</feed>".encode())
    for poison in POISONS:
        for body in (nested(poison), nested(f"<e>{poison}</e>")):
            assert assert_same(f"<feed><entry/><entry>{body}</entry></feed>".encode()) is None
            rss = f"<rss><channel><item>{body}</item><item/></channel></rss>"
            assert assert_same(rss.encode()) is None


# Generated documents: feed-shaped, each choice now and then (or often) a wrong one

NAMES = ("title", "link", "d", "x:y", "channel")
ODD_NAMES = ("item", "entry", "atom:entry", "items", "Item", "item.x", "entry-1", "a:item:b")
ATTRIBUTES = ("", " a='1'", ' b="x>/y"', " c='>'", ' d="/"', " e=f")
ODD_ATTRIBUTES = (" g='<'", ' g="<"', ' h="', " /x", "/")
TEXTS = ("", "t", " ", "\n  ", "a &lt; b")
ODD_TEXTS = ("<", ">", "]]>", "-->", "?>", "x/>")
MARKUP = ("<!-- c -->", "<!-- <item> -->", "<![CDATA[<item>x</item>]]>", "<![CDATA[a]]b]]>")
MARKUP += ("<?pi x?>", "<!---->")
ODD_MARKUP = ("<!--->", "<!DOCTYPE x>", "<!--", "<![CDATA[", "<?")


def pick(draw: st.DrawFn, noise: int, fine: tuple[str, ...], odd: tuple[str, ...]) -> str:
    """One of ``fine``, or one in ``noise`` times one of ``fine`` and ``odd`` (never with 0)."""
    if noise and draw(st.integers(0, noise - 1)) == 0:
        return draw(st.sampled_from(fine + odd))
    return draw(st.sampled_from(fine))


@st.composite
def elements(draw: st.DrawFn, noise: int, depth: int) -> str:
    """An element, nested ``depth`` levels deep down its first child, with text and markup."""
    name = pick(draw, noise, NAMES, ODD_NAMES)
    attributes = pick(draw, noise, ATTRIBUTES, ODD_ATTRIBUTES)
    if depth == 0 and draw(st.booleans()):
        return f"<{name}{attributes}/>"
    inside = [pick(draw, noise, TEXTS, ODD_TEXTS) for _ in range(draw(st.integers(0, 2)))]
    inside += [pick(draw, noise, MARKUP, ODD_MARKUP) for _ in range(draw(st.integers(0, 1)))]
    if depth > 0:
        inside.insert(0, draw(elements(noise, depth - 1)))
    end = pick(draw, noise * 3, (name,), NAMES + ODD_NAMES)
    return f"<{name}{attributes}>{''.join(inside)}</{end}>"


@st.composite
def items(draw: st.DrawFn, noise: int) -> str:
    """An item or an entry (its elements nested up to 9 deep), or something else in its place."""
    name = pick(draw, noise * 3, ("item", "entry"), NAMES + ODD_NAMES)
    attributes = pick(draw, noise, ATTRIBUTES, ODD_ATTRIBUTES)
    if draw(st.integers(0, 5)) == 0:
        return f"<{name}{attributes}/>"
    children = [draw(elements(noise, draw(st.integers(0, 9))))]
    children += [draw(elements(noise, 0)) for _ in range(draw(st.integers(0, 2)))]
    extra = pick(draw, noise, TEXTS + MARKUP, ODD_TEXTS + ODD_MARKUP)
    children.insert(draw(st.integers(0, len(children))), extra)
    end = pick(draw, noise * 3, (name,), ("item", "entry", "x"))
    return f"<{name}{attributes}>{''.join(children)}</{end}>"


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    """A feed-shaped document: a prolog, a root, perhaps a channel, items and what is around them."""
    noise = draw(st.sampled_from((0, 0, 40, 10, 3)))  # never, now and then, often
    prolog = pick(draw, noise, ("", "<?xml version='1.0'?>\n"), MARKUP + ODD_MARKUP)
    root = pick(draw, noise * 3, ("rss", "feed", "rdf:RDF"), NAMES + ODD_NAMES)
    channel = draw(st.sampled_from(("channel", "", "other")))
    body = "".join(
        draw(items(noise)) + pick(draw, noise * 3, ("\n", "", " \t\r\n"), ("x", "<!---->", "<a/>"))
        for _ in range(draw(st.integers(0, 5)))
    )
    head = "".join(draw(elements(noise, 2)) for _ in range(draw(st.integers(0, 2))))
    tail = "".join(draw(elements(noise, 1)) for _ in range(draw(st.integers(0, 1))))
    body = f"<{channel}>{head}{body}{tail}</{channel}>" if channel else head + body + tail
    after = pick(draw, noise * 3, ("", "\n"), (f"<{root}/>", "<!-- end -->", "x"))
    return f"{prolog}<{root} v='2'>{body}</{root}>{after}".encode()


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    """A document with a few snippets put in, stretches cut out or repeated, or its end cut off."""
    data = draw(documents)
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 200)))
        change = draw(st.sampled_from(("insert", "delete", "repeat", "truncate")))
        if change == "insert":
            data = data[:start] + draw(st.sampled_from(SNIPPETS)).encode() + data[start:]
        elif change == "delete":
            data = data[:start] + data[end:]
        elif change == "repeat":
            data = data[:end] + data[start:end] + data[end:]
        else:
            data = data[:start]
    return data


@cache
def small_documents() -> tuple[bytes, ...]:
    """The suite's documents under 4 KB, the fixtures and short benchmark feeds."""
    small = [data for _, data, _ in documents() if len(data) < 4096]
    return (*small, *(feed_body(n, 3) for n in range(4)))


EXAMPLES = settings(
    max_examples=size(200, 5000), deadline=None, suppress_health_check=list(HealthCheck)
)
LONG_TIMEOUT = pytest.mark.timeout(900 if long_run() else 120)  # the long run: a few minutes


@LONG_TIMEOUT
@EXAMPLES
@given(document=feeds() | mutated(feeds()))
def test_generated_documents_are_cut_alike(document: bytes) -> None:
    assert_same(document)


@LONG_TIMEOUT
@EXAMPLES
@given(data=st.data())
def test_the_suites_documents_changed_a_little_are_cut_alike(data: st.DataObject) -> None:
    corpus = st.sampled_from(small_documents())
    assert_same(data.draw(mutated(corpus)))
