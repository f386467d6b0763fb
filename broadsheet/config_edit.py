"""Edit the admin's TOML in place with tomlkit, keeping their comments, order and blank lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Table, Whitespace

from broadsheet.checks import http_url
from ingest.errors import ConfigError
from ingest.models import FeedSpec
from ingest.opml import feed_key


def refused(specs: Sequence[FeedSpec]) -> dict[str, str]:
    """The feeds whose URL the config would refuse, each with the reason ``check`` gives."""
    reasons = {}
    for spec in specs:
        try:
            http_url(spec.url)
        except ValueError as exc:
            reasons[spec.url] = str(exc)
    return reasons


@dataclass
class Added:
    """What an import did: the feeds added, and those already listed (with the URL listed)."""

    added: list[FeedSpec] = field(default_factory=list)
    present: list[tuple[FeedSpec, str]] = field(default_factory=list)
    refused: list[tuple[FeedSpec, str]] = field(default_factory=list)  # with check's reason


def add_feeds(path: Path, specs: Sequence[FeedSpec]) -> Added:
    """Add ``[[feeds]]`` tables after the last one for feeds not yet listed (by ``feed_key``).

    A URL the config would refuse is never written (see ``refused``): one such line would make
    every later command stop on the config.
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
    if not isinstance(feeds, AoT):
        raise ConfigError([f"{path}: feeds: expected [[feeds]] tables to add to"])
    present = {feed_key(str(table.get("url", ""))): str(table.get("url")) for table in feeds}
    done = Added()
    bad = refused(specs)
    for spec in specs:
        if spec.url in bad:
            done.refused.append((spec, bad[spec.url]))
            continue
        if (key := feed_key(spec.url)) in present:
            done.present.append((spec, present[key]))
            continue
        present[key] = spec.url
        done.added.append(spec)
    if done.added:
        _append(feeds, [_table(spec) for spec in done.added])
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
        temporary.replace(path)
    return done


def _table(spec: FeedSpec) -> Table:
    table = tomlkit.table()
    table.add("url", spec.url)
    if spec.title:
        table.add("title", spec.title)
    if spec.tags:
        table.add("tags", list(spec.tags))
    return table


def _append(feeds: AoT, tables: list[Table]) -> None:
    """Append ``tables`` after the last feed, each after a blank line.

    The blank lines and comments that end the last feed's table belong to what follows it (the
    next table's heading comment): they move below the new tables.
    """
    trailing: list[tuple[Any, Any]] = []
    last: Table | None = feeds[-1] if len(feeds) else None
    if last is not None:
        body = last.value.body
        while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace | Comment):
            trailing.insert(0, body.pop())
    for table in tables:
        if last is not None:
            last.add(tomlkit.nl())
        feeds.append(table)
        last = table
    if last is not None:
        last.value.body.extend(trailing)
