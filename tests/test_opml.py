"""OPML import: bounded in size and in outlines, with the limit named when a file passes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest import opml
from ingest.opml import MAX_BYTES, MAX_OUTLINES, OpmlError


def document(feeds: int, folders: int = 0, padding: int = 0) -> bytes:
    """An OPML file with ``feeds`` feeds in ``folders`` folders, and a comment of ``padding`` bytes."""
    outlines = [
        f'<outline type="rss" text="F{n}" xmlUrl="https://feeds.example/{n}.xml"/>'
        for n in range(feeds)
    ]
    body = "".join(f'<outline text="folder {n}">' for n in range(folders)) + "".join(outlines)
    body += "</outline>" * folders
    comment = f"<!--{'x' * padding}-->" if padding else ""
    return f'<?xml version="1.0"?><opml version="2.0">{comment}<body>{body}</body></opml>'.encode()


def test_a_list_at_the_outline_limit_is_read() -> None:
    assert len(opml.read(document(MAX_OUTLINES - 1, folders=1))) == MAX_OUTLINES - 1


@pytest.mark.parametrize(("feeds", "folders"), [(MAX_OUTLINES + 1, 0), (MAX_OUTLINES, 1)])
def test_more_outlines_than_the_limit_are_refused(feeds: int, folders: int) -> None:
    with pytest.raises(OpmlError) as caught:
        opml.read(document(feeds, folders), "big.opml")
    assert str(caught.value) == (
        "big.opml has more than 10,000 outlines, the most an OPML import takes: "
        "split it into smaller files and import each"
    )


def test_a_file_over_the_size_limit_is_refused_unparsed() -> None:
    content = document(1, padding=MAX_BYTES)
    with pytest.raises(OpmlError, match=r"^huge.opml is larger than 10 MB, the most an OPML"):
        opml.read(content, "huge.opml")
    assert len(opml.read(document(1, padding=MAX_BYTES - 1000))) == 1


def test_import_of_an_oversized_file_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "broadsheet.toml"
    config.write_text("# my feeds\n")
    big = tmp_path / "big.opml"
    big.write_bytes(document(MAX_OUTLINES + 5))
    result = CliRunner().invoke(app, ["feeds", "import", str(big), "--config", str(config)])
    assert result.exit_code == 1
    assert "has more than 10,000 outlines" in result.output
    assert config.read_text() == "# my feeds\n"
    huge = tmp_path / "huge.opml"
    huge.write_bytes(document(3, padding=MAX_BYTES + 1))
    result = CliRunner().invoke(app, ["feeds", "import", str(huge), "--config", str(config)])
    assert result.exit_code == 1 and "is larger than 10 MB" in result.output
    assert config.read_text() == "# my feeds\n"


def test_an_external_entity_reads_no_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("https://leaked.example/feed.xml")
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<opml version="2.0"><body><outline text="x" xmlUrl="&xxe;"/>'
        '<outline text="kept" xmlUrl="https://feeds.example/kept.xml"/></body></opml>'
    ).encode()
    try:
        feeds = opml.read(hostile)
    except OpmlError:
        return  # refusing the file is as good
    assert [feed.url for feed in feeds] == ["https://feeds.example/kept.xml"]


def test_nested_entities_do_not_expand_a_billion_times() -> None:
    levels = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY l0 "lol">{levels}]>'
        '<opml version="2.0"><body><outline text="&l9;" '
        'xmlUrl="https://feeds.example/a.xml"/></body></opml>'
    ).encode()
    try:
        feeds = opml.read(hostile)
    except OpmlError:
        return
    assert all(len(feed.title or "") < 10_000 for feed in feeds)
