"""Store fixtures: the same tests on SQLite and on the local PostgreSQL (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from ingest.store.database import open_store

PG_SERVER = os.environ.get(
    "BROADSHEET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Parallel checkouts on one machine each set their own schema.
PG_SCHEMA = os.environ.get("BROADSHEET_TEST_PG_SCHEMA", "broadsheet_test")


def pg_url(schema: str = PG_SCHEMA) -> str:
    """The test PostgreSQL URL with its own schema on the search path."""
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    try:
        engine = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return (
            f"no PostgreSQL answers at {PG_SERVER} ({type(exc).__name__}); set BROADSHEET_TEST_PG"
        )
    return None


def fresh_pg_schema(schema: str = PG_SCHEMA) -> str:
    """Drop and recreate the test schema; returns the URL that uses it."""
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    engine = create_engine(PG_SERVER)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return pg_url(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty store: an SQLite file, then the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'broadsheet.db'}"
    return fresh_pg_schema()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """An opened, migrated store on each database."""
    engine = open_store(store_url)
    yield engine
    engine.dispose()
