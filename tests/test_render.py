"""Rendering digests: golden HTML, text and Markdown, escaping, templates and time zones."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from digests.digest import OTHER, Digest, build_digest, group
from digests.models import DigestEntry, Window
from digests.render import (
    RenderError,
    day,
    excerpt,
    markdown_escape,
    period,
    reason,
    render_html,
    render_markdown,
    render_text,
    subject,
    web_url,
    when,
)
from digests.settings import DigestSettings, Subscriber

GOLDEN = Path(__file__).parent / "data" / "digest"
PACKAGE = Path(__file__).parent.parent / "digests"
REGEN = os.environ.get("BROADSHEET_REGEN_GOLDEN") == "1"

NORTHWIND = ("https://news.northwind.example/feed/", "Northwind Wire", ("world", "europe"))
HARBOR = ("https://harbortimes.example/world/atom.xml", "Harbor Times · World", ("world",))
QUAYSIDE = ("https://quayside.example/feed.xml", "Quayside Ledger", ("business",))


def utc(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_entry(
    id: int,
    feed: tuple[str, str, tuple[str, ...]],
    title: str,
    published: str,
    *,
    excerpt: str = "",
    link: str | None = None,
    authors: tuple[str, ...] = (),
    image: str | None = None,
    summary_html: str = "",
) -> DigestEntry:
    """A DigestEntry first seen five minutes after it was published."""
    url, feed_title, tags = feed
    when = utc(published)
    return DigestEntry(
        id=id,
        feed_url=url,
        feed_title=feed_title,
        feed_tags=tags,
        title=title,
        link=link,
        authors=authors,
        published=when,
        first_seen=when + timedelta(minutes=5),
        summary_html=summary_html or (f"<p>{excerpt}</p>" if excerpt else ""),
        content_html="",
        excerpt=excerpt,
        image=image,
        tags=(),
    )


def golden_entries() -> list[DigestEntry]:
    """Nine entries from three feeds, written after the shared fixtures (plus a business feed)."""
    nw, ht, qs = NORTHWIND, HARBOR, QUAYSIDE
    return [
        make_entry(
            1,
            nw,
            "Capital Welcomes Rival’s Written Offer but Sees “No Breakthrough”",
            "2022-03-30 17:42:10",
            link="https://news.northwind.example/2022/03/30/written-offer/",
            authors=("Mara Velden",),
            image="https://news.northwind.example/wp-content/uploads/2022/03/talks.jpg",
            excerpt="The side that received the proposal said talks had a long way to go, while "
            "its lead negotiator sounded more upbeat. The post Capital Welcomes Rival’s Written "
            "Offer but Sees “No Breakthrough” appeared first on Northwind Wire.",
        ),
        make_entry(
            2,
            nw,
            "Troops Pull Back From Outskirts for Second Day",
            "2022-03-30 15:10",
            link="https://news.northwind.example/2022/03/30/pull-back/",
            authors=("Mara Velden",),
            excerpt="An adviser said forces were “really leaving the region,” though no large "
            "withdrawal was seen further north.",
        ),
        make_entry(
            3,
            nw,
            "Markets & Energy: Gas Prices Ease After Talks",
            "2022-03-30 12:00",
            link="https://news.northwind.example/2022/03/30/gas-prices/",
            excerpt="Prices fell 6%. details",
        ),
        make_entry(
            9,
            nw,
            "Morning briefing",
            "2022-03-30 06:10",
            link="https://news.northwind.example/2022/03/30/briefing/",
            excerpt="What we know on the thirty-fifth day.",
        ),
        make_entry(
            4,
            ht,
            "Written peace offer welcomed, but “no breakthrough,” says spokesman",
            "2022-03-30 17:20",
            link="https://harbortimes.example/world/2022/03/30/peace-offer",
            authors=("Jon Aaberg",),
            excerpt="Negotiators exchanged written proposals on Tuesday; a spokesman said there "
            "was still a long way to go.",
        ),
        make_entry(
            5,
            ht,
            "Port strike enters third week",
            "2022-03-30 09:00",
            link="https://harbortimes.example/world/2022/03/30/port-strike",
            excerpt="Dock workers rejected the latest offer.",
        ),
        make_entry(
            6,
            qs,
            "Port strike halts grain exports as talks stall",
            "2022-03-30 13:35",
            link="https://quayside.example/2022/03/30/grain-exports",
            authors=("Ines Okafor", "Tom Reyes"),
            image="https://quayside.example/media/grain-ships.jpg",
            excerpt="Grain ships queued outside the harbour after union leaders walked out of "
            "talks with the port authority, leaving traders to look for other routes before "
            "the harvest.",
        ),
        make_entry(
            7,
            qs,
            "Rates “on hold” while inflation < 2% stays out of reach",
            "2022-03-30 10:05",
            link="https://quayside.example/2022/03/30/rates-on-hold",
            authors=("Ines Okafor",),
            excerpt="The central bank left its main rate unchanged and said it would wait for "
            "firmer evidence that price rises were slowing before moving again.",
        ),
        make_entry(
            8,
            qs,
            "Tidewater & Sons posts record quarter",
            "2022-03-30 16:45",
            link="https://quayside.example/2022/03/30/tidewater",
            excerpt="The ferry operator’s revenue rose by a third on the year as freight moved "
            "from the strike-bound port to its routes.",
        ),
    ]


def golden_subscriber(**changes: object) -> Subscriber:
    """Ann in Berlin: the world tag, plus one business feed chosen by URL."""
    subscriber = Subscriber(
        email="ann@example.org",
        schedule="daily 07:00",
        cron="0 7 * * *",
        timezone="Europe/Berlin",
        name="Ann",
        tags=("world",),
        feeds=(QUAYSIDE[0],),
        max_per_feed=3,
        max_items=20,
    )
    return replace(subscriber, **changes)


GOLDEN_WINDOW = Window(utc("2022-03-30 05:00"), utc("2022-03-31 05:00"))
SETTINGS = DigestSettings(excerpt_length=160)


def golden_digest(entries: list[DigestEntry] | None = None, **changes: object) -> Digest:
    """The golden digest (or the same subscriber's digest of ``entries``)."""
    return build_digest(
        golden_entries() if entries is None else entries,
        golden_subscriber(**changes),
        GOLDEN_WINDOW,
        SETTINGS,
        unsubscribe="mailto:unsubscribe@broadsheet.example",
    )


# Golden files ---------------------------------------------------------------------------------


# The ranked default; grouped by tag (ranked inside); and a reading budget of 20 seconds (76
# words: the best stories in full, the next as headlines).
VARIANTS = {"": {}, "by-tag": {"order": "by_tag"}, "budget": {"budget": 20.0}}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize(
    ("name", "render"),
    [("digest.html", render_html), ("digest.txt", render_text), ("digest.md", render_markdown)],
)
def test_golden(name: str, render: object, variant: str) -> None:
    rendered = render(golden_digest(**VARIANTS[variant]), SETTINGS)  # type: ignore[operator]
    path = GOLDEN / variant / name
    path.parent.mkdir(exist_ok=True)
    if REGEN:
        path.write_bytes(rendered.encode("utf-8"))
    assert rendered == path.read_bytes().decode("utf-8")


def test_golden_digest_shape_by_tag() -> None:
    digest = golden_digest(order="by_tag")
    assert [g.name for g in digest.groups] == ["world", "business"]
    world = digest.groups[0]
    assert [s.feed_title for s in world.sections] == ["Harbor Times · World", "Northwind Wire"]
    offer = world.sections[0].items[0]
    assert offer.entry.id == 4 and [e.id for e in offer.also] == [1]
    assert world.sections[1].more == 1  # max_per_feed=3 left out the morning briefing
    assert (digest.story_count, digest.feed_count) == (7, 3)
    assert subject(digest) == "The Broadsheet — Thu 31 Mar 2022"


# What a mail client must never receive ---------------------------------------------------------


def test_html_has_no_scripts_external_css_or_handlers() -> None:
    html = render_html(golden_digest(), SETTINGS)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "@import" not in html
    assert not _handler_attributes(html)
    assert "javascript:" not in html.lower()


def _handler_attributes(html: str) -> list[str]:
    """Every on* attribute of every element."""
    soup = BeautifulSoup(html, "html.parser")
    return [
        name for tag in soup.find_all(True) for name in tag.attrs if name.lower().startswith("on")
    ]


def test_html_inlines_what_holds_the_page_and_keeps_story_styles_in_the_head() -> None:
    html = render_html(golden_digest(), SETTINGS)
    styles = re.findall(r"<style\b([^>]*)>(.*?)</style>", html, re.S)
    assert [attributes for attributes, _ in styles] == [' data-css-inline="keep"']
    kept = styles[0][1]
    assert "prefers-color-scheme: dark" in kept and ".title {" in kept
    assert '<meta name="color-scheme" content="light dark">' in html
    sheet = re.search(r'<table class="sheet"[^>]*>', html)[0]  # type: ignore[index]
    for rule in ("max-width: 640px", "table-layout: fixed", "overflow-wrap: anywhere"):
        assert rule in sheet
    assert "word-break: break-word" in sheet
    assert '<h2 class="title" dir="auto">' in html  # one class per story, no repeated styles


def test_titles_excerpts_and_feed_names_take_their_own_direction() -> None:
    arabic = ("https://akhbar.example/rss", "أخبار المدينة", ("world",))
    entry = make_entry(
        9, arabic, "افتتاح الميناء الجديد", "2022-03-30 11:00", excerpt="قال مسؤولون إن الميناء"
    )
    html = render_html(golden_digest([entry], feeds=()), SETTINGS)
    assert '<h2 class="title" dir="auto">افتتاح الميناء الجديد</h2>' in html
    assert '<p class="excerpt" dir="auto">قال مسؤولون إن الميناء</p>' in html
    assert '<b dir="auto">أخبار المدينة</b>' in html


def test_html_images_have_alt_and_bounded_width() -> None:
    html = render_html(golden_digest(), SETTINGS)
    images = re.findall(r"<img\b[^>]*>", html)
    assert images
    for tag in images:
        assert re.search(r'alt="[^"]+"', tag)
        assert int(re.search(r'width="(\d+)"', tag)[1]) <= 600  # type: ignore[index]
        assert "max-width: 100%" in tag and "height: auto" in tag


def test_script_in_title_is_escaped_everywhere() -> None:
    hostile = make_entry(
        9,
        HARBOR,
        "<script>alert('x')</script> Breaking & <b>bold</b>",
        "2022-03-30 11:00",
        link="javascript:alert(1)",
        excerpt="<img src=x onerror=steal()> text",
    )
    digest = golden_digest([hostile])
    html = render_html(digest, SETTINGS)
    assert "<script" not in html and "<b>bold" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt; Breaking &amp; &lt;b&gt;bold" in html
    assert "&lt;img src=x onerror=steal()&gt; text" in html
    assert not _handler_attributes(html)
    assert "javascript:" not in html  # a link that is not http(s) is shown as plain text
    markdown = render_markdown(digest, SETTINGS)
    assert r"\<script\>alert('x')\</script\> Breaking & \<b\>bold\</b\>" in markdown
    assert "javascript:" not in markdown and "javascript:" not in render_text(digest, SETTINGS)


def test_markup_is_applied_only_by_the_stored_html_helper() -> None:
    sources = [p.read_text() for p in PACKAGE.glob("*.py")]
    assert sum(s.count("Markup(") for s in sources) == 1
    assert "def stored_html(html: str) -> Markup:" in (PACKAGE / "render.py").read_text()
    for template in (PACKAGE / "templates").iterdir():
        text = template.read_text()
        assert not re.search(r"\|\s*safe\b", text) and "stored_html" not in text


def test_stored_html_passes_through_only_where_asked(tmp_path: Path) -> None:
    (tmp_path / "digest.html").write_text(
        "{% for item in digest.items %}[{{ item.entry.summary_html | stored_html }}]"
        "[{{ item.entry.summary_html }}]{% endfor %}"
    )
    entry = make_entry(9, HARBOR, "T", "2022-03-30 11:00", summary_html="<p>Clean <em>x</em></p>")
    html = render_html(golden_digest([entry]), replace(SETTINGS, templates=tmp_path))
    assert "[<p>Clean <em>x</em></p>]" in html
    assert "[&lt;p&gt;Clean &lt;em&gt;x&lt;/em&gt;&lt;/p&gt;]" in html


# Templates -----------------------------------------------------------------------------------


def test_template_folder_overrides_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "digest.txt").write_text("{{ subject }} for {{ digest.subscriber.email }}\n")
    settings = replace(SETTINGS, templates=tmp_path)
    assert render_text(golden_digest(), settings) == (
        "The Broadsheet — Thu 31 Mar 2022 for ann@example.org\n"
    )
    assert render_html(golden_digest(), settings) == render_html(golden_digest(), SETTINGS)


