"""A poll round's robustness: one feed's failure of any kind, leases that run out, leases held.

Real parts throughout: the HTTP server, SQLite and the local PostgreSQL (``engine``), the CLI
and `broadsheet poll` as a process.
"""

from __future__ import annotations

import json
import random
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from processes import WAIT, cli, start, wait_for
from processes import write_config as write_process_config
from server import FeedServer, Handler, Reply, Request, redirect, static
from sqlalchemy import Engine, select, text
from test_poll import health, poll_json, write_config
from test_store import SPECS, entry

from ingest.errors import ParseError
from ingest.models import FeedSpec, PollSettings
from ingest.parse import parse_feed
from ingest.poll import RoundReport, poll
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.database import open_store
from ingest.store.schema import feeds

SHARED = Path(__file__).resolve().parent / "data" / "shared"
NEWSWIRE = (SHARED / "fixtures" / "newswire.rss").read_bytes()


def one_item(title: str) -> bytes:
    """An RSS feed whose one item has ``title`` (raw XML)."""
    return (
        "<rss version='2.0'><channel><title>Edge</title><item>"
        f"<title>{title}</title><guid>only</guid></item></channel></rss>"
    ).encode()


def utf16(xml: bytes) -> bytes:
    """``xml`` declared and encoded as UTF-16, where character references hide from byte repairs."""
    return (
        xml.decode()
        .replace("<rss", "<?xml version='1.0' encoding='utf-16'?><rss", 1)
        .encode("utf-16")
    )


# Each made feedparser raise from inside parse_feed (not a ParseError), which stopped the round.
HOSTILE_BODIES = {
    "a character reference past U+10FFFF in UTF-16": (
        utf16(one_item("a &#x110000; b")),
        "ValueError",
    ),
}
# These raised too; the parser now reads the reference as U+FFFD and the feed is stored.
REPAIRED_BODIES = {
    "a character reference past U+10FFFF": one_item("a &#x110000; b"),
    "a character reference past a C int": one_item("a &#99999999999; b"),
    "a surrogate character reference": one_item("a &#xD800; b"),
}
# Each made the fetcher raise something other than a FetchError.
HOSTILE_REDIRECTS = {
    "a redirect to an invalid IDN host": "http://xn--/",
    "a redirect to a port past 65535": "http://127.0.0.1:99999/",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_any_failure_of_one_feed_is_stored_on_it_and_the_round_goes_on(
    tmp_path: Path, feed_server: FeedServer, workers: int
) -> None:
    bad = {
        name: feed_server.route(f"/body/{n}.rss", body=body)
        for n, (name, (body, _)) in enumerate(HOSTILE_BODIES.items())
    }
    bad |= {
        name: feed_server.route(f"/moved/{n}.rss", redirect(target, 302))
        for n, (name, target) in enumerate(HOSTILE_REDIRECTS.items())
    }
    repaired = [
        feed_server.route(f"/repaired/{n}.rss", body=body)
        for n, body in enumerate(REPAIRED_BODIES.values())
    ]
    good = feed_server.url("/fixtures/newswire.rss")
    path = write_config(tmp_path, [*bad.values(), *repaired, good], workers=workers)
    report = poll_json(path)  # exit status 0: the round ran
    fetched = 1 + len(repaired)
    counts = (report["failed"], report["fetched"], report["new_entries"])
    assert counts == (len(bad), fetched, 3 + len(repaired))
    rows = health(path)
    assert rows[good]["entries"] == 3 and rows[good]["last_error"] is None
    assert all(rows[url]["entries"] == 1 and not rows[url]["last_error"] for url in repaired)
    for name, (_, kind) in HOSTILE_BODIES.items():
        error = rows[bad[name]]["last_error"]
        assert error.startswith(f"could not read this feed: the parser failed with {kind}: ")
        assert error.endswith("; it is retried with backoff"), error
    for name in HOSTILE_REDIRECTS:
        assert rows[bad[name]]["last_error"], name
    for url in bad.values():  # recorded with backoff, so none stays first in line
        assert rows[url]["consecutive_failures"] == 1 and rows[url]["next_poll"], url
    code, output = cli_poll(path, "--all")  # and again: the same feeds fail, the round goes on
    assert code == 0, output
    assert f"{len(bad)} failed" in output and "could not read this feed" in output
    again = health(path)
    assert all(again[url]["consecutive_failures"] == 2 for url in bad.values())


def cli_poll(path: Path, *args: str) -> tuple[int, str]:
    code, out, err = cli(path, "poll", *args)
    return code, out + err


def test_parse_feed_raises_nothing_but_parse_error_on_mutated_feeds() -> None:
    seeds = [one_item("plain"), NEWSWIRE, (SHARED / "fixtures" / "harbor-times.atom").read_bytes()]
    pieces = [b"&#x110000;", b"&#99999999999;", b"&#xD800;", b"&#0;", b"\xff\xfe", b"<", b"]]>"]
    pieces += [b"<![CDATA[", b"encoding='bogus'", b"&amp;", b"<pubDate>Mon, 99 Foo 99999</pubDate>"]
    rng = random.Random(20240611)
    now = datetime(2024, 6, 11, tzinfo=UTC)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(300):
        document = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(document))
            document[at:at] = rng.choice(pieces)
        try:
            parse_feed(bytes(document), {"content-type": "application/xml"}, "http://x.test/", now)
            outcomes["parsed"] += 1
        except ParseError:
            outcomes["refused"] += 1
    assert outcomes["parsed"] and outcomes["refused"]  # both kinds of input were met


