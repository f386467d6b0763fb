"""What each command imports before it works: `check` and `--help` load no store, fetcher or digest.

Start-up is mostly imports, so these tests guard the imports, never the time (machines are
noisy): each runs a real `broadsheet` process under ``python -X importtime`` and reads which
modules it loaded. A module named here that a command starts to load again is a regression of a
second or so of CPU on every cron run; DEVELOPERS.md ("Start-up") says how commands stay lazy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from processes import environment, write_config
from server import FeedServer
from sqlalchemy.engine import make_url

from ingest.store.database import HEAD_REVISION, head_revision
from ingest.store.urls import url_problem

# What neither `check` nor `--help` may load: the store (SQLAlchemy, Alembic, the drivers), the
# fetcher and parser, the digests' rendering and mail, the web pages, the worker's scheduler, and
# pydantic (typer 0.29 runs every option through it).
NEVER_FOR_CHECK = (
    "alembic",
    "sqlalchemy",
    "psycopg",
    "httpx",
    "feedparser",
    "nh3",
    "lxml",
    "trafilatura",
    "jinja2",
    "css_inline",
    "dkim",
    "re2",
    "tomlkit",
    "apscheduler",
    "starlette",
    "uvicorn",
    "pydantic",
    "broadsheet.api",
    "broadsheet.worker",
    "ingest.store.database",
    "ingest.poll",
)
# The digests modules the config check needs: its typed settings and the schedule rules.
DIGESTS_FOR_CHECK = {"digests", "digests.settings", "digests.schedule"}
# What a poll round with nothing due may not load: no migration, fetch, parse or digest.
NEVER_FOR_IDLE_POLL = (
    "alembic",
    "httpx",
    "feedparser",
    "nh3",
    "trafilatura",
    "jinja2",
    "pydantic",
    "broadsheet.api",
    "ingest.fetch",
    "ingest.parse",
)
COMMANDS = ("check", "poll", "feeds", "subscribers", "digest", "preview", "web", "alerts", "run")
COMMANDS += ("worker", "health")
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def imported(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `broadsheet ARGS` under ``-X importtime``: the finished process and what it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "broadsheet", *args],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=cwd,
        timeout=120,
    )
    return done, set(_IMPORTED.findall(done.stderr))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The ``names`` (packages count with their submodules) among ``modules``."""
    return sorted(m for m in modules if m in names or m.split(".")[0] in names)


def test_check_loads_no_store_fetcher_or_digest_pipeline(tmp_path: Path) -> None:
    subscriber = {"email": "ann@example.org", "schedule": "daily 07:00", "deliver": ["markdown"]}
    config = write_config(
        tmp_path / "broadsheet.toml", ["https://example.org/feed.xml"], [subscriber]
    )
    done, modules = imported("check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{config}: OK" in done.stdout
    assert "broadsheet.config" in modules  # the test reads the imports it means to
    assert loaded(modules, NEVER_FOR_CHECK) == []
    assert {m for m in modules if m.split(".")[0] == "digests"} <= DIGESTS_FOR_CHECK


def test_help_lists_every_command_without_loading_any(tmp_path: Path) -> None:
    done, modules = imported("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\s+\w", done.stdout, re.MULTILINE), command
    assert "One round over the feeds that are due" in done.stdout  # help texts, not just names
    assert loaded(modules, NEVER_FOR_CHECK) == []
    assert not {m for m in modules if m.split(".")[0] == "digests"}
    assert "broadsheet.config" not in modules


def test_polls_load_no_alembic_and_one_with_nothing_due_no_fetcher_or_parser(
    tmp_path: Path, store_url: str, feed_server: FeedServer
) -> None:
    feed = feed_server.route("/feed.xml", body=b"<rss><channel><title>t</title></channel></rss>")
    config = write_config(tmp_path / "broadsheet.toml", [feed], storage={"url": store_url})
    first, before = imported("poll", "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "1 feed: 1 fetched" in first.stdout
    # A new store is created at the newest schema without Alembic, and a round with a feed to
    # poll fetches and parses it.
    assert {"httpx", "ingest.fetch"} <= before
    assert loaded(before, ("alembic", "mako")) == []

    second, after = imported("poll", "--config", str(config), cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 feeds" in second.stdout
    assert "sqlalchemy" in after  # it did open the store
    assert loaded(after, NEVER_FOR_IDLE_POLL) == []
    assert not {m for m in after if m.split(".")[0] == "digests"} - DIGESTS_FOR_CHECK
    # SQLAlchemy's dialects load only for the store in use (PostgreSQL's costs about 50 ms).
    other = "sqlite" if store_url.startswith("postgresql") else "postgresql"
    assert loaded(after, (f"sqlalchemy.dialects.{other}",)) == []


def test_head_revision_names_the_newest_migration() -> None:
    """A store at HEAD_REVISION is opened without Alembic: a new migration must update it."""
    assert head_revision() == HEAD_REVISION, (
        f"ingest/store/database.py HEAD_REVISION is {HEAD_REVISION!r} but the newest migration "
        f"in ingest/store/migrations/versions is {head_revision()!r}: set it to the new one"
    )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/broadsheet/store.db",
        "sqlite:///:memory:",
        "postgresql://broadsheet@db.example.org/broadsheet",
        "postgresql+psycopg://ann:s3cr%40t@db:5433/news?sslmode=require",
        "postgresql+psycopg://ann@[::1]:5432/news",
        "postgresql://ann:secret@db:notaport/news",
        "postgresql://ann:secret/news",
        "postgresql://db:/news",
        "postgresql://db:-1/news",
        "postgresql://db: 5432/news",
        "postgresql+psycopg://ann@db:5432",
    ],
)
def test_the_storage_url_check_agrees_with_sqlalchemy(url: str) -> None:
    try:
        make_url(url)
    except ValueError:
        parses = False
    else:
        parses = True
    problem = url_problem(url)
    assert (problem is None) == parses, problem
    assert "secret" not in (problem or "")
