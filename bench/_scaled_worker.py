"""`broadsheet worker` on a shortened clock, for bench/_worker_day.py.

    python bench/_scaled_worker.py FACTOR worker -c CONFIG

The config given shortens the feeds' intervals and ``[worker] poll_every`` FACTOR times; this
shortens the one fixed duration of the schedule as much: the slack within which a feed counts as
due (``ingest.store.feeds.DUE_SLACK``, 10 s), which would otherwise make every feed due at every
tick once an interval is a few seconds long. Everything else is the `broadsheet` command.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # not bench/ingest.py: the package
    import ingest.store.feeds as stored_feeds

    stored_feeds.DUE_SLACK /= float(sys.argv.pop(1))
    from broadsheet.cli import main

    sys.argv[0] = "broadsheet"
    main()