def test_undefined_name_in_a_template_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "digest.md").write_text("{{ digest.no_such_thing }}\n")
    with pytest.raises(RenderError, match=r"digest\.md with .*no_such_thing.*fix the template"):
        render_markdown(golden_digest(), replace(SETTINGS, templates=tmp_path))


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "digest.md").write_text("line one\n{% for %}\n")
    with pytest.raises(RenderError, match=r"template digest\.md in .* line 2: "):
        render_markdown(golden_digest(), replace(SETTINGS, templates=tmp_path))


# Text and Markdown ---------------------------------------------------------------------------


def test_text_is_wrapped_and_links_are_numbered() -> None:
    text = render_text(golden_digest(), SETTINGS)
    for line in text.splitlines():
        assert len(line) <= 72 or re.fullmatch(r"\[\d+\] \S+", line), line
    links = re.findall(r"^\[(\d+)\] (\S+)$", text, re.M)
    assert [int(n) for n, _ in links] == list(range(1, len(links) + 1))
    assert "https://harbortimes.example/world/2022/03/30/peace-offer" in dict(links).values()
    body = text.split("\nLinks\n")[0]
    assert all(f"[{n}]" in body for n, _ in links)


def test_empty_digest_renders_calmly() -> None:
    digest = golden_digest([])
    assert "Nothing new arrived" in render_text(digest, SETTINGS)
    assert "Nothing new arrived" in render_html(digest, SETTINGS)
    assert "Nothing new in this period." in render_markdown(digest, SETTINGS)


