"""Pure: a digest as it went out, recorded by entry ids, and restored from that record.

The ledger keeps each sent digest's structure (``deliveries.edition``, JSON) so the web archive
shows exactly the stories that were sent, in the same order and form: groups, their feeds'
sections, each item's lead entry and the same story in other feeds (``also``), the headlines
(``brief``), the "N more" counts, the feeds the limits trimmed, and the stories the e-mail's
size budget left out (``unlisted``). The record is taken after the e-mail's size fitting
(``render.fit``), so a story shown only as a headline in the mail is a headline in the archive.
Since version 2 it also keeps the layout (``order``), the rank order (``ranking``, lead entry
ids best first, from which the index "In this edition" follows) and the stories past the reading
budget (``counted``); a version 1 record, made before ranking, restores as it was sent: grouped
by tag, without an index.

Entries are named by id; their text is read back from the store. An entry deleted since (its
feed removed) is left out of the restored digest, and a section or group left empty goes too.

    {"version": 1, "groups": [{"name": "World", "sections": [{"feed_url": ..., "feed_title":
      ..., "more": 0, "items": [{"id": 7, "also": [9]}], "brief": [...]}]}],
     "trimmed": [{"feed_url": ..., "feed_title": ..., "count": 3}], "unlisted": [...],
     "followed_feeds": [...], "unsubscribe": "...",
     "order": "ranked", "ranking": [7, 12, ...], "counted": [...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from digests.cluster import Item
from digests.digest import Digest, Group, Section
from digests.models import DigestEntry, Window
from digests.select import Trimmed
from digests.settings import BY_TAG, Subscriber

VERSION = 2


def record(digest: Digest) -> dict[str, Any]:
    """The digest's structure by entry ids, as plain JSON-able data."""
    return {
        "version": VERSION,
        "groups": [
            {
                "name": group.name,
                "sections": [
                    {
                        "feed_url": section.feed_url,
                        "feed_title": section.feed_title,
                        "more": section.more,
                        "items": [_item(item) for item in section.items],
                        "brief": [_item(item) for item in section.brief],
                    }
                    for section in group.sections
                ],
            }
            for group in digest.groups
        ],
        "trimmed": [
            {"feed_url": t.feed_url, "feed_title": t.feed_title, "count": t.count}
            for t in digest.trimmed
        ],
        "unlisted": [_item(item) for item in digest.unlisted],
        "followed_feeds": list(digest.followed_feeds),
        "unsubscribe": digest.unsubscribe,
        "order": digest.order,
        "ranking": list(digest.ranking),
        "counted": [_item(item) for item in digest.counted],
    }


def entry_ids(source: Digest | Mapping[str, Any]) -> list[int]:
    """Every entry id a digest (or its record) carries, in reading order, each once."""
    data = record(source) if isinstance(source, Digest) else source
    stories = [
        item
        for group in data.get("groups", [])
        for section in group.get("sections", [])
        for item in (*section.get("items", []), *section.get("brief", []))
    ]
    stories += [*data.get("unlisted", []), *data.get("counted", [])]
    ids = [int(i) for item in stories for i in (item["id"], *item.get("also", []))]
    return list(dict.fromkeys(ids))


def restore(
    data: Mapping[str, Any],
    entries: Mapping[int, DigestEntry],
    subscriber: Subscriber,
    window: Window,
    title: str,
) -> Digest:
    """The digest a record describes, with the entries read back (deleted ones left out)."""
    groups = []
    for group in data.get("groups", []):
        sections = []
        for section in group.get("sections", []):
            items = _items(section.get("items", []), entries)
            brief = _items(section.get("brief", []), entries)
            if items or brief:
                sections.append(
                    Section(
                        feed_url=str(section["feed_url"]),
                        feed_title=str(section["feed_title"]),
                        items=items,
                        more=int(section.get("more", 0)),
                        brief=brief,
                    )
                )
        if sections:
            groups.append(Group(str(group["name"]), tuple(sections)))
    trimmed = tuple(
        Trimmed(str(t["feed_url"]), str(t["feed_title"]), int(t["count"]))
        for t in data.get("trimmed", [])
    )
    return Digest(
        title=title,
        subscriber=subscriber,
        window=window,
        groups=tuple(groups),
        trimmed=trimmed,
        followed_feeds=tuple(str(f) for f in data.get("followed_feeds", [])),
        unsubscribe=str(data.get("unsubscribe", "")),
        unlisted=_items(data.get("unlisted", []), entries),
        order=str(data.get("order", BY_TAG)),
        ranking=tuple(int(i) for i in data.get("ranking", [])),
        counted=_items(data.get("counted", []), entries),
    )


def _item(item: Item) -> dict[str, Any]:
    return {"id": item.entry.id, "also": [entry.id for entry in item.also]}


def _items(recorded: list[Any], entries: Mapping[int, DigestEntry]) -> tuple[Item, ...]:
    found = []
    for item in recorded:
        lead = entries.get(int(item["id"]))
        if lead is None:
            continue
        also = tuple(entries[int(i)] for i in item.get("also", []) if int(i) in entries)
        found.append(Item(lead, also))
    return tuple(found)
