"""The digest record the templates receive, and ``build_digest``: select, cluster, rank, lay out.

Order. ``build_digest`` ranks the stories (``digests/rank.py``) and fits them to the subscriber's
reading budget (``digests/budget.py``): the best ones in full, the next ones as headlines, the rest
counted. ``Digest.ranking`` keeps the rank order (lead entry ids, best first); the layout follows
the subscriber's ``order``:

* ``ranked`` (the default): one group without a name, holding one section without a feed: the
  stories in full, best first, then the headlines, best first;
* ``by_tag``: grouped as below, ranked inside each feed's section.

Grouping. A ``by_tag`` digest is divided by tag, each tag by feed:

* an item goes to the first of the subscriber's tags (in the subscriber's order) that its feed
  carries; when the subscriber chose no tags, or chose the feed by URL only, to the feed's first
  tag; a feed without tags goes to the group ``OTHER``;
* groups come in the subscriber's tag order, then the remaining tags alphabetically, then
  ``OTHER`` last; tags compare without regard to case and show as the subscriber wrote them;
* inside a group, feeds come alphabetically by title (then URL), and a feed's items in rank
  order;
* an item clustered from several feeds sits with its lead entry's feed.

The index ("In this edition", ``Digest.index``) lists the best stories shown in full, at most
``INDEX_LENGTH``, once the digest shows at least ``INDEX_MIN`` stories.

Shortening. ``shorten`` keeps the best stories (in rank order) as they are, shows the next ones as
headlines (a section's ``brief``) and leaves the rest out (``Digest.unlisted``), counted; the
renderer uses it to keep an e-mail within its size budget, on top of the reading budget: it never
turns a headline back into a story in full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from digests.budget import fill, reading_minutes
from digests.cluster import Item, cluster
from digests.models import DigestEntry, Window
from digests.rank import rank
from digests.select import Trimmed, select
from digests.settings import BY_TAG, ORDERS, RANKED, DigestSettings, Subscriber

OTHER = "Other"
INDEX_LENGTH = 8
INDEX_MIN = 4


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
    order: str = BY_TAG  # the layout of ``groups``: RANKED or BY_TAG
    ranking: tuple[int, ...] = ()  # lead entry ids, best first (empty: reading order)
    counted: tuple[Item, ...] = ()  # stories past the reading budget, counted

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
    def shown(self) -> tuple[Item, ...]:
        """Every story shown, in full or as a headline, in reading order."""
        return tuple(i for group in self.groups for i in group.stories)

    @property
    def stories(self) -> tuple[Item, ...]:
        """Every story of the digest: in full, as a headline, then left out, then counted."""
        return (*self.shown, *self.unlisted, *self.counted)

    @property
    def best_first(self) -> tuple[Item, ...]:
        """The stories shown, in rank order (reading order where the digest has no ranking)."""
        position = {entry_id: n for n, entry_id in enumerate(self.ranking)}
        shown = self.shown
        return tuple(sorted(shown, key=lambda item: position.get(item.entry.id, len(position))))

    @property
    def index(self) -> tuple[Item, ...]:
        """ "In this edition": the best stories shown in full (none for a short or unranked one)."""
        if not self.ranking or len(self.shown) < INDEX_MIN:
            return ()
        full = {id(item) for item in self.items}
        return tuple(item for item in self.best_first if id(item) in full)[:INDEX_LENGTH]

    @property
    def reading_minutes(self) -> int:
        """The minutes the stories in full take to read (``digests/reading.py``), rounded up."""
        return reading_minutes(self.items)

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
    weights: Mapping[str, float] | None = None,
) -> Digest:
    """Select, cluster, rank and lay out ``entries`` into ``subscriber``'s digest for ``window``.

    ``weights`` maps a feed's config URL to its ``[[feeds]] weight`` (1 when absent).
    """
    selection = select(entries, subscriber, window)
    items = cluster(selection.entries).items
    ranked = [r.item for r in rank(items, subscriber, window, weights or {})]
    fitted = fill(ranked, subscriber.budget)
    titles = {entry.feed_url: entry.feed_title for entry in entries}
    order = subscriber.order if subscriber.order in ORDERS else RANKED
    if order == RANKED:
        groups = ranked_groups(fitted.full, fitted.brief)
    else:
        groups = group(fitted.full, subscriber, selection.trimmed, fitted.brief)
    return Digest(
        title=settings.title,
        subscriber=subscriber,
        window=window,
        groups=groups,
        trimmed=selection.trimmed,
        followed_feeds=tuple(titles.get(url, url) for url in subscriber.feeds),
        unsubscribe=unsubscribe.removeprefix("mailto:").strip(),
        order=order,
        ranking=tuple(item.entry.id for item in ranked),
        counted=fitted.counted,
    )


def ranked_groups(full: Sequence[Item], brief: Sequence[Item] = ()) -> tuple[Group, ...]:
    """The ranked layout: one unnamed group, one section without a feed (none when empty)."""
    if not full and not brief:
        return ()
    return (Group("", (Section("", "", tuple(full), brief=tuple(brief)),)),)


def group(
    items: Sequence[Item],
    subscriber: Subscriber,
    trimmed: Sequence[Trimmed] = (),
    brief: Sequence[Item] = (),
) -> tuple[Group, ...]:
    """File items (in full) and ``brief`` (headlines), each best first, under tags and feeds."""
    chosen: dict[str, str] = {}
    for tag in subscriber.tags:
        chosen.setdefault(tag.casefold(), tag)
    names: dict[str, set[str]] = defaultdict(set)
    by_feed: dict[str, dict[str, tuple[list[Item], list[Item]]]] = defaultdict(
        lambda: defaultdict(lambda: ([], []))
    )
    for part, stories in enumerate((items, brief)):
        for item in stories:
            key, name = group_of(item.entry, chosen)
            names[key].add(name)
            by_feed[key][item.entry.feed_url][part].append(item)
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


def _sections(
    feeds: dict[str, tuple[list[Item], list[Item]]], more: dict[str, int]
) -> tuple[Section, ...]:
    sections = [
        Section(
            feed_url=url,
            feed_title=(items or brief)[0].entry.feed_title,
            items=tuple(items),
            more=more.get(url, 0),
            brief=tuple(brief),
        )
        for url, (items, brief) in feeds.items()
    ]
    sections.sort(key=lambda s: (s.feed_title.casefold(), s.feed_url))
    return tuple(sections)


def shorten(digest: Digest, full: int, brief: int) -> Digest:
    """The digest's best ``full`` stories as they are, the next ``brief`` as headlines only.

    Stories count in rank order (``Digest.best_first``); one of the best ``full`` that is a
    headline stays a headline. The rest join ``unlisted``.
    """
    stories = digest.best_first
    ranks = {id(item): n for n, item in enumerate(stories)}
    groups = []
    for old in digest.groups:
        sections = []
        for section in old.sections:
            kept = tuple(i for i in section.items if ranks[id(i)] < full)
            rest = [i for i in (*section.items, *section.brief) if i not in kept]
            headlines = tuple(
                sorted((i for i in rest if ranks[id(i)] < full + brief), key=lambda i: ranks[id(i)])
            )
            if kept or headlines:
                sections.append(replace(section, items=kept, brief=headlines))
        if sections:
            groups.append(replace(old, sections=tuple(sections)))
    unlisted = (*stories[full + brief :], *digest.unlisted)
    return replace(digest, groups=tuple(groups), unlisted=tuple(unlisted))