def test_excerpt_is_cut_at_a_word() -> None:
    text = "The written proposals were welcomed on Wednesday, though a spokesman said"
    assert excerpt(text, 200) == text
    assert excerpt(text, 30) == "The written proposals were…"
    assert excerpt(text, 0) == ""
    assert excerpt("  spaced \n out  ", 20) == "spaced out"
    assert excerpt("Unbreakablewordwithoutspaces", 10) == "Unbreakab…"  # the ellipsis counts


def test_markdown_escape() -> None:
    assert markdown_escape("a*b_c [d] <e> `f` \\ g|h") == r"a\*b\_c \[d\] \<e\> \`f\` \\ g\|h"
    assert markdown_escape("Markets & Energy") == "Markets & Energy"
    assert markdown_escape("&amp; stays text") == r"\&amp; stays text"
    assert markdown_escape("# not a heading") == r"\# not a heading"
    assert markdown_escape("2022. A year") == r"2022\. A year"


# Time zones ----------------------------------------------------------------------------------


def test_times_around_the_spring_change_in_berlin() -> None:
    assert when(utc("2022-03-27 00:30"), "Europe/Berlin") == "Sun 27 Mar, 01:30 CET"
    assert when(utc("2022-03-27 01:30"), "Europe/Berlin") == "Sun 27 Mar, 03:30 CEST"
    window = Window(utc("2022-03-26 06:00"), utc("2022-03-27 05:00"))
    digest = replace(golden_digest([]), window=window)
    assert period(digest) == "Sat 26 Mar, 07:00 CET – Sun 27 Mar, 07:00 CEST"


