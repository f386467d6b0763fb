"""Worker heartbeats: each worker records its last poll round, and its last failed one, for health checks."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from ingest.store.database import failures
from ingest.store.schema import workers


def beat(engine: Engine, name: str, started: datetime, last_round: dict[str, Any]) -> None:
    """Record that worker ``name`` finished a poll round now."""
    summary = {k: v for k, v in last_round.items() if k != "errors"}
    kept = "the round itself is stored; `broadsheet health` reads the older heartbeat"
    values = {"last_round_at": datetime.now(UTC), "last_round": summary}
    with failures("recording the worker's heartbeat", kept):
        _record(engine, name, started, values)


def failed(engine: Engine, name: str, started: datetime, error: str) -> None:
    """Record that worker ``name``'s poll round failed now, and why."""
    kept = "`broadsheet health` reads the older state"
    values = {"last_failed_at": datetime.now(UTC), "last_error": error}
    with failures("recording that the worker's poll round failed", kept):
        _record(engine, name, started, values)


def _record(engine: Engine, name: str, started: datetime, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        changed = conn.execute(update(workers).where(workers.c.name == name).values(values))
        if not changed.rowcount:
            conn.execute(
                workers.insert().values(
                    name=name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=started,
                    **values,
                )
            )


def latest(engine: Engine) -> list[dict[str, Any]]:
    """Every worker's last heartbeat and last failure, newest heartbeat first."""
    query = select(workers).order_by(workers.c.last_round_at.desc())
    with (
        failures("reading the workers' heartbeats", "nothing was changed"),
        engine.connect() as conn,
    ):
        return [dict(row._mapping) for row in conn.execute(query)]
