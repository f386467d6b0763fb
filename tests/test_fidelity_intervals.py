"""A feed's own word on how often to poll it: RSS ``<ttl>`` and the syndication module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from server import FeedServer, static
from test_decide import fetched
from test_poll import cli, health, poll_json, write_config

from ingest.decide import after_success, declared_interval
from ingest.models import FeedState, ParsedFeed, PollSettings
from ingest.parse import parse_feed

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = PollSettings(interval=1800.0, max_cache_interval=21600.0)
SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


def rss(channel_extra: str) -> bytes:
    return f"""<?xml version="1.0"?><rss version="2.0" {SY}><channel><title>T</title>
    <link>https://news.example/</link>{channel_extra}
    <item><title>One</title><guid>1</guid></item></channel></rss>""".encode()


@pytest.mark.parametrize(
    ("ttl", "period", "frequency", "seconds"),
    [
        ("60", None, None, 3600.0),
        (" 90 ", None, None, 5400.0),
        ("2.5", None, None, 150.0),
        ("0", None, None, None),
        ("-5", None, None, None),
        ("soon", None, None, None),
        ("nan", None, None, None),
        ("inf", None, None, None),
        (None, "hourly", None, 3600.0),
        (None, "hourly", "2", 1800.0),
        (None, " Daily ", "4", 21600.0),
        (None, "weekly", None, 7 * 86400.0),
        (None, "monthly", None, 30 * 86400.0),
        (None, "yearly", "365", 86400.0),
        (None, None, "2", 43200.0),  # the period defaults to daily
        (None, "hourly", "0", None),
        (None, "fortnightly", "1", None),
        (None, None, None, None),  # declaring nothing is not "daily"
        ("30", "hourly", "1", 3600.0),  # the longer of the two
        ("240", "hourly", "1", 14400.0),
    ],
)
def test_declared_interval(
    ttl: str | None, period: str | None, frequency: str | None, seconds: float | None
) -> None:
    assert declared_interval(ttl, period, frequency) == seconds


@pytest.mark.parametrize(
    ("document", "seconds"),
    [
        (rss("<ttl>120</ttl>"), 7200.0),
        (
            rss(
                "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>"
            ),
            3600.0,
        ),
        (rss(""), None),
        (
            b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
            xmlns="http://purl.org/rss/1.0/" """
            + SY.encode()
            + b"""><channel rdf:about="https://news.example/"><title>R</title>
            <link>https://news.example/</link><sy:updatePeriod>daily</sy:updatePeriod>
            <sy:updateFrequency>8</sy:updateFrequency></channel>
            <item rdf:about="https://news.example/1"><title>One</title>
            <link>https://news.example/1</link></item></rdf:RDF>""",
            10800.0,
        ),
        (
            b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" """
            + SY.encode()
            + b"""><title>A</title><id>urn:a</id><updated>2025-02-01T00:00:00Z</updated>
            <sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>
            <entry><id>urn:1</id><title>x</title><updated>2025-02-01T00:00:00Z</updated></entry>
            </feed>""",
            3600.0,
        ),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}', None),
    ],
)
def test_parse_feed_reads_the_interval_a_feed_declares(
    document: bytes, seconds: float | None
) -> None:
    assert parse_feed(document, {}, "https://news.example/feed", NOW).min_interval == seconds


def stored(declared: float | None = None, interval: float | None = None) -> FeedState:
    url = "https://news.example/feed"
    return FeedState(id=3, url=url, config_url=url, interval=interval, declared_interval=declared)


def parsed(min_interval: float | None) -> ParsedFeed:
    return ParsedFeed(title="T", link=None, entries=(), min_interval=min_interval)


def wait(feed: FeedState, page: ParsedFeed | None, cache: float | None = None) -> float:
    decision = after_success(feed, fetched(cache), NOW, SETTINGS, page)
    assert decision.declared_interval == (page.min_interval if page else feed.declared_interval)
    return (decision.next_poll - NOW).total_seconds()


def test_the_feeds_interval_is_a_lower_bound_capped_like_cache_control() -> None:
    assert wait(stored(), parsed(7200.0)) == 7200.0
    assert wait(stored(), parsed(600.0)) == 1800.0  # never sooner than [poll] interval
    assert wait(stored(interval=900), parsed(600.0)) == 900.0
    assert wait(stored(), parsed(30 * 86400.0)) == 21600.0  # max_cache_interval
    assert wait(stored(), parsed(3600.0), cache=10800.0) == 10800.0  # the longer asks


def test_what_the_feed_said_holds_for_polls_that_parse_nothing() -> None:
    assert wait(stored(declared=7200.0), None) == 7200.0  # 304 or the same body
    assert wait(stored(declared=7200.0), parsed(None)) == 1800.0  # it stopped saying


def test_poll_honours_ttl_across_not_modified_and_the_admin_sees_it(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = rss("<ttl>180</ttl>")  # three hours
    url = feed_server.route("/ttl.rss", static(body, etag='"v1"'))
    capped_url = feed_server.route("/daily.rss", static(rss("<ttl>1440</ttl>"), etag='"v1"'))
    path = write_config(tmp_path, [url, capped_url], extra='max_cache_interval = "4h"')

    def waits() -> list[timedelta]:
        rows = health(path)
        return [
            datetime.fromisoformat(str(rows[u]["next_poll"]))
            - datetime.fromisoformat(str(rows[u]["last_success"]))
            for u in (url, capped_url)
        ]

    assert poll_json(path)["fetched"] == 2
    assert waits() == [timedelta(hours=3), timedelta(hours=4)]  # a day capped at 4 h
    assert health(path)[url]["declared_interval"] == 10800.0
    assert poll_json(path, "--all")["not_modified"] == 2
    assert waits() == [timedelta(hours=3), timedelta(hours=4)]  # kept while nothing is parsed
    code, table = cli("feeds", "--config", str(path))
    assert code == 0 and "in 2h" in table and "in 3h" in table  # not the default "in 29m"