def test_times_around_the_autumn_change_in_new_york() -> None:
    assert when(utc("2022-11-06 05:30"), "America/New_York") == "Sun 6 Nov, 01:30 EDT"
    assert when(utc("2022-11-06 06:30"), "America/New_York") == "Sun 6 Nov, 01:30 EST"


def test_subscribers_east_and_west_of_utc_see_their_own_date() -> None:
    moment = utc("2022-03-30 17:42")
    assert when(moment, "Asia/Tokyo") == "Thu 31 Mar, 02:42 JST"
    assert when(moment, "America/Los_Angeles") == "Wed 30 Mar, 10:42 PDT"
    assert when(utc("2022-03-30 05:30"), "America/Los_Angeles") == "Tue 29 Mar, 22:30 PDT"
    assert day(utc("2022-03-30 23:30"), "Pacific/Auckland") == "Thu 31 Mar 2022"
    tokyo = golden_digest(timezone="Asia/Tokyo")
    assert "Thu 31 Mar, 02:20 JST" in render_text(tokyo, SETTINGS)  # the peace offer
    assert subject(tokyo) == "The Broadsheet — Thu 31 Mar 2022"
    los_angeles = golden_digest(timezone="America/Los_Angeles")
    assert subject(los_angeles) == "The Broadsheet — Wed 30 Mar 2022"
    assert period(los_angeles) == "Tue 29 Mar, 22:00 – Wed 30 Mar, 22:00 PDT"


