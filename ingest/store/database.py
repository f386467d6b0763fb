"""Open the store's database and bring its schema up to date (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
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

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_141_020_250  # pg_advisory_lock key: one migrating process at a time


def create(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with write-ahead locking, or PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"storage url {url!r} is not a database URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {folder} for the SQLite store: "
                    f"{exc.strerror or exc}; {_WHERE_THE_URL_IS}"
                ) from exc
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _sqlite_pragmas(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    raise StoreError(
        f"storage url {url!r}: only sqlite:/// and postgresql+psycopg:// databases are supported"
    )


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so overlapping writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version, keeping data; safe to run from many processes."""
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()
            try:
                if current_revision(connection) != head_revision():
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
            f"cannot open the store at {_safe(engine)}: {_first_line(exc)}; {_advice(engine)}"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot upgrade the store at {_safe(engine)}: {_first_line(exc)}"
        ) from exc


def current_revision(connection: Any) -> str | None:
    """The schema version the database is at (None when empty)."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest schema version this code knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def open_store(url: str) -> Engine:
    """Open the database at ``url`` and upgrade its schema; errors say what to check."""
    engine = create(url)
    upgrade(engine)
    return engine


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
        raise StoreError(
            f"the store failed while {doing}: {_first_line(exc)}; {kept}. Check that the "
            "database is running and reachable"
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


def _advice(engine: Engine) -> str:
    if engine.dialect.name == "postgresql":
        return f"check that the server is running and the database exists, or {_WHERE_THE_URL_IS}"
    return f"check that this user can write the file and its folder, or {_WHERE_THE_URL_IS}"


def _safe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
