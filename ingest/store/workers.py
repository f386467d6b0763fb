"""Worker heartbeats: each worker records its last poll round, for health checks."""

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
    now = datetime.now(UTC)
    summary = {k: v for k, v in last_round.items() if k != "errors"}
    kept = "the round itself is stored; `broadsheet health` reads the older heartbeat"
    with failures("recording the worker's heartbeat", kept), engine.begin() as conn:
        changed = conn.execute(
            update(workers)
            .where(workers.c.name == name)
            .values(last_round_at=now, last_round=summary)
        ).rowcount
        if not changed:
            conn.execute(
                workers.insert().values(
                    name=name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=started,
                    last_round_at=now,
                    last_round=summary,
                )
            )


def latest(engine: Engine) -> list[dict[str, Any]]:
    """Every worker's last heartbeat, newest first."""
    query = select(workers).order_by(workers.c.last_round_at.desc())
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
