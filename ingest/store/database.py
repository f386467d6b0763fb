"""Open the store's database and bring its schema up to date (Alembic, imported only when behind).

A store already at ``HEAD_REVISION`` is opened with one plain query: importing Alembic costs
more than most commands' work. A new, empty database gets the newest schema in one step, from
``schema.metadata``, stamped at ``HEAD_REVISION`` as Alembic stamps it (``tests/test_schema.py``
proves it the same as the migrations' schema on both databases); only a store made by an older
version is migrated. ``HEAD_REVISION`` names the newest migration in ``migrations/versions``;
``tests/test_startup.py`` fails when a migration is added without it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)

from ingest.errors import StoreError
from ingest.redact import mask_text, mask_url
from ingest.store import diagnose, schema

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0010_item_hashes"  # the newest migration's revision: update it with each new one
_PG_MIGRATION_LOCK = 7_141_020_250  # pg_advisory_lock key: one migrating process at a time


BUSY_TIMEOUT = 60.0  # seconds an SQLite writer waits for another one before giving up


def create(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with write-ahead locking, or PostgreSQL.

    ``busy_timeout`` is how long an SQLite writer queues behind another process's write. The
    opening check uses it too: a shorter wait there would fail a command that starts while a
    worker writes a large round, so only tests shorten it.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(
            f"storage url {mask_url(url)!r} is not a database URL ({mask_text(str(exc))}); "
            f"{_WHERE_THE_URL_IS}"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _prepare_sqlite_file(Path(parsed.database))
        engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
        _sqlite_pragmas(engine, busy_timeout)
        if parsed.database and parsed.database != ":memory:":
            _count_connections(engine, Path(parsed.database))
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    raise StoreError(
        f"storage url {mask_url(url)!r}: only sqlite:/// and postgresql+psycopg:// databases "
        "are supported"
    )


def _prepare_sqlite_file(path: Path) -> None:
    """Refuse an existing file that cannot be a store; create a new one whole, never empty.

    A new store is made under a temporary name and linked into place, so a zero-length file is
    never one of ours being created: it is a failed copy, and using it would start an empty
    store over the admin's data.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder {path.parent} for the SQLite store: "
            f"{exc.strerror or exc}; {_WHERE_THE_URL_IS}"
        ) from exc
    try:
        if not path.exists():
            _create_sqlite_file(path)
        status = path.stat()
        if _OPEN.get((status.st_dev, status.st_ino)):
            return  # this process has it open: closing a descriptor of ours would drop its locks
        with path.open("rb") as file:
            header = file.read(100)
        size = status.st_size
    except OSError as exc:
        raise StoreError(
            f"cannot create or read the SQLite store {path}: {exc.strerror or exc}; "
            f"check that this user can write it and its folder, or {_WHERE_THE_URL_IS}"
        ) from exc
    problem = diagnose.file_problem(path, size, header)
    if problem:
        raise StoreError(f"cannot open the store: {problem}")


# SQLite connections this process holds, per file (device, inode). POSIX record locks belong to
# a process, and closing any descriptor of a file drops all of them: reading the header while an
# engine of this process holds the file (a worker reloading its config) would silently unlock it
# under SQLite ("How To Corrupt An SQLite Database File", section 2.2). Counted by the pool's
# connect and close events.
_OPEN: dict[tuple[int, int], int] = {}


def _count_connections(engine: Engine, path: Path) -> None:
    status = path.stat()
    key = (status.st_dev, status.st_ino)

    @event.listens_for(engine, "connect")
    def _opened(_dbapi_connection: Any, _record: Any) -> None:
        _OPEN[key] = _OPEN.get(key, 0) + 1

    @event.listens_for(engine, "close")
    def _closed(_dbapi_connection: Any, _record: Any) -> None:
        _OPEN[key] = _OPEN.get(key, 1) - 1

    @event.listens_for(engine, "close_detached")
    def _closed_detached(_dbapi_connection: Any) -> None:
        _OPEN[key] = _OPEN.get(key, 1) - 1


