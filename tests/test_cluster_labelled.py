"""Story grouping measured on invented news: rewrites grouped, other stories never."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cluster_sets import MOMENT, entry, labelled, scores

from digests.cluster import MAX_APART, cluster, same_story
from digests.quantities import quantity_terms
from digests.story_words import names


def test_the_labelled_set_is_grouped_without_a_wrong_merge() -> None:
    entries, stories = labelled("labelled")
    assert len(entries) >= 80
    result = scores(cluster(entries).items, stories)
    assert result.precision == 1.0, f"{result.wrong} pairs of different stories grouped"
    assert result.recall >= 0.8


def test_the_held_out_set_is_grouped_without_a_wrong_merge() -> None:
    # Written after the rule was tuned: its recall (0.67 when written) is reported by
    # bench/cluster.py; a wrong merge here is what the rule must never do.
    entries, stories = labelled("heldout")
    result = scores(cluster(entries).items, stories)
    assert result.precision == 1.0, f"{result.wrong} pairs of different stories grouped"
    assert result.recall > 0


def test_a_complete_rewrite_is_one_story() -> None:
    a = entry(
        1,
        "Coast",
        "Storm cuts power to 40,000 homes along the coast",
        "Storm Imogen brought down lines overnight, leaving 40,000 homes without power, "
        "Westgrid said.",
    )
    b = entry(
        2,
        "Gazette",
        "Tens of thousands left without electricity as gale batters seaside towns",
        "Some forty thousand households woke up without electricity after Storm Imogen tore "
        "through overnight, Westgrid said.",
    )
    other = entry(
        3,
        "Ledger",
        "Utility to bury coastal power lines after last winter's outages",
        "Westgrid will move 300 miles of overhead lines underground after storms left homes "
        "without power for days.",
    )
    assert same_story(a, b)
    assert not same_story(a, other) and not same_story(b, other)


def test_entries_published_far_apart_are_two_stories() -> None:
    title, lead = "Train drivers to strike on Friday", "Drivers at 14 rail companies walk out."
    a = entry(1, "Harbor", title, lead)
    b = entry(2, "Quayside", title, lead, minutes=10)
    later = entry(3, "Quayside", title, lead, published=MOMENT + MAX_APART + timedelta(hours=1))
    assert same_story(a, b)
    assert not same_story(a, later)


def test_the_article_text_stands_for_a_thin_excerpt() -> None:
    text = (
        "More than 80 firefighters were called to the Oakridge furniture warehouse in Dunmore "
        "on Tuesday afternoon, and people nearby were told to keep their windows closed."
    )
    thin = entry(1, "Gazette", "Blaze destroys furniture warehouse", "Firefighters battled on.")
    full = entry(2, "Gazette", thin.title, thin.excerpt, full_text=text)
    other = entry(
        3,
        "Wire",
        "Huge fire at Dunmore warehouse sends smoke over town",
        "Eighty firefighters tackled a blaze at the Oakridge furniture warehouse in Dunmore, "
        "with people nearby told to keep their windows shut.",
    )
    assert not same_story(thin, other)
    assert same_story(full, other)


@pytest.mark.parametrize(
    ("digits", "words"),
    [
        ("40,000 homes", "forty thousand homes"),
        ("40k homes", "some forty thousand homes"),
        ("£250,000 in bribes", "a quarter of a million pounds"),
        ("5.25% on Tuesday", "5.25 per cent"),
        ("$9.1bn", "9.1 billion dollars"),
        ("240 cases", "two hundred and forty cases"),
        ("a majority of 12,013", "a majority of twelve thousand"),
        ("on 4 July", "on July 4th"),
        ("7.4m", "7.4 million"),
    ],
)
def test_figures_written_in_digits_and_words_agree(digits: str, words: str) -> None:
    assert set(quantity_terms(digits)) & set(quantity_terms(words))


def test_vague_amounts_meet_figures_by_magnitude_only() -> None:
    assert set(quantity_terms("tens of thousands")) == {"#~e4"}
    assert "#~e4" in quantity_terms("40,000")
    assert quantity_terms("two goals in six years") == []  # small numbers are everywhere


def test_names_are_capitals_where_no_sentence_starts() -> None:
    lead = "Judge Miriam Hale told Mr Dolan that he had betrayed voters. He will serve three years."
    assert names(lead) == {"miriam", "hale", "dolan"}
    assert names("Capital Welcomes Rival's Written Offer", title=True) == frozenset()
    assert names("Dolan sentenced for bribes in Fenwick", title=True) == {"fenwick"}


def test_a_word_or_two_in_common_is_never_enough() -> None:
    a = entry(1, "Harbor", "Story 0", "The lead of Story 0.")
    b = entry(2, "Quayside", "Story 1", "The lead of Story 1.")
    assert not same_story(a, b)