def test_dates_of_other_years_show_the_year() -> None:
    now = utc("2022-03-31 05:00")
    assert when(utc("2021-12-30 15:00"), "Europe/Berlin", now) == "Thu 30 Dec 2021, 16:00 CET"
    assert when(utc("2022-03-30 15:00"), "Europe/Berlin", now) == "Wed 30 Mar, 17:00 CEST"
    assert when(utc("2023-01-02 09:00"), "Europe/Berlin", now) == "Mon 2 Jan 2023, 10:00 CET"
    # the year is the subscriber's: New Year in Berlin, still the old year in New York
    new_year = utc("2021-12-31 23:30")
    assert when(new_year, "Europe/Berlin", now) == "Sat 1 Jan, 00:30 CET"
    assert when(new_year, "America/New_York", now) == "Fri 31 Dec 2021, 18:30 EST"


def test_stories_from_last_year_show_the_year_in_every_format() -> None:
    old = make_entry(
        20, HARBOR, "Year in review: the harbour", "2021-12-30 15:00", excerpt="Looking back."
    )
    digest = golden_digest([*golden_entries(), old])
    for render in (render_html, render_text, render_markdown):
        rendered = render(digest, SETTINGS)
        assert "Thu 30 Dec 2021, 16:00 CET" in rendered, render.__name__
        assert "Wed 30 Mar, 19:20 CEST" in rendered  # this year's stories: no year


def test_period_names_years_when_they_differ() -> None:
    window = Window(utc("2021-12-31 06:00"), utc("2022-01-01 06:00"))
    digest = replace(golden_digest([]), window=window)
    assert period(digest) == "Fri 31 Dec 2021, 07:00 – Sat 1 Jan 2022, 07:00 CET"


# Grouping ------------------------------------------------------------------------------------


def test_groups_follow_the_subscribers_tag_order_then_alphabet_then_other() -> None:
    untagged = ("https://plain.example/rss", "Plain Feed", ())
    entries = [
        *golden_entries(),
        make_entry(20, untagged, "Lighthouse keeper retires", "2022-03-30 08:00"),
    ]
    digest = golden_digest(
        entries, tags=("Business", "world"), feeds=(untagged[0],), order="by_tag"
    )
    assert [g.name for g in digest.groups] == ["Business", "world", OTHER]
    alphabetical = golden_digest(entries, tags=(), feeds=(), order="by_tag")
    assert [g.name for g in alphabetical.groups] == ["business", "world", OTHER]


def test_feed_goes_to_the_first_chosen_tag_it_carries() -> None:
    digest = golden_digest(tags=("europe", "world"), feeds=(), order="by_tag")
    assert [g.name for g in digest.groups] == ["europe", "world"]
    assert [s.feed_title for s in digest.groups[0].sections] == ["Northwind Wire"]


def test_items_newest_first_with_stable_ties_when_nothing_else_differs() -> None:
    entries = [
        make_entry(31, HARBOR, "Alpha story one here", "2022-03-30 10:00"),
        make_entry(30, HARBOR, "Beta story two here", "2022-03-30 10:00"),
        make_entry(32, HARBOR, "Gamma story three here", "2022-03-30 12:00"),
    ]
    digest = golden_digest(entries)
    assert [i.entry.id for i in digest.items] == [32, 30, 31]
    reversed_digest = golden_digest(entries[::-1])
    assert reversed_digest == digest


def test_group_without_items_is_empty() -> None:
    assert group([], golden_subscriber()) == ()


# Footer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "cron", "words"),
    [
        ("daily 07:00", "0 7 * * *", "every day at 07:00"),
        ("weekly mon 6:30", "30 6 * * mon", "every Monday at 06:30"),
        ("0 7 * * 0", "0 7 * * 0", "every Sunday at 07:00"),
        ("0 7 * * 1-5", "0 7 * * 1-5", "on the schedule “0 7 * * 1-5”"),
    ],
)
def test_footer_says_why_and_when(schedule: str, cron: str, words: str) -> None:
    assert f"{words} (Europe/Berlin time)" in reason(golden_digest(schedule=schedule, cron=cron))


def test_footer_names_what_is_followed() -> None:
    assert "to the tag “world” and the feed “Quayside Ledger”," in reason(golden_digest())
    everything = golden_digest(tags=(), feeds=())
    assert "ann@example.org is subscribed to all feeds," in reason(everything)
    unknown = golden_digest(tags=("a", "b", "c"), feeds=("https://gone.example/rss",))
    assert "the tags “a”, “b” and “c” and the feed “https://gone.example/rss”" in reason(unknown)


def test_web_url_allows_only_http_and_https() -> None:
    assert web_url(" https://a.example/x ") == "https://a.example/x"
    assert web_url("HTTP://a.example") == "HTTP://a.example"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "mailto:a@b",
        "//a.example",
        None,
        "",
        "http://[::1",
    ):
        assert web_url(bad) == ""
