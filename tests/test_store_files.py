"""An SQLite store that cannot be used says why: locked, empty, not a database, truncated, damaged,
read-only, or on a full disk; each with real files (and a real tiny filesystem where one can be
mounted)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from ingest.errors import StoreError
from ingest.models import FeedSpec
from ingest.store import diagnose
from ingest.store import feeds as stored_feeds
from ingest.store.database import failures, open_store

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def a_store(path: Path) -> Path:
    """A real store with a few feeds in it."""
    engine = open_store(f"sqlite:///{path}")
    specs = [FeedSpec(url=f"https://example.org/{n}", title="x" * 2000) for n in range(40)]
    stored_feeds.sync(engine, specs, NOW)
    engine.dispose()
    return path


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection to a plain SQLite file, holding an exclusive lock."""
    path = tmp_path / "broadsheet.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE t (x)")
    connection.execute("BEGIN EXCLUSIVE")
    yield connection
    connection.rollback()
    connection.close()


@pytest.mark.timeout(30)
def test_a_locked_file_says_another_process_holds_it(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{tmp_path / 'broadsheet.db'}", busy_timeout=0.2)
    message = str(caught.value)
    assert "database is locked" in message
    assert "is locked by another process: another broadsheet" in message
    assert "a stuck process" in message and f"fuser {tmp_path / 'broadsheet.db'}" in message
    assert "check that this user can write" not in message


@pytest.mark.timeout(30)
def test_a_store_locked_mid_run_says_so(tmp_path: Path) -> None:
    path = a_store(tmp_path / "broadsheet.db")
    engine = open_store(f"sqlite:///{path}", busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer that does not finish
    try:
        with pytest.raises(StoreError) as caught, failures("polling", "nothing is lost"):
            stored_feeds.sync(engine, [FeedSpec(url="https://example.org/new")], NOW)
    finally:
        other.rollback()
        other.close()
        engine.dispose()
    message = str(caught.value)
    assert message.startswith("the store failed while polling: database is locked; nothing")
    assert "locked by another process" in message and "running and reachable" not in message


def test_a_zero_length_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "broadsheet.db"
    path.touch()
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"cannot open the store: {path} exists but is empty, maybe truncated by a failed copy: "
        "delete it to start a new store, or restore it from a backup"
    )
    assert path.stat().st_size == 0


def test_a_new_store_is_never_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "broadsheet.db"
    open_store(f"sqlite:///{path}").dispose()
    assert path.stat().st_size > 0
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    open_store(f"sqlite:///{path}").dispose()  # and it opens again


@pytest.mark.parametrize(
    "content",
    [b"not a database at all, but a text file\n" * 200, b"SQLite format 2\x00" + bytes(4080)],
)
def test_a_file_that_is_not_sqlite_is_named_so(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broadsheet.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not an SQLite database") as caught:
        open_store(f"sqlite:///{path}")
    assert "restore it from a backup" in str(caught.value)
    assert path.read_bytes() == content


def test_a_file_truncated_mid_page_is_named_so(tmp_path: Path) -> None:
    path = a_store(tmp_path / "broadsheet.db")
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size - 1000)
    with pytest.raises(StoreError, match=r"is truncated \(\d+ bytes is not a whole number of 4096"):
        open_store(f"sqlite:///{path}")


def test_a_file_damaged_inside_says_corrupt(tmp_path: Path) -> None:
    path = a_store(tmp_path / "broadsheet.db")
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # page 2 overwritten: a b-tree page of the schema or data
    data[8192 : len(data)] = bytes(len(data) - 8192)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        engine = open_store(f"sqlite:///{path}")
        with failures("reading", "nothing changed"), engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM feeds WHERE title LIKE 'x%'")).all()
    message = str(caught.value)
    assert "malformed" in message
    assert "is damaged (SQLite reports corruption): restore it from a backup" in message


def test_full_disk_and_corruption_messages_from_the_databases_own_words() -> None:
    """Pure mapping, from the exact text (and class) each database raises."""
    full_sqlite = sqlite3.OperationalError("database or disk is full")
    full_pg = psycopg.errors.DiskFull(
        'could not extend file "base/16384/16385": No space left on device'
    )
    for error, dialect in ((full_sqlite, "sqlite"), (full_pg, "postgresql")):
        assert diagnose.kind(error) == diagnose.FULL
        assert (diagnose.advice(error, dialect) or "").startswith(
            "the disk holding the database is full"
        )
    assert diagnose.kind(sqlite3.DatabaseError("file is not a database")) == diagnose.NOT_A_DATABASE
    malformed = sqlite3.DatabaseError("database disk image is malformed")
    assert diagnose.kind(malformed) == diagnose.CORRUPT
    assert diagnose.advice(sqlite3.OperationalError("no such table: x"), "sqlite") is None


# A real tiny filesystem, mounted in a user namespace of a child process (no privileges needed
# where the kernel allows unprivileged user namespaces; skipped elsewhere).
SCRIPT = """
import sys
from sqlalchemy import text
from ingest.errors import StoreError
from ingest.store.database import failures, open_store
url = "sqlite:///" + sys.argv[1] + "/broadsheet.db"
try:
    engine = open_store(url)
    if sys.argv[2] == "fill":
        with failures("storing entries", "what was stored before stays"):
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE pad (x BLOB)"))
            for _ in range(500):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO pad VALUES (randomblob(8000))"))
    print("no error")
except StoreError as exc:
    print(exc)
"""


def in_a_tiny_filesystem(folder: Path, size: str, *steps: str) -> str:
    """Run ``steps`` (shell) with a fresh tmpfs of ``size`` mounted at ``folder``."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    folder.mkdir()
    script = folder.parent / "script.py"
    script.write_text(SCRIPT)
    shell = " && ".join([f"mount -t tmpfs -o size={size} none {folder}", *steps])
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if "mount" in result.stderr and result.returncode != 0 and not result.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    return result.stdout + result.stderr


def test_a_full_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    folder = tmp_path / "mnt"
    output = in_a_tiny_filesystem(
        folder, "400k", f"{sys.executable} {tmp_path / 'script.py'} {folder} fill"
    )
    assert "database or disk is full" in output, output
    assert "The disk holding the database is full: free space on it" in output
    assert "running and reachable" not in output


def test_a_read_only_filesystem_says_the_file_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "mnt"
    run = f"{sys.executable} {tmp_path / 'script.py'} {folder}"
    output = in_a_tiny_filesystem(
        folder, "2m", f"{run} open", f"mount -o remount,ro {folder}", f"{run} open"
    )
    assert output.startswith("no error\ncannot open the store at sqlite:///"), output
    assert "unable to open database file" in output
    assert "cannot write" in output and "read-only" in output


def test_opening_the_store_again_in_one_process_leaves_the_first_engine_working(
    tmp_path: Path,
) -> None:
    # A worker reloading its config opens the store again while its first engine holds it.
    url = f"sqlite:///{tmp_path / 'broadsheet.db'}"
    first = open_store(url)
    try:
        with first.connect() as conn:  # pooled, still open: SQLite holds its locks
            conn.execute(text("SELECT count(*) FROM feeds"))
        for _ in range(3):
            with first.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
            another = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            another += "c.execute('INSERT INTO probe VALUES (3)'); c.commit()"
            subprocess.run([sys.executable, "-c", another, url[10:]], check=True)
            second = open_store(url)
            with second.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
                conn.execute(text("INSERT INTO probe VALUES (1)"))
            second.dispose()
            with first.begin() as conn:
                conn.execute(text("INSERT INTO probe VALUES (2)"))
        with first.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 9
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    finally:
        first.dispose()
