"""Edit the admin's TOML in place with tomlkit, keeping their comments and formatting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from broadsheet.checks import http_url
from ingest.errors import ConfigError
from ingest.models import FeedSpec


def refused(specs: Sequence[FeedSpec]) -> dict[str, str]:
    """The feeds whose URL the config would refuse, each with the reason ``check`` gives."""
    reasons = {}
    for spec in specs:
        try:
            http_url(spec.url)
        except ValueError as exc:
            reasons[spec.url] = str(exc)
    return reasons


def add_feeds(path: Path, specs: Sequence[FeedSpec]) -> list[FeedSpec]:
    """Append ``[[feeds]]`` tables for valid feeds not yet listed; returns the ones added.

    A URL the config would refuse is never written (see ``refused``): one such line would
    make every later command stop on the config.
    """
    try:
        text = path.read_text(encoding="utf-8")
        document = tomlkit.parse(text)
    except (OSError, TOMLKitError) as exc:
        raise ConfigError([f"{path}: cannot read the config to edit it: {exc}"]) from exc
    feeds = document.get("feeds")
    if feeds is None:
        feeds = tomlkit.aot()
        document.append("feeds", feeds)
    present = {str(table.get("url", "")).strip() for table in feeds}
    bad = refused(specs)
    added = []
    for spec in specs:
        if spec.url in present or spec.url in bad:
            continue
        table = tomlkit.table()
        table.add("url", spec.url)
        if spec.title:
            table.add("title", spec.title)
        if spec.tags:
            table.add("tags", list(spec.tags))
        feeds.append(table)
        present.add(spec.url)
        added.append(spec)
    if added:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
        temporary.replace(path)
    return added
