"""Ingest cost end to end: poll rounds against a local feed server, beside feedparser and reader.

    .venv/bin/python bench/ingest.py [--feeds 200] [--entries 20] [--hosts 10] [--no-reader]

The measuring code is in ``_ingest.py``. This script stays as light as the ``broadsheet``
console script on purpose: every process of a new parser pool re-runs the main script's
imports (Python's forkserver prepares each child from the parent's ``__main__``), so a heavy
script here would charge the cold round for imports that ``broadsheet poll`` never pays.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).parent)]
    from _ingest import main

    main()
