"""A new store is created at the newest schema in one step: the same schema the migrations build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from stores import PG_SCHEMA, fresh_pg_schema

from ingest.store.database import HEAD_REVISION, _alembic_config, create, open_store


def described(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys, constraints and indexes (partial ones with their condition)."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for table in found.get_table_names():
        columns = [
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
            for c in found.get_columns(table)
        ]
        indexes = [
            (
                index["name"],
                tuple(index["column_names"]),
                bool(index["unique"]),
                sorted((k, str(v)) for k, v in index.get("dialect_options", {}).items()),
            )
            for index in found.get_indexes(table)
        ]
        with engine.connect() as connection:
            rows = sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))))
        tables[table] = {
            "rows": rows,
            "columns": sorted(columns),
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(repr(key) for key in found.get_foreign_keys(table)),
            "unique": sorted(repr(u) for u in found.get_unique_constraints(table)),
            "checks": sorted(repr(c) for c in found.get_check_constraints(table)),
            "indexes": sorted(indexes),
        }
    return tables


def migrated(url: str) -> Engine:
    """A store built by running every migration from an empty database."""
    engine = create(url)
    with engine.connect() as connection:
        command.upgrade(_alembic_config(connection), "head")
        connection.commit()
    return engine


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_new_store_has_the_schema_the_migrations_build(database: str, tmp_path: Path) -> None:
    if database == "sqlite":
        old_way, new_way = (f"sqlite:///{tmp_path / name}" for name in ("migrated.db", "new.db"))
    else:
        old_way, new_way = (fresh_pg_schema(f"{PG_SCHEMA}_{n}") for n in ("migrated", "new"))
    by_migrations, at_once = migrated(old_way), open_store(new_way)
    expected = described(by_migrations)
    assert expected["entries"]["indexes"], "the comparison saw no indexes"
    assert described(at_once) == expected
    for engine in (by_migrations, at_once):
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert list(version.scalars()) == [HEAD_REVISION]
        engine.dispose()


def test_a_new_store_is_created_without_alembic(tmp_path: Path) -> None:
    store = tmp_path / "new.db"
    script = (
        "import sys\n"
        "from ingest.store.database import open_store\n"
        f"open_store({f'sqlite:///{store}'!r}).dispose()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('alembic', 'mako'))))\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


def test_a_store_created_at_once_takes_the_migrations_down_and_up(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect() as connection:
        command.downgrade(_alembic_config(connection), "base")
        connection.commit()
        assert inspect(connection).get_table_names() == ["alembic_version"]
        command.upgrade(_alembic_config(connection), "head")
        connection.commit()
    engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_processes_opening_a_new_store_at_once_create_it_once(
    database: str, tmp_path: Path
) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'new.db'}"
    else:
        url = fresh_pg_schema(f"{PG_SCHEMA}_race")
    go = tmp_path / "go"
    script = (
        "import pathlib, time\n"
        "from ingest.store.database import open_store\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.001)\n"
        f"open_store({url!r}).dispose()\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()  # all started and waiting: they open the store together
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    engine = create(url)
    tables = described(engine)
    engine.dispose()
    assert tables["alembic_version"]["rows"] == [(HEAD_REVISION,)]
    assert tables["seals"]["rows"] == [(1, 0)]
