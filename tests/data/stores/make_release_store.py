"""Write release-0002/broadsheet.db: the store a release at schema 0002 leaves after one poll.

Run it from a checkout of that release (commit c8b30ef, before the 0003 entry identities), with
that checkout's code first on the path:

    git archive c8b30ef | tar -x -C /tmp/release
    PYTHONPATH=/tmp/release:/tmp/release/tests python tests/data/stores/make_release_store.py

It serves the three feeds of release-0002/ and two shared fixtures on 127.0.0.1 and runs
``broadsheet poll`` once; the store then holds entries under that release's identity rule.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from server import FeedServer
from typer.testing import CliRunner

from broadsheet.cli import app

HERE = Path(__file__).resolve().parent / "release-0002"
FEEDS = ["changelog.rss", "comments.rss", "forum.rss"]
SHARED = ["newswire.rss", "no-guids.rss"]


def main() -> None:
    """Poll the feeds once with the release's code into HERE/broadsheet.db."""
    import ingest

    print(f"code from {Path(ingest.__file__).parent.parent}", file=sys.stderr)
    target = HERE / "broadsheet.db"
    target.unlink(missing_ok=True)
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        urls = [server.route(f"/{name}", body=(HERE / name).read_bytes()) for name in FEEDS]
        urls += [server.url(f"/fixtures/{name}") for name in SHARED]
        lines = ["[poll]", "allow_private = true", "workers = 1", "[storage]"]
        lines += [f'url = "sqlite:///{target}"']
        for url in urls:
            lines += ["[[feeds]]", f'url = "{url}"']
        config = Path(tmp) / "broadsheet.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = CliRunner().invoke(app, ["poll", "--config", str(config), "--json"])
        print(result.output, file=sys.stderr)
        if result.exit_code != 0:
            raise SystemExit(result.exit_code)


if __name__ == "__main__":
    main()
