"""Which feeds are due: a feed whose interval equals the worker's tick is polled on every tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from ingest.models import FeedSpec
from ingest.store import feeds as stored_feeds

TICK = timedelta(minutes=1)
START = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)


def test_a_feed_polled_every_tick_is_due_on_each_tick_though_its_fetch_began_late(
    engine: Engine,
) -> None:
    stored_feeds.sync(engine, [FeedSpec("https://wire.example/feed", interval=60.0)], START)
    polled = []
    for n in range(6):
        tick = START + n * TICK
        claimed = stored_feeds.claim(engine, "w", tick, 300, 10, since=tick)
        assert stored_feeds.count_due(engine, tick, since=tick) == len(claimed)
        if not claimed:
            continue
        polled.append(n)
        began = tick + timedelta(seconds=n % 3 * 4 + 0.5)  # its fetch began after the tick
        values = {"last_fetch_at": began, "next_poll_at": began + TICK}
        with engine.begin() as conn:
            assert stored_feeds.release(conn, claimed[0].id, values, owner="w")
    assert polled == [0, 1, 2, 3, 4, 5]


def test_a_feed_due_well_after_the_tick_waits(engine: Engine) -> None:
    stored_feeds.sync(engine, [FeedSpec("https://wire.example/feed")], START)
    (feed,) = stored_feeds.claim(engine, "w", START, 300, 10, since=START)
    later = START + timedelta(minutes=30)
    with engine.begin() as conn:
        stored_feeds.release(
            conn, feed.id, {"last_fetch_at": START, "next_poll_at": later}, owner="w"
        )
    for tick in (
        START + timedelta(minutes=29),
        later - stored_feeds.DUE_SLACK - timedelta(seconds=1),
    ):
        assert stored_feeds.claim(engine, "w", tick, 300, 10, since=tick) == []
    tick = later - stored_feeds.DUE_SLACK
    assert len(stored_feeds.claim(engine, "w", tick, 300, 10, since=tick)) == 1
