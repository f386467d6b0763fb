"""The round users run: each feed gained one entry among its 20, beside feedparser.parse alone.

    .venv/bin/python bench/steady.py [--feeds 200] [--entries 20] [--hosts 10] [--rounds 5]

The measuring code is in ``_steady.py``; this script stays as light as the ``broadsheet``
command, because each process of a new parser pool re-runs the main script's imports.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).parent)]
    from _steady import main

    main()
