"""Pure: what a database error means for the person reading it, and what they can do.

SQLite and PostgreSQL report a locked file, a full disk or a damaged file in their own words;
each kind gets one piece of advice here, so that opening the store and failing mid-run say the
same thing. Anything not recognised gets the general advice for its database.
"""

from __future__ import annotations

from pathlib import Path

from ingest.redact import mask_text

LOCKED = "locked"
FULL = "full"
NOT_A_DATABASE = "not a database"
CORRUPT = "corrupt"
READ_ONLY = "read-only"
UNKNOWN = "unknown"

# Lower-cased fragments of the messages each database gives, per kind.
_SIGNS = (
    (LOCKED, ("database is locked", "database table is locked")),
    (FULL, ("database or disk is full", "no space left on device", "disk full", "diskfull")),
    (NOT_A_DATABASE, ("file is not a database",)),
    (CORRUPT, ("database disk image is malformed", "malformed database schema")),
    (
        READ_ONLY,
        ("attempt to write a readonly database", "unable to open database file", "read-only"),
    ),
)
_PG_DISK_FULL = "53100"  # SQLSTATE disk_full


def kind(error: BaseException) -> str:
    """Which kind of failure ``error`` (a DB-API error, or SQLAlchemy's wrapper) reports."""
    orig = getattr(error, "orig", None) or error
    if getattr(orig, "sqlstate", None) == _PG_DISK_FULL or type(orig).__name__ == "DiskFull":
        return FULL
    text = str(orig).lower()
    for name, signs in _SIGNS:
        if any(sign in text for sign in signs):
            return name
    return UNKNOWN


def advice(error: BaseException, dialect: str, file: str | None = None) -> str | None:
    """What to do about ``error`` from a ``dialect`` database, or None when not recognised."""
    where = file or "the database file"
    found = kind(error)
    if found == LOCKED:
        return (
            f"{where} is locked by another process: another broadsheet (a worker, a cron job or a "
            "command still running) may be in the middle of a long write, or a stuck process "
            f"holds it (`fuser {where}` names it). Wait for it to finish, or stop it, then try again"
        )
    if found == FULL:
        return (
            "the disk holding the database is full: free space on it, or move the store to a "
            "larger disk; what was being written was rolled back"
        )
    if found == NOT_A_DATABASE:
        return (
            f"{where} is not an SQLite database (damaged, encrypted, or another kind of file): "
            "restore it from a backup, or point [storage] url at the right file"
        )
    if found == CORRUPT:
        return (
            f"{where} is damaged (SQLite reports corruption): restore it from a backup; "
            f"`sqlite3 {where} .recover` may rescue what is left"
        )
    if found == READ_ONLY and dialect == "sqlite":
        return (
            f"this user cannot write {where} or its folder, or the filesystem is read-only; "
            "SQLite also needs to create the -wal and -shm files beside it"
        )
    return None


def first_line(error: BaseException) -> str:
    """The first line of the database's own message, with credentials masked."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip()
    return mask_text(text.splitlines()[0]) if text else type(orig).__name__


SQLITE_HEADER = b"SQLite format 3\x00"


def file_problem(path: Path, size: int, header: bytes) -> str | None:
    """Why an existing SQLite file of ``size`` bytes starting with ``header`` cannot be a store."""
    if size == 0:
        return (
            f"{path} exists but is empty, maybe truncated by a failed copy: delete it to start "
            "a new store, or restore it from a backup"
        )
    if size < 100 or not header.startswith(SQLITE_HEADER):
        return (
            f"{path} is not an SQLite database (damaged, encrypted, or another kind of file): "
            "restore it from a backup, or point [storage] url at the right file"
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size and size % page_size:
        return (
            f"{path} is truncated ({size} bytes is not a whole number of {page_size}-byte "
            "pages), maybe by a failed copy or a full disk: restore it from a backup"
        )
    return None
