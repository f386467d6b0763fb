"""What reading feeds in full costs: extraction per article, and its share of a poll round.

    .venv/bin/python bench/fulltext.py [--feeds 40] [--entries 10] [--hosts 4] [--page-kb 120]
                                       [--pages 100] [--repeat 3] [--workers 0]

1. Extraction alone: ``ingest.extract.extract_article`` (trafilatura, then our sanitizer) on
   ``--pages`` generated news pages, in this process: CPU per article and per MB of page.
2. A poll round: the same summary-only feeds (``bench/_article_server.py``, its own process)
   polled into a fresh SQLite store, first as plain feeds, then read in full (every entry's page
   fetched and extracted in the parser pool). CPU (this process and the pool) and wall time of
   each; what the articles add per article and as a share of the round read in full.

The measuring code is in ``_fulltext.py``: this script stays light because each process of a
new parser pool re-runs the main script's imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/ingest.py

if __name__ == "__main__":
    from _fulltext import main

    main()
