"""Whether the worker is healthy, judged from the heartbeats and failures in the store (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Beat = Mapping[str, Any]  # a row of the workers table


@dataclass(frozen=True)
class Verdict:
    """Healthy or not, and the line that says why."""

    healthy: bool
    reason: str


def judge(beats: Sequence[Beat], now: datetime, within: float, host: str) -> Verdict:
    """Healthy when a worker's last poll round succeeded, less than ``within`` seconds ago.

    Workers on ``host`` are judged when there are any (a container checks its own worker);
    else every worker in the store is.
    """
    judged = [beat for beat in beats if beat["host"] == host] or list(beats)
    fine = [beat for beat in judged if not _failed_last(beat) and _age(beat, now) <= within]
    if fine:
        best = min(fine, key=lambda beat: _age(beat, now))
        return Verdict(
            True, f"healthy: {best['name']} finished a poll round {_age(best, now):.0f} s ago"
        )
    newest = max(judged, key=_last_heard, default=None)
    if newest is not None and _failed_last(newest):
        failed = (now - newest["last_failed_at"]).total_seconds()
        return Verdict(
            False,
            f"unhealthy: the last poll round of {newest['name']} failed {failed:.0f} s ago: "
            f"{newest['last_error']}",
        )
    finished = [beat["last_round_at"] for beat in judged if beat["last_round_at"]]
    last = max(finished).isoformat() if finished else "never"
    return Verdict(
        False, f"unhealthy: no worker finished a poll round within {within:g} s (last: {last})"
    )


def _failed_last(beat: Beat) -> bool:
    failed, finished = beat.get("last_failed_at"), beat["last_round_at"]
    return failed is not None and (finished is None or failed >= finished)


def _age(beat: Beat, now: datetime) -> float:
    finished = beat["last_round_at"]
    return (now - finished).total_seconds() if finished else float("inf")


def _last_heard(beat: Beat) -> datetime:
    times = [t for t in (beat["last_round_at"], beat.get("last_failed_at")) if t is not None]
    return max(times, default=beat["started_at"])