def held(body: bytes, release: threading.Event) -> Handler:
    """Answer with ``body`` once ``release`` is set (or after WAIT)."""
    answer = static(body)

    def handle(request: Request) -> Reply:
        release.wait(WAIT)
        return answer(request)

    return handle


def in_thread(action: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``action`` in a thread; its result lands in the dict under "result"."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = action()
        except BaseException as exc:  # re-raised by the test
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def feed_row(engine: Engine, url: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(feeds).where(feeds.c.config_url == url)).one()


def test_a_poller_whose_lease_was_taken_over_drops_its_write(
    engine: Engine, feed_server: FeedServer
) -> None:
    release = threading.Event()
    url = feed_server.route("/held.rss", held(NEWSWIRE, release))
    stored_feeds.sync(engine, [FeedSpec(url)], datetime.now(UTC))
    settings = PollSettings(workers=1, lease=300.0, allow_private=True)
    thread, box = in_thread(lambda: poll(engine, settings, owner="first", everything=True))
    try:
        wait_for(lambda: feed_server.hits("/held.rss") == 1, "the first poller's request")
        # A second poller, once the first one's lease ran out, claims the feed itself.
        later = datetime.now(UTC) + timedelta(seconds=settings.lease + 1)
        taken = stored_feeds.claim(engine, "second", later, settings.lease, 10, since=later)
        assert [feed.url for feed in taken] == [url]
    finally:
        release.set()
        thread.join(WAIT)
    if "error" in box:
        raise box["error"]
    report: RoundReport = box["result"]
    assert stored_entries.count(engine) == 0  # the first poller wrote nothing late
    row = feed_row(engine, url)
    assert row.lease_owner == "second" and row.last_fetch_at is None and row.last_error is None
    assert (report.taken_over, report.fetched, report.failed) == (1, 0, 0)
    assert "1 skipped: another process took over" in report.summary()
    with engine.begin() as conn:  # the second one's write goes through
        assert stored_feeds.release(conn, row.id, {"last_fetch_at": later}, owner="second")


def test_a_feed_not_fetched_in_time_for_its_lease_is_given_back_unwritten(
    engine: Engine, feed_server: FeedServer
) -> None:
    release = threading.Event()
    stuck = feed_server.route("/stuck.rss", held(NEWSWIRE, release))  # holds the host's one slot
    waiting = feed_server.route("/waiting.rss", body=NEWSWIRE)  # the same host: never gets it
    other = feed_server.url("/fixtures/harbor-times.atom", host="localhost")  # another host
    stored_feeds.sync(engine, [FeedSpec(u) for u in (stuck, waiting, other)], datetime.now(UTC))
    settings = PollSettings(
        workers=1, per_host=1, lease=8.0, timeout=60.0, read_timeout=60.0, allow_private=True
    )
    try:
        report = poll(engine, settings, owner="me", everything=True)
    finally:
        release.set()
    assert (report.feeds, report.given_back, report.fetched, report.failed) == (3, 2, 1, 0)
    assert feed_server.hits("/waiting.rss") == 0  # not started late either
    for url in (stuck, waiting):  # free for the next round, and nothing recorded
        row = feed_row(engine, url)
        assert (row.lease_owner, row.last_fetch_at, row.last_error) == (None, None, None)
    assert feed_row(engine, other).last_success_at is not None
    assert "2 given back (not fetched in time for the lease" in report.summary()


def test_an_entry_inserted_twice_is_skipped_not_an_error(engine: Engine) -> None:
    now = datetime(2024, 6, 11, tzinfo=UTC)
    stored_feeds.sync(engine, SPECS[:1], now)
    (feed,) = stored_feeds.claim(engine, "w", now, 300, 1, since=now)
    with engine.begin() as conn:
        assert stored_entries.upsert(conn, feed.id, [entry("1"), entry("1"), entry("2")], now) == (
            2,
            0,
        )
    assert stored_entries.count(engine) == 2


def test_a_concurrent_insert_of_the_same_entry_does_not_fail_the_transaction(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no race")
    now = datetime(2024, 6, 11, tzinfo=UTC)
    stored_feeds.sync(engine, SPECS[:1], now)
    (feed,) = stored_feeds.claim(engine, "w", now, 300, 1, since=now)
    with engine.begin() as first:
        assert stored_entries.upsert(first, feed.id, [entry("1")], now) == (1, 0)

        def second() -> tuple[int, int]:  # sees no entry "1" yet, inserts it, waits on the first
            with engine.begin() as conn:
                box["pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                return stored_entries.upsert(conn, feed.id, [entry("1"), entry("2")], now)

        box: dict[str, Any] = {}
        thread, result = in_thread(second)
        wait_for(lambda: "pid" in box and waits_on_a_lock(engine, box["pid"]), "the insert to wait")
    thread.join(WAIT)
    if "error" in result:
        raise result["error"]
    assert result["result"] == (1, 0)
    assert stored_entries.count(engine) == 2


def waits_on_a_lock(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        return conn.execute(query, {"pid": pid}).scalar() == "Lock"


def test_rows_a_database_refuses_are_that_feed_s_error_and_the_round_goes_on(
    engine: Engine, feed_server: FeedServer
) -> None:
    nul = feed_server.route("/nul.rss", body=one_item("a &#0; b"))  # PostgreSQL text holds no NUL
    good = feed_server.url("/fixtures/newswire.rss")
    stored_feeds.sync(engine, [FeedSpec(nul), FeedSpec(good)], datetime.now(UTC))
    report = poll(engine, PollSettings(workers=1, allow_private=True), owner="me")
    assert report.fetched + report.failed == 2 and report.new_entries >= 3
    assert feed_row(engine, good).last_success_at is not None
    row = feed_row(engine, nul)
    if engine.dialect.name == "postgresql":
        assert row.last_error.startswith("could not store this feed: DataError: "), row.last_error
        assert row.consecutive_failures == 1 and row.lease_owner is None
        assert report.errors == [{"url": nul, "error": row.last_error}]
    else:
        assert row.last_error is None


def test_a_round_that_finds_feeds_leased_by_an_interrupted_poll_says_so(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    release = threading.Event()
    urls = [feed_server.route("/held.rss", held(NEWSWIRE, release))]
    urls += [feed_server.url(f"/gen/{n}.xml") for n in range(2)]
    store = f"sqlite:///{tmp_path / 'store.db'}"
    path = write_process_config(
        tmp_path / "broadsheet.toml",
        urls,
        storage={"url": store},
        poll={"workers": 1, "lease": "10m", "timeout": "2m", "read_timeout": "2m"},
    )
    interrupted = start(path, "poll", "--all")
    try:
        wait_for(lambda: feed_server.hits("/held.rss") == 1, "the first poll's request")
        engine = open_store(store)
        wait_for(lambda: all_fetched(engine, urls[1:]), "the other feeds stored")
        interrupted.send_signal(signal.SIGINT)  # Ctrl-C
        interrupted.communicate(timeout=WAIT)
    finally:
        release.set()
        if interrupted.poll() is None:
            interrupted.kill()
    until = feed_row(engine, urls[0]).lease_until
    engine.dispose()
    code, out, err = cli(path, "poll", "--all", "--json")
    assert code == 0, out + err
    assert json.loads(out)["leased"] == 1 and json.loads(out)["feeds"] == 2
    code, out, err = cli(path, "poll", "--all")
    assert code == 0, out + err
    assert (
        f"1 feed is leased by {_host()}:{interrupted.pid} until {until:%H:%M} UTC (a poll that "
        "was interrupted, or one still running); they are polled when the lease runs out "
        "([poll] lease)"
    ) in out
    assert feed_server.hits("/held.rss") == 1  # not polled while leased


def all_fetched(engine: Engine, urls: list[str]) -> bool:
    return all(feed_row(engine, url).last_fetch_at for url in urls)


def _host() -> str:
    import socket

    return socket.gethostname()
