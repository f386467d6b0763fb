"""The ``[alerts]`` table of the config, checked: who is told about failing and quiet feeds."""

from __future__ import annotations

from typing import Any

from broadsheet.checks import Checker, duration, mailbox
from digests.settings import AlertSettings

KEYS = {"email", "after", "quiet"}
MIN_AFTER = 60.0  # a minute: a failure shorter than one poll says nothing
MIN_QUIET = 3600.0  # an hour: quieter than that is any feed overnight


def alerts(check: Checker, table: dict[str, Any]) -> AlertSettings:
    """The ``[alerts]`` table as settings; problems go to ``check``."""
    d = AlertSettings()
    after = check.converted(table, "after", "alerts", duration, d.after)
    if after < MIN_AFTER:
        check.fail("alerts.after", f'expected "1m" or longer, got {table.get("after")!r}')
        after = d.after
    quiet = check.converted(table, "quiet", "alerts", duration, None) if "quiet" in table else None
    if quiet is not None and quiet < MIN_QUIET:
        check.fail("alerts.quiet", f'expected "1h" or longer, got {table.get("quiet")!r}')
        quiet = None
    return AlertSettings(email=_addresses(check, table.get("email", [])), after=after, quiet=quiet)


def _addresses(check: Checker, value: Any) -> tuple[str, ...]:
    """The ``email`` list: bare addresses, each once (a lone string is taken as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        check.fail("alerts.email", 'expected a list of addresses such as ["ops@example.org"]')
        return ()
    found: dict[str, str] = {}
    for index, item in enumerate(value):
        try:
            bare = mailbox(item)
        except ValueError as exc:
            check.fail(f"alerts.email[{index}]", str(exc))
            continue
        if bare.lower() in found:
            check.fail(f"alerts.email[{index}]", f"{bare} is listed twice")
            continue
        found[bare.lower()] = bare
    return tuple(found.values())
