"""One first round of lemon24/reader over the given feed URLs; prints wall and CPU as JSON.

    BENCH_VENV/bin/python bench/_reader_round.py URL... < /dev/null

Run by bench/ingest.py with the benchmark's own virtualenv (reader is not a project dependency).
``update_feeds()`` is called with its defaults (one worker) on a fresh SQLite file.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def cpu() -> float:
    """This process's CPU seconds, its threads and waited-for children included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Add the feeds, time one update_feeds(), count the entries."""
    import reader

    urls = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="broadsheet-bench-reader-") as tmp:
        db = str(Path(tmp) / "reader.sqlite")
        feeds = reader.make_reader(db)
        for url in urls:
            feeds.add_feed(url)
        wall, started = time.perf_counter(), cpu()
        feeds.update_feeds()
        wall, spent = time.perf_counter() - wall, cpu() - started
        counts = feeds.get_entry_counts()
        broken = sum(1 for feed in feeds.get_feeds() if feed.last_exception)
        feeds.close()
    result = {
        "wall": wall,
        "cpu": spent,
        "entries": counts.total,
        "broken": broken,
        "version": reader.__version__,
        "pid": os.getpid(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
