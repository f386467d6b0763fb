"""`broadsheet poll` and `broadsheet feeds` against a real HTTP server, as an admin runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server import FeedServer, gzip_bomb, redirect, sequence, static, trickle
from sqlalchemy import select
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest.store.database import open_store
from ingest.store.schema import entries, feeds

SHARED = Path(__file__).resolve().parent / "data" / "shared"
runner = CliRunner()


def write_config(tmp_path: Path, urls: list[str], workers: int = 1, extra: str = "") -> Path:
    lines = [
        "[poll]",
        'timeout = "3s"',
        'read_timeout = "2s"',
        'connect_timeout = "2s"',
        'max_bytes = "1MB"',
        f"workers = {workers}",
        "allow_private = true",  # the test server listens on 127.0.0.1
        extra,
    ]
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"', 'tags = ["world"]']
    path = tmp_path / "broadsheet.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def poll_json(path: Path, *extra: str) -> dict[str, int]:
    code, output = cli("poll", "--config", str(path), "--json", *extra)
    assert code == 0, output
    return json.loads(output)


def health(path: Path) -> dict[str, dict[str, object]]:
    code, output = cli("feeds", "--config", str(path), "--json")
    assert code == 0, output
    return {row["config_url"]: row for row in json.loads(output)}


def test_first_poll_stores_articles_and_a_second_costs_no_parse(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    urls = [
        feed_server.url(f"/fixtures/{name}")
        for name in ("newswire.rss", "harbor-times.atom", "no-guids.rss", "newswire.json")
    ]
    path = write_config(tmp_path, urls, workers=2)
    first = poll_json(path)
    assert first == {
        "feeds": 4,
        "fetched": 4,
        "not_modified": 0,
        "skipped_unchanged": 0,
        "failed": 0,
        "new_entries": 9,
        "updated_entries": 0,
        "given_back": 0,
        "taken_over": 0,
        "leased": 0,
        "articles_extracted": 0,
        "articles_fell_back": 0,
        "articles_retried": 0,
    }
    second = poll_json(path, "--all")
    assert second["not_modified"] == 4 and second["new_entries"] == 0
    assert poll_json(path)["feeds"] == 0  # nothing is due yet
    rows = health(path)
    assert [rows[url]["entries"] for url in urls] == [3, 2, 3, 1]
    assert rows[urls[0]]["title"] == "Northwind Wire"  # taken from the feed, none configured
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        links = [r.link for r in conn.execute(select(entries.c.link))]
        html = " ".join(r.content_html + r.summary_html for r in conn.execute(select(entries)))
    engine.dispose()
    assert "https://news.northwind.example/2022/03/30/written-offer/" in links
    assert not any("utm_" in (link or "") for link in links)
    assert "<script" not in html and "javascript:" not in html and "pixel.tracker" not in html


def test_a_body_without_validators_but_the_same_hash_is_not_parsed_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = (SHARED / "fixtures" / "newswire.rss").read_bytes()
    url = feed_server.route("/plain.rss", body=body)  # no ETag, no Last-Modified
    path = write_config(tmp_path, [url])
    assert poll_json(path)["new_entries"] == 3
    again = poll_json(path, "--all")
    assert (again["skipped_unchanged"], again["fetched"]) == (1, 0)


def test_one_hostile_feed_never_stops_the_round(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.url("/fixtures/newswire.rss")
    bad = {
        "missing": feed_server.route("/missing.rss", body=b"gone", status=404),
        "html": feed_server.url("/fixtures/page-with-feeds.html"),
        "slow": feed_server.route("/slow.rss", trickle(b"<rss>" + b" " * 100, every=1.0)),
        "bomb": feed_server.route("/bomb.rss", gzip_bomb()),
        "error": feed_server.route("/error.rss", body=b"oops", status=500),
        "bad xml": feed_server.route("/junk.rss", body=b"\x00\x01 not xml at all"),
    }
    path = write_config(tmp_path, [*bad.values(), good])
    report = poll_json(path)
    assert report["failed"] == len(bad) and report["fetched"] == 1 and report["new_entries"] == 3
    rows = health(path)
    assert rows[good]["last_error"] is None and rows[good]["entries"] == 3
    assert "404" in rows[bad["missing"]]["last_error"]
    assert "HTML" in rows[bad["html"]]["last_error"]
    assert "timed out" in rows[bad["slow"]]["last_error"]
    assert "larger than" in rows[bad["bomb"]]["last_error"]
    assert "500" in rows[bad["error"]]["last_error"]
    for url in bad.values():
        assert rows[url]["consecutive_failures"] == 1 and rows[url]["next_poll"]


def test_permanent_redirect_moves_the_feed_and_410_disables_it(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = (SHARED / "fixtures" / "harbor-times.atom").read_bytes()
    target = feed_server.route("/new-home.atom", static(body, content_type="application/atom+xml"))
    moved = feed_server.route("/old-home.atom", redirect(target, 301))
    gone = feed_server.route("/gone.rss", body=b"", status=410)
    path = write_config(tmp_path, [moved, gone])
    poll_json(path)
    rows = health(path)
    assert rows[moved]["url"] == target
    assert rows[gone]["enabled"] is False and "410" in rows[gone]["disabled_reason"]
    poll_json(path, "--all")
    assert feed_server.hits("/old-home.atom") == 1 and feed_server.hits("/gone.rss") == 1
    code, output = cli("feeds", "reset", gone, "--config", str(path))
    assert code == 0 and "reset" in output
    assert health(path)[gone]["enabled"] is True


def test_changed_content_updates_the_entry(tmp_path: Path, feed_server: FeedServer) -> None:
    old = (SHARED / "fixtures" / "harbor-times.atom").read_bytes()
    new = old.replace(b"Port strike enters third week", b"Port strike enters fourth week")
    url = feed_server.route("/changing.atom", sequence(static(old), static(new)))
    path = write_config(tmp_path, [url])
    poll_json(path)
    second = poll_json(path, "--all")
    assert (second["new_entries"], second["updated_entries"]) == (0, 1)


def test_feeds_table_and_bad_config(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.route("/missing.rss", body=b"", status=404)
    path = write_config(tmp_path, [url])
    code, output = cli("feeds", "--config", str(path))
    assert code == 0 and "never" in output and "due now" in output
    poll_json(path)
    code, output = cli("feeds", "--config", str(path))
    assert code == 0
    assert "404" in output and "1 feed, 1 with errors." in output
    assert "due now" not in output and "in " in output  # backing off
    broken = write_config(tmp_path, [url], extra="bogus = 1")
    code, output = cli("poll", "--config", str(broken))
    assert code == 2 and "poll.bogus: unknown key" in output


def test_unreachable_database_fails_the_command(tmp_path: Path) -> None:
    path = write_config(tmp_path, ["https://example.org/feed"])
    path.write_text(
        '[storage]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n' + path.read_text()
    )
    code, output = cli("poll", "--config", str(path))
    assert code == 1 and "cannot open the store" in output


@pytest.mark.parametrize("workers", [1, 2])
def test_generated_feeds_with_the_process_pool(
    tmp_path: Path, feed_server: FeedServer, workers: int
) -> None:
    urls = [feed_server.gen_url(n) for n in range(12)]
    path = write_config(tmp_path, urls, workers=workers)
    report = poll_json(path)
    assert (report["fetched"], report["new_entries"]) == (12, 60)
    assert all(feed_server.hits(f"/gen/{n}.xml") == 1 for n in range(12))
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}")
    with engine.connect() as conn:
        assert len(conn.execute(select(feeds)).all()) == 12
    engine.dispose()


def test_repeated_ids_keep_the_first_and_are_counted_on_the_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    item = "<item><title>{}</title><guid>same-id</guid><link>https://x.example/{}</link></item>"
    body = "<rss version='2.0'><channel><title>Echo</title>{}</channel></rss>".format(
        "".join(item.format(f"Take {n}", n) for n in range(3))
    )
    url = feed_server.route("/echo.rss", body=body)
    path = write_config(tmp_path, [url])
    assert poll_json(path)["new_entries"] == 1
    assert health(path)[url]["duplicates"] == 2
    code, output = cli("feeds", "--config", str(path))
    assert code == 0 and "2 entries with a repeated id were skipped" in output
