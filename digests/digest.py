"""The digest record the templates receive, and ``build_digest``: select, cluster, group.

Grouping. A digest is divided by tag, each tag by feed:

* an item goes to the first of the subscriber's tags (in the subscriber's order) that its feed
  carries; when the subscriber chose no tags, or chose the feed by URL only, to the feed's first
  tag; a feed without tags goes to the group ``OTHER``;
* groups come in the subscriber's tag order, then the remaining tags alphabetically, then
  ``OTHER`` last; tags compare without regard to case and show as the subscriber wrote them;
* inside a group, feeds come alphabetically by title (then URL), and a feed's items newest
  first by published time (ties: first seen, feed URL, entry id);
* an item clustered from several feeds sits with its lead entry's feed.

Shortening. ``shorten`` keeps the first stories in reading order in full, shows the next ones as
headlines (a section's ``brief``) and leaves the rest out (``Digest.unlisted``), counted; the
renderer uses it to keep an e-mail within its size budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from digests.cluster import Item, cluster
from digests.models import DigestEntry, Window
from digests.select import Trimmed, recency, select
from digests.settings import DigestSettings, Subscriber

OTHER = "Other"


@dataclass(frozen=True)
class Section:
    """One feed's items inside a group, and how many more of its entries the limits left out."""

    feed_url: str
    feed_title: str
    items: tuple[Item, ...]  # shown in full
    more: int = 0
    brief: tuple[Item, ...] = ()  # shown as headlines, after ``items``


@dataclass(frozen=True)
class Group:
    """The items filed under one tag (or under OTHER), feed by feed."""

    name: str
    sections: tuple[Section, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the group, in order."""
        return tuple(item for section in self.sections for item in section.items)

    @property
    def stories(self) -> tuple[Item, ...]:
        """Every item of the group, in full or as a headline, in order."""
        return tuple(i for section in self.sections for i in (*section.items, *section.brief))


@dataclass(frozen=True)
class Digest:
    """Everything one subscriber's digest shows, ready for the templates."""

    title: str
    subscriber: Subscriber
    window: Window
    groups: tuple[Group, ...]
    trimmed: tuple[Trimmed, ...]  # every feed the limits trimmed, by feed title
    followed_feeds: tuple[str, ...] = ()  # subscriber.feeds as feed titles where known
    unsubscribe: str = ""  # an e-mail address
    unlisted: tuple[Item, ...] = ()  # stories left out to keep the e-mail small, counted

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item shown in full, in reading order."""
        return tuple(item for group in self.groups for item in group.items)

    @property
    def brief(self) -> tuple[Item, ...]:
        """Every item shown as a headline only, in reading order."""
        return tuple(
            i for group in self.groups for section in group.sections for i in section.brief
        )

    @property
    def stories(self) -> tuple[Item, ...]:
        """Every story of the digest: in full, as a headline, then left out."""
        return (*(i for group in self.groups for i in group.stories), *self.unlisted)

    @property
    def story_count(self) -> int:
        """The number of stories (an item carried by several feeds counts once)."""
        return len(self.stories)

    @property
    def feed_count(self) -> int:
        """The number of feeds whose entries are in the digest, "also in" links included."""
        return len({e.feed_url for item in self.stories for e in (item.entry, *item.also)})

    @property
    def elsewhere(self) -> tuple[Trimmed, ...]:
        """Trimmed feeds with nothing shown, whose notes have no section to sit in."""
        shown = {section.feed_url for group in self.groups for section in group.sections}
        return tuple(t for t in self.trimmed if t.feed_url not in shown)


def build_digest(
    entries: Sequence[DigestEntry],
    subscriber: Subscriber,
    window: Window,
    settings: DigestSettings,
    *,
    unsubscribe: str = "",
) -> Digest:
    """Select, cluster and group ``entries`` into ``subscriber``'s digest for ``window``."""
    selection = select(entries, subscriber, window)
    items = cluster(selection.entries).items
    titles = {entry.feed_url: entry.feed_title for entry in entries}
    return Digest(
        title=settings.title,
        subscriber=subscriber,
        window=window,
        groups=group(items, subscriber, selection.trimmed),
        trimmed=selection.trimmed,
        followed_feeds=tuple(titles.get(url, url) for url in subscriber.feeds),
        unsubscribe=unsubscribe.removeprefix("mailto:").strip(),
    )


def group(
    items: Sequence[Item], subscriber: Subscriber, trimmed: Sequence[Trimmed] = ()
) -> tuple[Group, ...]:
    """File items under tags and feeds in the documented order."""
    chosen: dict[str, str] = {}
    for tag in subscriber.tags:
        chosen.setdefault(tag.casefold(), tag)
    names: dict[str, set[str]] = defaultdict(set)
    by_feed: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        key, name = group_of(item.entry, chosen)
        names[key].add(name)
        by_feed[key][item.entry.feed_url].append(item)
    rank = {key: n for n, key in enumerate(chosen)}
    keys = sorted(by_feed, key=lambda k: (k == "", rank.get(k, len(rank)), k))
    more = {t.feed_url: t.count for t in trimmed}
    return tuple(Group(min(names[key]), _sections(by_feed[key], more)) for key in keys)


def group_of(entry: DigestEntry, chosen: dict[str, str]) -> tuple[str, str]:
    """The group key (a case-folded tag, '' for OTHER) and name of an entry's feed."""
    folded = [tag.casefold() for tag in entry.feed_tags]
    for key, name in chosen.items():
        if key in folded:
            return key, name
    if entry.feed_tags:
        return folded[0], entry.feed_tags[0]
    return "", OTHER


def _sections(feeds: dict[str, list[Item]], more: dict[str, int]) -> tuple[Section, ...]:
    sections = [
        Section(
            feed_url=url,
            feed_title=items[0].entry.feed_title,
            items=tuple(sorted(items, key=lambda item: recency(item.entry))),
            more=more.get(url, 0),
        )
        for url, items in feeds.items()
    ]
    sections.sort(key=lambda s: (s.feed_title.casefold(), s.feed_url))
    return tuple(sections)


def shorten(digest: Digest, full: int, brief: int) -> Digest:
    """The digest with its first ``full`` stories in full, the next ``brief`` as headlines only."""
    stories = [i for group in digest.groups for i in group.stories]
    ranks = {id(item): n for n, item in enumerate(stories)}
    groups = []
    for old in digest.groups:
        sections = []
        for section in old.sections:
            mine = (*section.items, *section.brief)
            kept = tuple(i for i in mine if ranks[id(i)] < full)
            headlines = tuple(i for i in mine if full <= ranks[id(i)] < full + brief)
            if kept or headlines:
                sections.append(replace(section, items=kept, brief=headlines))
        if sections:
            groups.append(replace(old, sections=tuple(sections)))
    unlisted = (*stories[full + brief :], *digest.unlisted)
    return replace(digest, groups=tuple(groups), unlisted=tuple(unlisted))
