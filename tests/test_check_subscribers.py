"""`broadsheet check` on subscribers: schedules that never fire fail, selections of nothing warn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from processes import cli

FEEDS = """
[[feeds]]
url = "https://wire.example/feed"
tags = ["World", "business"]

[[feeds]]
url = "https://harbor.example/atom"
tags = ["sport"]
"""


def config(tmp_path: Path, *subscribers: dict[str, object]) -> Path:
    lines = [FEEDS]
    for subscriber in subscribers:
        lines += ["[[subscribers]]", *(f"{k} = {json.dumps(v)}" for k, v in subscriber.items())]
    path = tmp_path / "broadsheet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "schedule", ["0 7 31 2 *", "0 0 30 2 *", "15 6 31 4,6,9,11 *", "0 0 30,31 feb *"]
)
def test_a_schedule_that_never_fires_is_a_config_error_naming_the_subscriber(
    tmp_path: Path, schedule: str
) -> None:
    path = config(
        tmp_path,
        {"email": "ann@example.org"},
        {"email": "bob@example.org", "schedule": "weekly mon 07:00"},
        {"email": "cy@example.org", "schedule": schedule},
    )
    code, out, err = cli(path, "check")
    assert code == 2, out + err
    assert f"{path}: subscribers[2].schedule: '{schedule}' never fires" in err
    assert "subscribers[0]" not in err and "subscribers[1]" not in err


@pytest.mark.parametrize(
    "schedule", ["0 0 29 2 *", "0 7 31 2 mon", "0 0 31 * *", "0 0 30 1-3 *", "daily 07:00"]
)
def test_schedules_that_fire_rarely_are_accepted(tmp_path: Path, schedule: str) -> None:
    code, out, err = cli(
        config(tmp_path, {"email": "ann@example.org", "schedule": schedule}), "check"
    )
    assert code == 0, out + err
    assert "warning" not in err


def test_tags_and_feeds_that_match_no_feed_warn_with_the_close_matches(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        {"email": "ann@example.org", "tags": ["world", "SPORT"]},  # tags match in any case
        {
            "email": "bob@example.org",
            "tags": ["wrold", "busines", "gardening"],
            "feeds": ["https://harbor.example/atom", "https://wire.example/fed"],
        },
    )
    code, out, err = cli(path, "check")
    assert code == 0, out + err
    assert f"{path}: OK" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        'warning: subscribers[1].tags[0]: "wrold" is no feed\'s tag; did you mean "world"?',
        'warning: subscribers[1].tags[1]: "busines" is no feed\'s tag; did you mean "business"?',
        'warning: subscribers[1].tags[2]: "gardening" is no feed\'s tag; it selects nothing '
        "(see the [[feeds]] entries)",
        "warning: subscribers[1].feeds[1]: https://wire.example/fed is not a configured feed; "
        'did you mean "https://wire.example/feed"?',
    ]