def _create_sqlite_file(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.execute("PRAGMA journal_mode=WAL")  # writes the header: never empty
        finally:
            connection.close()
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except sqlite3.Error as exc:
        raise OSError(str(exc)) from exc
    finally:
        temporary.unlink(missing_ok=True)


def _sqlite_pragmas(engine: Engine, busy_timeout: float) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so overlapping writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Any) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version, keeping data; safe to run from many processes."""
    try:
        if at_head(engine):
            return  # the common case: no lock, no Alembic
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()
            try:
                if _is_new(connection):
                    _create_at_head(connection)
                    connection.commit()
                elif current_revision(connection) != head_revision():
                    from alembic import command

                    command.upgrade(_alembic_config(connection), "head")
                    connection.commit()
            finally:
                if engine.dialect.name == "postgresql":
                    connection.rollback()
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                    connection.commit()
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the store at {_safe(engine)}: {diagnose.first_line(exc)}; "
            f"{_advice(engine, exc)}, or {_WHERE_THE_URL_IS}"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot upgrade the store at {_safe(engine)}: {diagnose.first_line(exc)}; "
            f"{_advice(engine, exc)}"
        ) from exc


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at ``HEAD_REVISION``, read with a plain query."""
    with engine.connect() as connection:
        if not connection.dialect.has_table(connection, "alembic_version"):
            return False  # a new store
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return list(found) == [HEAD_REVISION]


def _is_new(connection: Connection) -> bool:
    """Whether the database holds none of the store's tables and no schema version."""
    names = {"alembic_version", *schema.metadata.tables}
    return not any(connection.dialect.has_table(connection, name) for name in names)


def _create_at_head(connection: Connection) -> None:
    """Create the newest schema in an empty database and record its version, as Alembic does."""
    schema.metadata.create_all(connection)
    for statement in schema.partial_index_ddl():
        connection.execute(text(statement))
    for table, row in schema.INITIAL_ROWS:
        connection.execute(table.insert().values(row))
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD_REVISION}
    )


def current_revision(connection: Any) -> str | None:
    """The schema version the database is at (None when empty), as Alembic reads it."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest schema version in ``migrations/versions``, as Alembic finds it."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def open_store(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """Open the database at ``url`` and upgrade its schema; errors say what to check."""
    engine = create(url, busy_timeout=busy_timeout)
    upgrade(engine)
    return engine


def answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query now (a health check)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@contextmanager
def failures(doing: str, kept: str) -> Iterator[None]:
    """Turn a database error while ``doing`` into a StoreError that says what ``kept`` means.

    A database that goes away mid-run (a restart, a network cut) raises from deep inside a round;
    the person reading the log needs what failed, what is safe, and what to check.
    """
    try:
        yield
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        dialect = "sqlite" if type(orig).__module__.startswith("sqlite3") else "postgresql"
        found = diagnose.advice(exc, dialect) or "check that the database is running and reachable"
        raise StoreError(
            f"the store failed while {doing}: {diagnose.first_line(exc)}; {kept}. {_capital(found)}"
        ) from exc


def is_outage(exc: BaseException) -> bool:
    """True when a database error means the store itself failed, not the rows one write held.

    A duplicate key, a value the column cannot hold, or a value the driver cannot convert
    concerns one feed's rows; anything else the database raises (gone, locked, no such table,
    no permission) would fail every other write as well.
    """
    if not isinstance(exc, SQLAlchemyError):
        return False
    if isinstance(exc, (IntegrityError, DataError)):
        return False
    return type(exc) is not StatementError  # a value the driver refused before sending it


_WHERE_THE_URL_IS = "change [storage] url in the config (or BROADSHEET_DATABASE_URL)"


def _advice(engine: Engine, error: BaseException) -> str:
    found = diagnose.advice(error, engine.dialect.name, engine.url.database)
    if found:
        return found
    if engine.dialect.name == "postgresql":
        return "check that the server is running and the database exists"
    return "check that this user can write the file and its folder"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _safe(engine: Engine) -> str:
    return mask_url(engine.url.render_as_string(hide_password=True))
