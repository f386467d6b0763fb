"""JSON Feed documents: nesting is bounded before the JSON is decoded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.errors import ParseError
from ingest.jsonfeed import MAX_DEPTH, load_json, nesting_depth, parse_json_feed

NOW = datetime(2025, 1, 1, tzinfo=UTC)
FEED = b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [%s]}'


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": "]]]]{{{"}]}', 3),  # brackets inside strings do not count
        (b'["\\"[[[", 2]', 1),  # nor after an escaped quote
        (b'{"x": "\\\\"}', 1),  # an escaped backslash ends before the quote
        (b'{"a": "unterminated [[[', 1),
        (b"[" * 5000, 5000),
    ],
)
def test_nesting_depth(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_a_feed_nested_to_the_limit_is_read() -> None:
    extension = b'{"_x": ' * (MAX_DEPTH - 3) + b"1" + b"}" * (MAX_DEPTH - 3)
    item = b'{"id": "1", "title": "deep", "_ext": %s}' % extension
    parsed = parse_json_feed(FEED % item, "https://feeds.example/feed.json", NOW)
    assert [e.title for e in parsed.entries] == ["deep"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deeper_nesting_is_refused_with_the_limit_named(depth: int) -> None:
    extension = b"[" * (depth - 3) + b"]" * (depth - 3)
    content = FEED % (b'{"id": "1", "_ext": %s}' % extension)
    with pytest.raises(ParseError) as caught:
        parse_json_feed(content, "https://feeds.example/feed.json", NOW)
    assert str(caught.value) == (
        f"not a feed: the JSON document nests arrays and objects {depth} levels deep, "
        f"more than the {MAX_DEPTH} a feed could need"
    )
    with pytest.raises(ParseError):
        load_json(content)
