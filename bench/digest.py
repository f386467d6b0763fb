"""Time per entry of selecting, clustering and grouping, and rendering digests of growing size.

    .venv/bin/python bench/digest.py [--sizes 100,1000,10000] [--repeat 3] [--stories 120,1000]

Entries are generated: stories with their own words and shared topic words, a quarter of them
carried by two or three of 60 feeds under six tags. Every entry is let through the limits so
each phase sees all of them. Near-linear growth shows as a flat time per entry.

Then the size of the HTML part for digests of ``--stories`` stories with the default settings:
the whole digest in full, and what is sent within the budget (stories in full, as headlines,
counted).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/ingest.py

from digests.cluster import cluster
from digests.digest import Digest, group
from digests.models import DigestEntry, Window
from digests.render import (
    BUDGET,
    _fitted,
    fit,
    html_of,
    render_html,
    render_markdown,
    render_text,
    sent_size,
)
from digests.select import Selection, select
from digests.settings import DigestSettings, Subscriber

START = datetime(2022, 3, 30, 5, 0, tzinfo=UTC)
TAGS = ("world", "business", "science", "culture", "sport", "local")
SYLLABLES = [
    "an",
    "el",
    "os",
    "ur",
    "bra",
    "cle",
    "dri",
    "fo",
    "gle",
    "jas",
    "kin",
    "lo",
    "ka",
    "ro",
    "mi",
    "tu",
    "sel",
    "van",
    "dor",
    "ept",
    "il",
    "mar",
    "osh",
    "ben",
    "cre",
    "fal",
    "gun",
    "hir",
    "ot",
    "pra",
]


def word(rng: random.Random) -> str:
    """A made-up word of two to four syllables."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4)))


def entries(count: int, seed: int = 1) -> list[DigestEntry]:
    """``count`` generated entries spread over one day."""
    rng = random.Random(seed)
    topics = [word(rng) for _ in range(max(count // 30, 10))]
    feeds = [(f"https://feed{n}.example/rss", f"Feed {n}", (TAGS[n % 6],)) for n in range(60)]
    made: list[DigestEntry] = []
    while len(made) < count:
        own, about = [word(rng) for _ in range(6)], rng.sample(topics, 3)
        for url, title, tags in rng.sample(feeds, rng.choice((1, 1, 1, 2, 3))):
            seen = START + timedelta(seconds=rng.randrange(86_400))
            made.append(
                DigestEntry(
                    id=len(made),
                    feed_url=url,
                    feed_title=title,
                    feed_tags=tags,
                    title=" ".join(rng.sample(own, 4) + rng.sample(about, 2)).capitalize(),
                    link=f"{url}/{len(made)}",
                    authors=("A. Writer",) if rng.random() < 0.6 else (),
                    published=seen - timedelta(minutes=rng.randrange(60)),
                    first_seen=seen,
                    summary_html="",
                    content_html="",
                    excerpt=" ".join([own[0], *rng.sample(own[1:], 4), *about] * 3) + ".",
                    image=f"{url}/{len(made)}.jpg" if rng.random() < 0.3 else None,
                    tags=(),
                )
            )
    return made[:count]


def best(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """The fastest of ``repeat`` runs, in seconds, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return min(times), result


def measure(count: int, repeat: int) -> tuple[float, float, float, int, int]:
    """Seconds for select, cluster + group, render (all three formats); items; candidates."""
    data = entries(count)
    subscriber = Subscriber(
        email="bench@example.org",
        schedule="daily 07:00",
        cron="0 7 * * *",
        timezone="Europe/Berlin",
        max_per_feed=count,
        max_items=count,
    )
    window, settings = Window(START, START + timedelta(days=1)), DigestSettings()
    t_select, selection = best(repeat, lambda: select(data, subscriber, window))
    assert isinstance(selection, Selection)
    t_group, (items, candidates) = best(repeat, lambda: _cluster_and_group(selection, subscriber))
    digest = Digest("Bench", subscriber, window, items, selection.trimmed)
    t_render, _ = best(
        repeat,
        lambda: (
            _fitted.cache_clear(),  # time the fitting to the budget too, on every run
            render_html(digest, settings),
            render_text(digest, settings),
            render_markdown(digest, settings),
        ),
    )
    return t_select, t_group, t_render, digest.story_count, candidates


def _cluster_and_group(selection: Selection, subscriber: Subscriber) -> tuple[tuple, int]:
    clustering = cluster(selection.entries)
    return group(clustering.items, subscriber, selection.trimmed), clustering.candidates


def sizes(stories: int) -> tuple[int, int, int, int, int]:
    """Bytes of the whole HTML and of the HTML sent; stories in full, as headlines, counted."""
    data = entries(stories * 2)
    subscriber = Subscriber(
        email="bench@example.org",
        schedule="daily 07:00",
        cron="0 7 * * *",
        timezone="Europe/Berlin",
        max_per_feed=len(data),
        max_items=len(data),
    )
    window, settings = Window(START, START + timedelta(days=1)), DigestSettings()
    clustering = cluster(select(data, subscriber, window).entries)
    digest = Digest("Bench", subscriber, window, group(clustering.items[:stories], subscriber), ())
    sent, shown = render_html(digest, settings), fit(digest, settings)
    whole = sent_size(html_of(digest, settings))
    counts = len(shown.items), len(shown.brief), len(shown.unlisted)
    return whole, sent_size(sent), *counts


def main() -> None:
    """Print a table of microseconds per entry for each phase and size, then the HTML sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stories", default="120,1000")
    args = parser.parse_args()
    print(
        f"{'entries':>8} {'select':>10} {'cluster+group':>14} {'render':>10} "
        f"{'items':>7} {'candidates':>11}   (µs per entry)"
    )
    for count in (int(size) for size in args.sizes.split(",")):
        t_select, t_group, t_render, items, candidates = measure(count, args.repeat)
        per = 1e6 / count
        print(
            f"{count:>8} {t_select * per:>10.1f} {t_group * per:>14.1f} {t_render * per:>10.1f} "
            f"{items:>7} {candidates:>11}"
        )
    print(
        f"\n{'stories':>8} {'whole KB':>9} {'sent KB':>8} {'full':>5} {'headlines':>10} "
        f"{'counted':>8}   (HTML part; budget {BUDGET / 1000:.0f} KB)"
    )
    for count in (int(size) for size in args.stories.split(",")):
        whole, sent, full, brief, counted = sizes(count)
        print(
            f"{count:>8} {whole / 1000:>9.1f} {sent / 1000:>8.1f} {full:>5} {brief:>10} "
            f"{counted:>8}"
        )


if __name__ == "__main__":
    main()
