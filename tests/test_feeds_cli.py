"""`broadsheet feeds import`, `export` and `discover` as an admin uses them, on real files and servers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from processes import cli
from server import FeedServer
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest import opml

SHARED = Path(__file__).parent / "data" / "shared"

CONFIG = """\
# Broadsheet, as the admin keeps it

[storage]
url = "sqlite:///store.db"

# The feeds, most read first
[[feeds]]
url = "http://example.org/feed"  # the wire

[[feeds]]
url = "https://harbor.example/atom"
tags = ["world"]

# Readers
[[subscribers]]
email = "ann@example.org"

[worker]
poll_every = "1m"
"""

OPML = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Mine</title></head><body>
  <outline text="World">
    <outline type="rss" text="Wire again" xmlUrl="HTTP://Example.org:80/feed"/>
    <outline type="rss" text="Bulletin" xmlUrl="https://bulletin.example/rss" category="/Europe,/news/Local"/>
    <outline type="rss" text="Bulletin twice" xmlUrl="https://BULLETIN.example:443/rss"/>
  </outline>
  <outline text="A page, no feed" htmlUrl="https://page.example/"/>
  <outline type="rss" text="FTP" xmlUrl="ftp://files.example/feed.xml"/>
  <outline type="rss" text="Slash" xmlUrl="http://example.org/feed/"/>
  <outline type="rss" text="Other case" xmlUrl="http://example.org/Feed"/>
</body></opml>
"""


def test_import_reports_every_skipped_outline_and_keeps_the_config_s_layout(
    tmp_path: Path,
) -> None:
    config = tmp_path / "broadsheet.toml"
    config.write_text(CONFIG)
    file = tmp_path / "mine.opml"
    file.write_text(OPML)
    code, out, err = cli(config, "feeds", "import", str(file))
    assert code == 0, out + err
    assert out.splitlines() == [
        "added    https://bulletin.example/rss",
        "added    http://example.org/feed/",
        "added    http://example.org/Feed",
        "skipped  HTTP://Example.org:80/feed: already in the config as http://example.org/feed",
        "skipped  https://BULLETIN.example:443/rss: a duplicate of https://bulletin.example/rss "
        "in this file",
        "skipped  A page, no feed: no xmlUrl: not a feed",
        "skipped  ftp://files.example/feed.xml: not an http:// or https:// address",
        f"3 added, 1 already present, 3 skipped, to {config}.",
    ]
    added = """
[[feeds]]
url = "https://bulletin.example/rss"
title = "Bulletin"
tags = ["world", "europe", "local"]

[[feeds]]
url = "http://example.org/feed/"
title = "Slash"

[[feeds]]
url = "http://example.org/Feed"
title = "Other case"
"""
    head, _, tail = CONFIG.partition("\n# Readers\n")
    assert config.read_text() == head + added + "\n# Readers\n" + tail
    assert cli(config, "check")[0] == 0
    code, out, _ = cli(config, "feeds", "import", str(file))
    assert out.splitlines()[-1] == f"0 added, 4 already present, 3 skipped, to {config}."
    assert config.read_text() == head + added + "\n# Readers\n" + tail


def test_export_uses_the_stored_title_and_every_tag(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.route("/wire.rss", body=(SHARED / "fixtures" / "newswire.rss").read_bytes())
    config = tmp_path / "broadsheet.toml"
    config.write_text(
        '[poll]\nallow_private = true\n\n[[feeds]]\nurl = "'
        + feed_server.url("/wire.rss")
        + '"\ntags = ["world", "europe"]\n\n[[feeds]]\nurl = "https://named.example/rss"\n'
        'title = "As Named"\n'
    )
    code, out, err = cli(config, "feeds", "export")
    assert code == 0, out + err
    assert 'title="As Named"' in out and f'title="{feed_server.url("/wire.rss")}"' in out
    assert cli(config, "poll")[0] == 0  # the feed now has its own title in the store
    code, out, err = cli(config, "feeds", "export")
    assert code == 0, out + err
    assert 'text="Northwind Wire" title="Northwind Wire"' in out
    assert 'category="/world,/europe"' in out and 'title="As Named"' in out
    (back,) = [f for f in opml.read(out.encode()) if f.url == feed_server.url("/wire.rss")]
    assert (back.title, back.tags) == ("Northwind Wire", ("world", "europe"))


def test_discover_checks_each_candidate_and_marks_the_failures(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.route("/feed/", body=(SHARED / "fixtures" / "newswire.rss").read_bytes())
    feed_server.route(
        "/feed.json", body=b"<html><body>Not here</body></html>", content_type="text/html"
    )
    config = tmp_path / "broadsheet.toml"
    config.write_text("[poll]\nallow_private = true\n")  # the test server is on 127.0.0.1
    page = feed_server.url("/fixtures/page-with-feeds.html")
    code, out, err = cli(config, "feeds", "discover", page)
    assert code == 0, out + err
    good, comments, json_feed = (" ".join(line.split()) for line in out.splitlines())
    assert good == f"{feed_server.url('/feed/')} rss Northwind Wire » Feed"
    assert comments.startswith(
        "https://news.northwind.example/comments/feed/ atom Comments FAILED: DNS lookup failed"
    )
    assert json_feed.startswith(f"{feed_server.url('/feed.json')} json JSON FAILED: not a feed")

    feed_server.route("/feed/", status=404)
    code, out, err = cli(config, "feeds", "discover", page)
    assert code == 1 and "FAILED: HTTP 404" in out
    assert f"None of the feeds found at {page} could be read." in err


def test_discover_needs_no_config_file(tmp_path: Path) -> None:
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BROADSHEET_")}
    with contextlib.chdir(tmp_path):  # no config/broadsheet.toml here
        result = CliRunner().invoke(
            app, ["feeds", "discover", "https://news.broadsheet.invalid/"], env=unset
        )
    assert result.exit_code == 1, result.output
    assert "DNS lookup failed for news.broadsheet.invalid" in result.output
    assert "config" not in result.output
