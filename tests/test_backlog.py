"""A new feed's backlog is stored but does not flood the next digest as if it were news."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from server import FeedServer, sequence, static
from sqlalchemy import Engine
from test_poll import cli, poll_json, write_config

from ingest.backlog import BACKLOG_AGE, is_backlog
from ingest.models import Entry, FeedSpec
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.deliveries import window_entries

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_the_rule_at_its_edges() -> None:
    old = NOW - BACKLOG_AGE - timedelta(seconds=1)
    assert is_backlog(True, old, NOW)
    assert not is_backlog(True, NOW - BACKLOG_AGE, NOW)  # two days old exactly is news
    assert not is_backlog(True, None, NOW)  # no date: never backlog
    assert not is_backlog(False, old, NOW)  # later polls mark nothing


def feed(*items: tuple[str, datetime | None]) -> bytes:
    body = "".join(
        f"<item><guid>{title}</guid><title>{title}</title>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + f"<description>About {title}.</description></item>"
        for title, when in items
    )
    return f'<rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


def config(tmp_path: Path, url: str) -> Path:
    path = write_config(tmp_path, [url])
    subscriber = [
        "[[subscribers]]",
        'email = "reader@example.org"',
        'schedule = "daily 07:00"',
        'timezone = "UTC"',
        'deliver = ["markdown"]',
    ]
    path.write_text(path.read_text() + "\n".join(subscriber) + "\n", encoding="utf-8")
    return path


def preview(path: Path) -> str:
    code, output = cli("preview", "--config", str(path), "-s", "reader@example.org", "-f", "text")
    assert code == 0, output
    return output


def test_a_new_feeds_old_items_are_kept_out_of_digests_but_stored_and_counted(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    now = datetime.now(UTC)
    first = feed(
        ("Archive story", now - timedelta(days=30)),
        ("Last week story", now - timedelta(days=3)),
        ("Yesterday story", now - timedelta(days=1)),
        ("Undated story", None),
    )
    later = feed(("Back-dated story", now - timedelta(days=30))) + first
    url = feed_server.route("/wire.rss", sequence(static(first), static(later)))
    path = config(tmp_path, url)
    assert poll_json(path)["new_entries"] == 4
    text = preview(path)
    assert "Yesterday story" in text and "Undated story" in text
    assert "Archive story" not in text and "Last week story" not in text

    code, output = cli("feeds", "--config", str(path), "--json")
    (row,) = json.loads(output)
    assert (row["entries"], row["backlog"]) == (4, 2)
    code, output = cli("feeds", "--config", str(path))
    assert code == 0 and "4 (2 backlog)" in output

    # Once the feed is followed, what it publishes is news, whatever date it carries.
    assert poll_json(path, "--all")["new_entries"] == 1
    text = preview(path)
    assert "Back-dated story" in text and "Archive story" not in text


def test_the_store_keeps_backlog_out_of_windows_on_both_databases(engine: Engine) -> None:
    stored_feeds.sync(engine, [FeedSpec("https://a.example/feed", "A")], NOW)
    (row,) = stored_feeds.health(engine)
    feed_id = stored_feeds.get(engine, row["config_url"]).id  # type: ignore[union-attr]
    items = [Entry(identity=i, title=i, link=None, content_hash=i) for i in ("old", "new")]
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed_id, items, NOW, frozenset({"old"})) == (2, 0)
    with engine.begin() as conn:  # a later poll changing the old item keeps it backlog
        changed = [Entry(identity="old", title="old, updated", link=None, content_hash="x")]
        assert stored_entries.upsert(conn, feed_id, changed, NOW) == (0, 1)
    shown = window_entries(engine, None, None, NOW - timedelta(days=1))
    assert [r.identity for r in shown] == ["new"]
    assert stored_feeds.health(engine)[0]["backlog"] == 1
